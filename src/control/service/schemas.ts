// Inputs of the control service, validated with zod. The CLI passes what the user typed ("10M",
// "30d", "2027-01-01") and the REST API passes JSON, where numbers are accepted too; both end here,
// so the rules exist once. The REST layer can derive its OpenAPI document from these schemas
// (z.toJSONSchema).
import { z } from 'zod';
import { isReservedLogin } from '../../auth/username-params.js';
import { FerryError } from '../../core/errors.js';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * "10M", "1.5G", "512k", "100GiB", "10MB" → bytes. Multiples are binary (M = 2^20), as in curl's
 * --limit-rate; a plain number is bytes. "unlimited"/"none"/null → null.
 */
export function parseSize(v: number | string | null): number | null {
  if (v === null) return null;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${v} is not a byte count`);
    return v;
  }
  const s = v.trim().toLowerCase();
  if (s === 'unlimited' || s === 'none') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?$/.exec(s);
  if (!m) throw new Error(`'${v}' is not a size (e.g. 500k, 10M, 100G, unlimited)`);
  const n = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (!Number.isSafeInteger(n)) throw new Error(`'${v}' is too large`);
  return n;
}

const DURATION_UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * An expiry: null or "never"; a duration from now ("30d", "12h", "1y"); an ISO 8601 date or time
 * ("2027-01-01" is midnight UTC); or ms since the epoch. Returns ms since the epoch or null.
 */
export function resolveExpiry(v: number | string | null | undefined, now: number): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  const s = v.trim();
  if (s === 'never' || s === 'none') return null;
  const d = /^(\d+)\s*([smhdwy])$/.exec(s);
  if (d) return now + Number(d[1]) * DURATION_UNITS[d[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) {
    // A date or a time without a zone is read as UTC, so the result does not depend on the host.
    const iso = s.length === 10 ? `${s}T00:00:00Z` : /Z|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s}Z`;
    const t = Date.parse(iso.replace(' ', 'T'));
    if (Number.isFinite(t)) return t;
  }
  throw new Error(`'${v}' is not an expiry (e.g. 30d, 2027-01-01, 2027-01-01T12:00:00Z, never)`);
}

function checked<T extends z.ZodTypeAny>(schema: T, fn: (v: z.output<T>) => unknown) {
  return schema.superRefine((v, ctx) => {
    try {
      fn(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });
}

/** User and credential names: usable as proxy login names (no ":" or spaces, ≤ 64 characters). */
export const nameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$/,
    'letters, digits and "_ . @ + -", at most 64, not starting with a symbol',
  )
  .refine((n) => !isReservedLogin(n), {
    message: 'would be read as a name with exit parameters (e.g. "x-country-us"); choose another',
  });

export const tierNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits and "_ . -", at most 64');

/** A password the admin chose: SOCKS5 carries at most 255 bytes (RFC 1929 §2). */
export const passwordSchema = z
  .string()
  .min(8, 'at least 8 characters')
  .refine((p) => Buffer.byteLength(p) <= 255, 'at most 255 bytes (the SOCKS5 limit)');

export const expirySchema = checked(z.union([z.null(), z.number().int().nonnegative(), z.string()]), (v) =>
  resolveExpiry(v, 0),
).optional();

const sizeSchema = checked(
  z.union([z.null(), z.number().int().nonnegative(), z.string()]),
  parseSize,
).optional();
const countSchema = z.union([z.null(), z.number().int().min(0).max(1_000_000)]).optional();
export const roleSchema = z.enum(['admin', 'member']);
export const scopeSchema = z.enum(['admin', 'read', 'self']);
export const inboundKindSchema = z.enum(['proxy', 'vpn', 'encrypted']);
/** A list, or null / "all" for no restriction. */
const allOr = <T extends z.ZodTypeAny>(item: T) =>
  z.union([z.null(), z.literal('all'), z.array(item).max(256)]).optional();

export const userAddSchema = z
  .object({
    name: nameSchema,
    role: roleSchema.optional(),
    tier: tierNameSchema.nullable().optional(),
    expires: expirySchema,
    /** The proxy password; generated when absent (the usual case). */
    password: passwordSchema.optional(),
    /** API/console login password (optional; tokens work without it). */
    loginPassword: passwordSchema.optional(),
  })
  .strict();

export const userUpdateSchema = z
  .object({
    role: roleSchema.optional(),
    tier: tierNameSchema.nullable().optional(),
    expires: expirySchema,
    enabled: z.boolean().optional(),
  })
  .strict();

export const passwdSchema = z.object({ password: passwordSchema.optional() }).strict();
export const loginPasswordSchema = z.object({ password: passwordSchema }).strict();

export const credentialAddSchema = z
  .object({ user: nameSchema, username: nameSchema.optional(), password: passwordSchema.optional() })
  .strict();

export const tokenCreateSchema = z
  .object({
    user: nameSchema,
    name: z.string().min(1).max(64).optional(),
    scope: scopeSchema,
    /** Default 90 days; "never" must be asked for. */
    expires: expirySchema,
  })
  .strict();

export const tierFields = {
  up: sizeSchema,
  down: sizeSchema,
  quota: sizeSchema,
  period: z.enum(['month', 'rolling30']).optional(),
  maxDevices: countSchema,
  maxConnections: countSchema,
  inbounds: allOr(inboundKindSchema),
  exits: allOr(z.string().min(1).max(64)),
  expires: expirySchema,
};
export const tierCreateSchema = z.object({ name: tierNameSchema, ...tierFields }).strict();
export const tierUpdateSchema = z.object(tierFields).strict();

export const peerAddSchema = z
  .object({
    user: nameSchema,
    name: tierNameSchema,
    /** Curve25519 public key, base64 (32 bytes). */
    publicKey: z
      .string()
      .regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, 'a WireGuard public key (base64 of 32 bytes)'),
    presharedKey: z
      .string()
      .regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, 'a WireGuard preshared key (base64 of 32 bytes)')
      .nullable()
      .optional(),
    addressV4: z.ipv4().nullable().optional(),
    addressV6: z.ipv6().nullable().optional(),
    /**
     * Allocate the lowest free tunnel addresses from these prefixes (the VPN server's pool) in the
     * same transaction as the insert, for the families not given above. The first host address of
     * each prefix is the server's and is never allocated.
     */
    allocate: z
      .object({ v4: z.cidrv4().nullable().optional(), v6: z.cidrv6().nullable().optional() })
      .strict()
      .optional(),
  })
  .strict();

const wgKey = (what: string) =>
  z.string().regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, `a WireGuard ${what} (base64 of 32 bytes)`);

/** New keys for an existing device; its addresses stay. */
export const peerRotateSchema = z
  .object({
    publicKey: wgKey('public key'),
    presharedKey: wgKey('preshared key').nullable().optional(),
  })
  .strict();

export const auditListSchema = z
  .object({
    /** Events at or after this time (an ISO time, ms, or a duration ago such as "7d"). */
    since: z.union([z.number().int().nonnegative(), z.string()]).optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  })
  .strict();

/** Parses `input` or throws E_INVALID naming the first offending field. */
export function parseInput<T extends z.ZodTypeAny>(schema: T, input: unknown, what: string): z.output<T> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw new FerryError('E_INVALID', `${what}: ${path}${issue.message}`);
}

export type UserAddInput = z.input<typeof userAddSchema>;
export type UserUpdateInput = z.input<typeof userUpdateSchema>;
export type PasswdInput = z.input<typeof passwdSchema>;
export type LoginPasswordInput = z.input<typeof loginPasswordSchema>;
export type CredentialAddInput = z.input<typeof credentialAddSchema>;
export type TokenCreateInput = z.input<typeof tokenCreateSchema>;
export type TierCreateInput = z.input<typeof tierCreateSchema>;
export type TierUpdateInput = z.input<typeof tierUpdateSchema>;
export type PeerAddInput = z.input<typeof peerAddSchema>;
export type PeerRotateInput = z.input<typeof peerRotateSchema>;
export type AuditListInput = z.input<typeof auditListSchema>;

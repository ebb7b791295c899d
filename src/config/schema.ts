// The configuration file's schema (zod). Snake_case keys as in the YAML file; `loadConfig` turns a
// validated file into the runtime form (durations in ms, parsed addresses).
import { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { parseDomainPattern } from '../net/domain-match.js';
import { parsePortRange } from '../router/port-range.js';
import { parseDurationMs } from './duration.js';
import { isLoopbackHost, parseListen } from './listen-address.js';
import { METHOD_NAMES } from '../crypto/ss/methods.js';
import { isReservedLogin } from '../auth/username-params.js';
import { storeConfigSchema } from '../control/open-store.js';
import { vpnConfigSchema } from '../vpn/config.js';

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a name of letters, digits, "_", "." and "-" (max 63)');

const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  try {
    return parseDurationMs(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

function checked<T>(fn: (s: string) => T) {
  return z.string().superRefine((s, ctx) => {
    try {
      fn(s);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });
}

const cidrOrDomain = z.string().superRefine((s, ctx) => {
  try {
    parseCidr(s);
    return;
  } catch {
    /* not a CIDR: try a domain pattern */
  }
  try {
    parseDomainPattern(s);
  } catch (e) {
    ctx.addIssue({
      code: 'custom',
      message: `'${s}' is neither a CIDR nor a domain pattern: ${(e as Error).message}`,
    });
  }
});

export const userSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[^:\s]+$/, 'no ":" or whitespace (it separates name and password)'),
    password: z.string().min(1).optional(),
    password_hash: z
      .string()
      .regex(/^scrypt\$/, 'a hash from `ferry passwd-hash`')
      .optional(),
    /** Shadowsocks key of this user: a password (AEAD methods) or a base64 PSK (2022 methods). */
    ss_password: z.string().min(1).optional(),
    enabled: z.boolean().default(true),
  })
  .strict()
  .refine((u) => (u.password === undefined) !== (u.password_hash === undefined), {
    message: 'give exactly one of password_hash (preferred) or password',
  })
  .refine((u) => !isReservedLogin(u.name), {
    message:
      'a user name may not end in "-<key>-<value>" pairs with key country/region/city/state/provider/session/sesstime: logins use them for exit parameters',
  });

export const inboundSchema = z
  .object({
    name,
    type: z.enum(['http', 'https', 'socks', 'mixed', 'shadowsocks']),
    listen: checked(parseListen),
    /** Require credentials. Default: true when users exist. */
    auth: z.boolean().optional(),
    /** Allow a listener on a non-loopback address without authentication. */
    allow_open: z.boolean().default(false),
    tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
    http: z
      .object({ via: z.boolean().default(false), x_forwarded_for: z.boolean().default(false) })
      .strict()
      .default({ via: false, x_forwarded_for: false }),
    /** type shadowsocks: method and server password/PSK (users add their own with ss_password). */
    shadowsocks: z
      .object({
        method: z.enum(METHOD_NAMES as [string, ...string[]]),
        password: z.string().min(1).optional(),
        udp: z.boolean().default(true),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((i) => (i.type === 'shadowsocks') === (i.shadowsocks !== undefined), {
    message:
      'a shadowsocks inbound needs a `shadowsocks: { method, password }` block (and only it may have one)',
  });

// ---- exits (docs/exits.md): upstream proxies, source-address rotation, pools ----

/** Tag keys and values as login parameters carry them (values compared in lower case). */
const tagToken = z.string().regex(/^[A-Za-z0-9_.]{1,64}$/, 'letters, digits, "_" and "." (no "-")');
const tags = z.record(tagToken, tagToken).transform((t) => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(t)) out[k.toLowerCase()] = v.toLowerCase();
  return out;
});

const upstreamOutbound = <T extends 'http' | 'https' | 'socks4a' | 'socks5'>(type: T) =>
  z
    .object({
      name,
      type: z.literal(type),
      /** host:port of the upstream proxy. */
      server: checked(parseListen),
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      /** Reach the upstream through another outbound (multi-hop chains). */
      via: name.optional(),
      /** https: verify the proxy's certificate for server_name against ca (PEM file) or the system CAs. */
      tls: z
        .object({
          server_name: z.string().optional(),
          ca: z.string().optional(),
          insecure: z.boolean().default(false),
        })
        .strict()
        .optional(),
      /** remote: destination names are resolved by the upstream (default); local: here. */
      dns: z.enum(['remote', 'local']).default('remote'),
      /** http/https: forward plain-HTTP requests to the upstream in absolute-form (not CONNECT). */
      forward_http: z.boolean().default(true),
    })
    .strict();

const poolMember = z.union([
  name.transform((n) => ({ outbound: n, tags: {} as Record<string, string>, weight: 1 })),
  z
    .object({ outbound: name, tags: tags.default({}), weight: z.number().int().min(1).max(1000).default(1) })
    .strict(),
]);

const poolOutbound = z
  .object({
    name,
    type: z.literal('pool'),
    members: z.array(poolMember).min(1, 'a pool needs members'),
    strategy: z
      .enum(['round-robin', 'random', 'least-connections', 'weighted', 'hash'])
      .default('round-robin'),
    rotation: z.enum(['connection', 'request', 'interval']).default('connection'),
    rotation_interval: duration.default(60_000),
    sticky: z
      .object({
        /** Idle lifetime of a sticky session whose login gives no sesstime. */
        ttl: duration.default(600_000),
        /** What one unit of "sesstime-N" is (default 1 minute). */
        sesstime_unit: duration.default(60_000),
        max_ttl: duration.default(86_400_000),
      })
      .strict()
      .default({ ttl: 600_000, sesstime_unit: 60_000, max_ttl: 86_400_000 }),
    /** Exits tried per connection (first try plus retries on other members). */
    max_attempts: z.number().int().min(1).max(16).default(4),
    attempt_timeout: duration.default(5_000),
    health: z
      .object({
        max_fails: z.number().int().min(1).default(3),
        eject: duration.default(30_000),
        /** Active probe: "tcp" (the member's proxy port), "tcp://host:port" or "http://host/path". */
        probe: z.string().optional(),
        interval: duration.default(10_000),
        timeout: duration.default(5_000),
      })
      .strict()
      .default({ max_fails: 3, eject: 30_000, interval: 10_000, timeout: 5_000 }),
  })
  .strict();

export const outboundSchema = z.discriminatedUnion('type', [
  z
    .object({
      name,
      type: z.literal('direct'),
      bind: z.array(z.string()).optional(),
      interface: z.string().optional(),
      /** Rotate the source address over these local addresses. */
      source_addresses: z.array(z.string()).min(1).optional(),
      /** Bind a random address of this IPv6 prefix (routed to this host) per connection. */
      ipv6_prefix: z.string().optional(),
      /** Set net.ipv6.ip_nonlocal_bind=1 and a local route for ipv6_prefix at start. */
      ipv6_prefix_setup: z.boolean().optional(),
      /** With source_addresses/ipv6_prefix: per connection (default) or per HTTP request. */
      rotation: z.enum(['connection', 'request']).optional(),
    })
    .strict(),
  upstreamOutbound('http'),
  upstreamOutbound('https'),
  upstreamOutbound('socks4a'),
  upstreamOutbound('socks5'),
  poolOutbound,
  z.object({ name, type: z.literal('reject'), reason: z.string().optional() }).strict(),
  z
    .object({
      name,
      type: z.literal('shadowsocks'),
      /** host:port of the Shadowsocks server. */
      server: z.string(),
      method: z.enum(METHOD_NAMES as [string, ...string[]]),
      /** AEAD: password; 2022: base64 PSK, or iPSK:uPSK for a multi-user server. */
      password: z.string().min(1),
    })
    .strict(),
]);

export const ruleSchema = z
  .object({
    name: z.string().optional(),
    users: z.array(z.string()).optional(),
    inbounds: z.array(z.string()).optional(),
    domains: z.array(checked(parseDomainPattern)).optional(),
    cidrs: z.array(checked(parseCidr)).optional(),
    ports: z.array(z.union([z.number().int(), checked(parsePortRange)])).optional(),
    action: z.string(),
    reason: z.string().optional(),
    allow_private: z.boolean().default(false),
  })
  .strict();

/**
 * The admin REST API and /metrics listener (docs/api.md). Absent: no listener. Loopback by default;
 * any other address must have TLS, because bearer tokens would otherwise cross the network in clear.
 */
export const apiSchema = z
  .object({
    listen: checked(parseListen).default('127.0.0.1:9090'),
    tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
    /** Serve /metrics without a token (only allowed on a loopback listener). */
    metrics_public: z.boolean().default(false),
  })
  .strict()
  .superRefine((a, ctx) => {
    let loopback: boolean;
    try {
      loopback = isLoopbackHost(parseListen(a.listen).host);
    } catch {
      return; // listen itself reports the error
    }
    if (!loopback && !a.tls)
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: `listen ${a.listen} is not a loopback address: give tls: { cert, key } (tokens must not cross the network in clear)`,
      });
    if (!loopback && a.metrics_public)
      ctx.addIssue({
        code: 'custom',
        path: ['metrics_public'],
        message: 'metrics_public is only allowed on a loopback listener; scrapers elsewhere use a read token',
      });
  });

const DEFAULT_RETENTION_MS = 30 * 86_400_000;

export const PRIVACY_MODES = ['none', 'minimal', 'audit'] as const;

/**
 * What is recorded about connections (docs/management.md, "Privacy modes"). A bare mode, or the mode
 * with how long audit records are kept.
 */
export const loggingSchema = z.union([
  z.enum(PRIVACY_MODES).transform((mode) => ({ mode, retention: DEFAULT_RETENTION_MS })),
  z
    .object({
      mode: z.enum(PRIVACY_MODES).default('minimal'),
      /** audit mode: connection records older than this are deleted (checked at start and hourly). */
      retention: duration.default(DEFAULT_RETENTION_MS),
    })
    .strict(),
]);

export const configSchema = z
  .object({
    data_dir: z.string().optional(),
    /** Worker processes sharing the listeners (node:cluster); "auto" = one per CPU. */
    workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Older spelling of `logging:` (off = minimal, audit = audit); both may not disagree. */
        access_log: z.enum(['off', 'audit']).optional(),
      })
      .strict()
      .default({ level: 'info' }),
    logging: loggingSchema.optional(),
    /** The management store (users, tiers, usage, audit); default SQLite <data_dir>/ferry.db. */
    store: storeConfigSchema.optional(),
    api: apiSchema.optional(),
    /** WireGuard server role (src/vpn/server.ts); absent = no VPN. */
    vpn: vpnConfigSchema.optional(),
    users: z.array(userSchema).default([]),
    inbounds: z.array(inboundSchema).default([]),
    outbounds: z.array(outboundSchema).default([{ name: 'direct', type: 'direct' }]),
    router: z
      .object({
        default: z.string().default('direct'),
        allow_destinations: z.array(cidrOrDomain).default([]),
        rules: z.array(ruleSchema).default([]),
      })
      .strict()
      .default({ default: 'direct', allow_destinations: [], rules: [] }),
    timeouts: z
      .object({
        handshake: duration.default(10_000),
        connect: duration.default(10_000),
        idle: duration.default(300_000),
      })
      .strict()
      .default({ handshake: 10_000, connect: 10_000, idle: 300_000 }),
    limits: z
      .object({
        max_header_bytes: z
          .number()
          .int()
          .min(1024)
          .max(1 << 20)
          .default(65536),
        max_connections: z.number().int().min(1).default(20_000),
        max_connections_per_user: z.number().int().min(1).default(2_000),
        auth_failures_per_minute: z.number().int().min(1).default(10),
      })
      .strict()
      .default({
        max_header_bytes: 65536,
        max_connections: 20_000,
        max_connections_per_user: 2_000,
        auth_failures_per_minute: 10,
      }),
  })
  .strict()
  .superRefine((c, ctx) => {
    // A VPN-only server is a whole server; anything else with no listener would do nothing.
    if (c.inbounds.length === 0 && !c.vpn)
      ctx.addIssue({
        code: 'custom',
        path: ['inbounds'],
        message: 'at least one inbound (or a vpn: section) is needed',
      });
    const legacy = c.log.access_log;
    if (legacy === undefined || c.logging === undefined) return;
    if ((legacy === 'audit') !== (c.logging.mode === 'audit'))
      ctx.addIssue({
        code: 'custom',
        path: ['log', 'access_log'],
        message: `disagrees with logging: ${c.logging.mode}; drop log.access_log (logging: replaces it)`,
      });
  });

export type ConfigInput = z.input<typeof configSchema>;
export type PrivacyMode = (typeof PRIVACY_MODES)[number];

/** The effective privacy mode and audit retention, from `logging:` or the older `log.access_log`. */
export function privacyOf(c: Config): { mode: PrivacyMode; retentionMs: number } {
  if (c.logging) return { mode: c.logging.mode, retentionMs: c.logging.retention };
  return { mode: c.log.access_log === 'audit' ? 'audit' : 'minimal', retentionMs: DEFAULT_RETENTION_MS };
}
export type Config = z.output<typeof configSchema>;
export type InboundConfig = Config['inbounds'][number];
export type OutboundConfig = Config['outbounds'][number];

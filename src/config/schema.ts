// The configuration file's schema (zod). Snake_case keys as in the YAML file; `loadConfig` turns a
// validated file into the runtime form (durations in ms, parsed addresses).
import { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { parseDomainPattern } from '../net/domain-match.js';
import { parsePortRange } from '../router/port-range.js';
import { parseDurationMs } from './duration.js';
import { parseListen } from './listen-address.js';
import { METHOD_NAMES } from '../crypto/ss/methods.js';

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

export const outboundSchema = z.discriminatedUnion('type', [
  z
    .object({
      name,
      type: z.literal('direct'),
      bind: z.array(z.string()).optional(),
      interface: z.string().optional(),
    })
    .strict(),
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

export const configSchema = z
  .object({
    data_dir: z.string().optional(),
    /** Worker processes sharing the listeners (node:cluster); "auto" = one per CPU. */
    workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        access_log: z.enum(['off', 'audit']).default('off'),
      })
      .strict()
      .default({ level: 'info', access_log: 'off' }),
    users: z.array(userSchema).default([]),
    inbounds: z.array(inboundSchema).min(1, 'at least one inbound is needed'),
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
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type InboundConfig = Config['inbounds'][number];
export type OutboundConfig = Config['outbounds'][number];

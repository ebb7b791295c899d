// The REST API's response bodies as zod schemas, for the OpenAPI document. The service returns
// TypeScript views (service/views.ts); the type assertions at the bottom fail the build when a view
// and its schema drift apart, so the document cannot describe fields the service does not send.
import { z } from 'zod';
import type {
  AuditView,
  CredentialSecret,
  CredentialView,
  PeerView,
  TierView,
  TokenCreated,
  TokenView,
  UsageReport,
  UserAdded,
  UserDetail,
  UserView,
} from '../service/views.js';
import type { SessionView } from './live.js';

const isoTime = z.iso.datetime({ offset: true });
const isoOrNull = isoTime.nullable();
const role = z.enum(['admin', 'member']);
const scope = z.enum(['admin', 'read', 'self']);
const period = z.enum(['month', 'rolling30']);
const bytesOrNull = z.number().int().nonnegative().nullable();

export const userViewSchema = z.object({
  name: z.string(),
  role: role.nullable().describe('null for a user defined in the configuration file'),
  enabled: z.boolean(),
  expiresAt: isoOrNull,
  tier: z.string().nullable(),
  source: z.enum(['store', 'config']).describe('"config": defined in the configuration file, read-only here'),
  createdAt: isoOrNull,
  updatedAt: isoOrNull,
});

export const credentialViewSchema = z.object({ user: z.string(), username: z.string(), createdAt: isoTime });

export const credentialSecretSchema = z
  .object({ user: z.string(), username: z.string(), password: z.string() })
  .describe('A proxy login with its password; the password is shown only in this response');

export const shadowsocksKeySchema = z
  .object({ user: z.string(), key: z.string().nullable() })
  .describe("A user's Shadowsocks key (a secret), or null when the user has none");

export const tokenViewSchema = z.object({
  id: z.number().int(),
  user: z.string(),
  name: z.string(),
  scopes: z.array(scope),
  expiresAt: isoOrNull,
  createdAt: isoTime,
  lastUsedAt: isoOrNull,
});

export const tokenCreatedSchema = z
  .object({ token: tokenViewSchema, secret: z.string() })
  .describe('The secret is shown only in this response; only its SHA-256 is stored');

export const tierViewSchema = z.object({
  name: z.string(),
  up: bytesOrNull.describe('bytes per second; null = unlimited'),
  down: bytesOrNull.describe('bytes per second; null = unlimited'),
  quota: bytesOrNull.describe('bytes per period, up + down; null = unlimited'),
  period,
  maxDevices: z.number().int().nullable(),
  maxConnections: z.number().int().nullable(),
  inbounds: z.array(z.enum(['proxy', 'vpn', 'encrypted'])).nullable(),
  exits: z.array(z.string()).nullable(),
  expiresAt: isoOrNull,
});

export const tierDetailSchema = tierViewSchema.extend({ users: z.array(z.string()) });

export const peerViewSchema = z.object({
  id: z.number().int(),
  user: z.string(),
  name: z.string(),
  publicKey: z.string(),
  addressV4: z.string().nullable(),
  addressV6: z.string().nullable(),
  createdAt: isoTime,
});

export const usageReportSchema = z.object({
  user: z.string(),
  tier: z.string().nullable(),
  period,
  periodStart: isoTime,
  bytesUp: z.number().int().nonnegative(),
  bytesDown: z.number().int().nonnegative(),
  bytesTotal: z.number().int().nonnegative(),
  quota: bytesOrNull,
  remaining: bytesOrNull,
});

export const userDetailSchema = userViewSchema.extend({
  credentials: z.array(credentialViewSchema),
  devices: z.array(peerViewSchema),
  tokens: z.array(tokenViewSchema),
  usage: usageReportSchema.nullable(),
});

export const userAddedSchema = z.object({ user: userViewSchema, credential: credentialSecretSchema });

export const auditViewSchema = z.object({
  id: z.number().int(),
  at: isoTime,
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
});

export const userExportSchema = z
  .record(z.string(), z.unknown())
  .describe('Everything stored about the user (format "ferry-user-export/1")');

export const sessionViewSchema = z.object({
  id: z.string(),
  user: z.string().nullable(),
  inbound: z.string(),
  outbound: z.string().optional(),
  source: z.string().optional().describe('absent in logging mode none'),
  destination: z.string().optional().describe('absent in logging mode none'),
  startedAt: isoTime.optional().describe('absent in logging mode none'),
  bytesUp: z.number().int().nonnegative(),
  bytesDown: z.number().int().nonnegative(),
});

export const connectionRecordSchema = z.object({
  at: isoTime,
  user: z.string().nullable(),
  inbound: z.string(),
  source: z.string(),
  destination: z.string(),
  bytesUp: z.number().int().nonnegative(),
  bytesDown: z.number().int().nonnegative(),
  durationMs: z.number().int().nonnegative(),
  decision: z.string(),
});

export const statusSchema = z
  .object({
    version: z.string(),
    uptimeSeconds: z.number().nonnegative(),
    store: z.object({ backend: z.enum(['sqlite', 'postgres']), schemaVersion: z.number().int() }),
    sessions: z.boolean().describe('whether live session management is available'),
  })
  .catchall(z.unknown())
  .describe('Fields from the gateway (listeners, workers, ...) are added next to these');

export const killedSchema = z.object({ killed: z.number().int().nonnegative() });

export const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('a stable error code, e.g. E_NOT_FOUND (docs/errors.md)'),
    message: z.string(),
  }),
});

// ---- the views and their schemas must agree (checked by the compiler, not at run time)

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** For intersections, which Equal tells apart from the flattened object though they are the same. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;

export type ViewSchemaChecks = [
  Assert<Equal<z.output<typeof userViewSchema>, UserView>>,
  Assert<Equal<z.output<typeof credentialViewSchema>, CredentialView>>,
  Assert<Equal<z.output<typeof credentialSecretSchema>, CredentialSecret>>,
  Assert<Equal<z.output<typeof tokenViewSchema>, TokenView>>,
  Assert<Equal<z.output<typeof tokenCreatedSchema>, TokenCreated>>,
  Assert<Equal<z.output<typeof tierViewSchema>, TierView>>,
  Assert<Mutual<z.output<typeof tierDetailSchema>, TierView & { users: string[] }>>,
  Assert<Equal<z.output<typeof peerViewSchema>, PeerView>>,
  Assert<Equal<z.output<typeof usageReportSchema>, UsageReport>>,
  Assert<Equal<z.output<typeof userDetailSchema>, UserDetail>>,
  Assert<Equal<z.output<typeof userAddedSchema>, UserAdded>>,
  Assert<Equal<z.output<typeof auditViewSchema>, AuditView>>,
  Assert<Equal<z.output<typeof sessionViewSchema>, SessionView>>,
];

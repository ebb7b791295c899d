// What the service returns: plain JSON-safe objects (times as ISO 8601 strings), the same whether
// a LocalClient calls the service in-process or a RemoteClient receives them over the REST API.
// Views never carry a secret except the one-time results (CredentialSecret, TokenCreated) and the
// Shadowsocks key, which only its own calls return (a client needs it verbatim; see shadowsocks-keys.ts).
import type {
  ApiToken,
  AuditEvent,
  InboundKind,
  Peer,
  ProxyCredential,
  QuotaPeriod,
  Role,
  Tier,
  TokenScope,
  User,
} from '../store/types.js';

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export interface UserView {
  name: string;
  role: Role | null;
  enabled: boolean;
  expiresAt: string | null;
  tier: string | null;
  /** "config": defined in the configuration file's users: — read-only here. */
  source: 'store' | 'config';
  createdAt: string | null;
  updatedAt: string | null;
}

export interface CredentialView {
  user: string;
  username: string;
  createdAt: string;
}

/** Returned once, when a proxy password is created or rotated. */
export interface CredentialSecret {
  user: string;
  username: string;
  password: string;
}

/** A user's Shadowsocks key (null: none yet), returned only by the calls that ask for it. */
export interface ShadowsocksKeyView {
  user: string;
  key: string | null;
}

export interface TokenView {
  id: number;
  user: string;
  name: string;
  scopes: TokenScope[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

/** Returned once, when a token is created: `secret` is never stored and cannot be shown again. */
export interface TokenCreated {
  token: TokenView;
  secret: string;
}

export interface TierView {
  name: string;
  /** Bytes per second; null = unlimited. */
  up: number | null;
  down: number | null;
  /** Bytes per period, up + down; null = unlimited. */
  quota: number | null;
  period: QuotaPeriod;
  maxDevices: number | null;
  maxConnections: number | null;
  inbounds: InboundKind[] | null;
  exits: string[] | null;
  expiresAt: string | null;
}

export interface PeerView {
  id: number;
  user: string;
  name: string;
  publicKey: string;
  addressV4: string | null;
  addressV6: string | null;
  createdAt: string;
}

export interface UsageReport {
  user: string;
  tier: string | null;
  period: QuotaPeriod;
  periodStart: string;
  bytesUp: number;
  bytesDown: number;
  bytesTotal: number;
  quota: number | null;
  remaining: number | null;
}

export interface UserDetail extends UserView {
  credentials: CredentialView[];
  devices: PeerView[];
  tokens: TokenView[];
  usage: UsageReport | null;
}

export interface UserAdded {
  user: UserView;
  credential: CredentialSecret;
}

export interface AuditView {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
}

export function userView(u: User, tierName: string | null): UserView {
  return {
    name: u.name,
    role: u.role,
    enabled: u.enabled,
    expiresAt: isoOrNull(u.expiresAt),
    tier: tierName,
    source: 'store',
    createdAt: iso(u.createdAt),
    updatedAt: iso(u.updatedAt),
  };
}

export function configUserView(name: string): UserView {
  return {
    name,
    role: null,
    enabled: true,
    expiresAt: null,
    tier: null,
    source: 'config',
    createdAt: null,
    updatedAt: null,
  };
}

export const credentialView = (c: ProxyCredential, user: string): CredentialView => ({
  user,
  username: c.username,
  createdAt: iso(c.createdAt),
});

export const tokenView = (t: ApiToken, user: string): TokenView => ({
  id: t.id,
  user,
  name: t.name,
  scopes: t.scopes,
  expiresAt: isoOrNull(t.expiresAt),
  createdAt: iso(t.createdAt),
  lastUsedAt: isoOrNull(t.lastUsedAt),
});

export const tierView = (t: Tier): TierView => ({
  name: t.name,
  up: t.upBps,
  down: t.downBps,
  quota: t.quotaBytes,
  period: t.quotaPeriod,
  maxDevices: t.maxDevices,
  maxConnections: t.maxConnections,
  inbounds: t.inbounds,
  exits: t.exits,
  expiresAt: isoOrNull(t.expiresAt),
});

export const peerView = (p: Peer, user: string): PeerView => ({
  id: p.id,
  user,
  name: p.name,
  publicKey: p.publicKey,
  addressV4: p.addressV4,
  addressV6: p.addressV6,
  createdAt: iso(p.createdAt),
});

export const auditView = (e: AuditEvent): AuditView => ({
  id: e.id,
  at: iso(e.at),
  actor: e.actor,
  action: e.action,
  target: e.target,
  details: e.details,
});

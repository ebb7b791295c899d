// Row ↔ record mapping: the database keeps 0/1 for booleans and JSON text for lists; PostgreSQL's
// driver may hand back bigints as strings (see postgres.ts), so every number goes through Number().
import type { Selectable } from 'kysely';
import type {
  ApiTokensTable,
  PeersTable,
  ProxyCredentialsTable,
  TiersTable,
  UsersTable,
} from './db-schema.js';
import type {
  ApiToken,
  InboundKind,
  Peer,
  ProxyCredential,
  QuotaPeriod,
  Role,
  Tier,
  TokenScope,
  User,
} from './types.js';

const num = (v: number | string | bigint): number => Number(v);
const numOrNull = (v: number | string | bigint | null): number | null => (v === null ? null : Number(v));

function jsonList<T>(text: string | null): T[] | null {
  return text === null ? null : (JSON.parse(text) as T[]);
}

export const listText = (v: readonly string[] | null | undefined): string | null =>
  v === null || v === undefined ? null : JSON.stringify(v);

export function toUser(r: Selectable<UsersTable>): User {
  return {
    id: num(r.id),
    name: r.name,
    role: r.role as Role,
    enabled: num(r.enabled) !== 0,
    expiresAt: numOrNull(r.expires_at),
    tierId: numOrNull(r.tier_id),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export function toCredential(r: Selectable<ProxyCredentialsTable>): ProxyCredential {
  return {
    id: num(r.id),
    userId: num(r.user_id),
    username: r.username,
    passwordHash: r.password_hash,
    createdAt: num(r.created_at),
  };
}

export function toToken(r: Selectable<ApiTokensTable>): ApiToken {
  return {
    id: num(r.id),
    userId: num(r.user_id),
    name: r.name,
    scopes: jsonList<TokenScope>(r.scopes) ?? [],
    expiresAt: numOrNull(r.expires_at),
    createdAt: num(r.created_at),
    lastUsedAt: numOrNull(r.last_used_at),
  };
}

export function toTier(r: Selectable<TiersTable>): Tier {
  return {
    id: num(r.id),
    name: r.name,
    upBps: numOrNull(r.up_bps),
    downBps: numOrNull(r.down_bps),
    quotaBytes: numOrNull(r.quota_bytes),
    quotaPeriod: r.quota_period as QuotaPeriod,
    maxDevices: numOrNull(r.max_devices),
    maxConnections: numOrNull(r.max_connections),
    inbounds: jsonList<InboundKind>(r.inbounds),
    exits: jsonList<string>(r.exits),
    expiresAt: numOrNull(r.expires_at),
  };
}

export function toPeer(r: Selectable<PeersTable>): Peer {
  return {
    id: num(r.id),
    userId: num(r.user_id),
    name: r.name,
    publicKey: r.public_key,
    presharedKey: r.preshared_key,
    addressV4: r.address_v4,
    addressV6: r.address_v6,
    createdAt: num(r.created_at),
  };
}

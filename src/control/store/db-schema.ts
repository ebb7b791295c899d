// The tables as Kysely sees them. One schema for SQLite and PostgreSQL, so it keeps to the types
// both share: integers (bigint in PostgreSQL — byte counters and ms timestamps outgrow int4), text,
// and JSON kept in text columns. Booleans are 0/1 integers, times are ms since the epoch (UTC);
// the store maps rows to the types in types.ts.
import type { Generated } from 'kysely';

export interface MetaTable {
  key: string;
  value: number;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
  role: string;
  enabled: number;
  expires_at: number | null;
  tier_id: number | null;
  login_hash: string | null;
  created_at: number;
  updated_at: number;
}

export interface ProxyCredentialsTable {
  id: Generated<number>;
  user_id: number;
  username: string;
  password_hash: string;
  created_at: number;
}

/** A user's Shadowsocks key (migration 0002): kept in clear, a server needs the key itself. */
export interface ShadowsocksKeysTable {
  user_id: number;
  secret: string;
  created_at: number;
}

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  /** JSON array of scopes. */
  scopes: string;
  /** Hex SHA-256 of the token; the token itself is never stored. */
  token_hash: string;
  expires_at: number | null;
  created_at: number;
  last_used_at: number | null;
}

export interface TiersTable {
  id: Generated<number>;
  name: string;
  up_bps: number | null;
  down_bps: number | null;
  quota_bytes: number | null;
  quota_period: string;
  max_devices: number | null;
  max_connections: number | null;
  /** JSON array, or null for "all". */
  inbounds: string | null;
  exits: string | null;
  expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface PeersTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  public_key: string;
  preshared_key: string | null;
  address_v4: string | null;
  address_v6: string | null;
  created_at: number;
}

export interface UsageTable {
  user_id: number;
  day: number;
  bytes_up: number;
  bytes_down: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  /** JSON object or null. */
  details: string | null;
}

/** A chunk of connection records (control/audit/record-chunk.ts). */
export interface ConnectionChunksTable {
  id: Generated<number>;
  min_at: number;
  max_at: number;
  rows: number;
  strings: string;
  nums: Uint8Array;
}

export interface ConnectionChunkUsersTable {
  user_name: string;
  chunk_id: number;
}

export interface Database {
  ferry_meta: MetaTable;
  users: UsersTable;
  proxy_credentials: ProxyCredentialsTable;
  shadowsocks_keys: ShadowsocksKeysTable;
  api_tokens: ApiTokensTable;
  tiers: TiersTable;
  peers: PeersTable;
  usage: UsageTable;
  audit_events: AuditEventsTable;
  connection_chunks: ConnectionChunksTable;
  connection_chunk_users: ConnectionChunkUsersTable;
}

export type Dialect = 'sqlite' | 'postgres';

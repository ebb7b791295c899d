// The management plane's store: the one source of truth for users, credentials, tokens, tiers,
// WireGuard peers, usage and audit records. Two backends implement it: SQLite (embedded default,
// better-sqlite3 in WAL mode, in the data directory) and PostgreSQL (several nodes on one database).
// Both share one schema and one migration list (Kysely), so the SQL is written once.
//
// Everything here is async because PostgreSQL is; the data plane never waits on the store per packet
// or per request: it reads snapshots (users, tiers) that are refreshed when the store's revision
// changes, and writes usage in batches.

export type Role = 'admin' | 'member';

export interface User {
  id: number;
  name: string;
  role: Role;
  enabled: boolean;
  /** ms since epoch, or null for no expiry. */
  expiresAt: number | null;
  tierId: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewUser {
  name: string;
  role?: Role;
  enabled?: boolean;
  expiresAt?: number | null;
  tierId?: number | null;
  /** Login password (API/console), stored as a hash; optional. */
  passwordHash?: string | null;
}

/** Proxy credentials are separate from the login password and rotatable; a user may have several. */
export interface ProxyCredential {
  id: number;
  userId: number;
  /** The name clients put in Proxy-Authorization / SOCKS5 auth. Unique across all users. */
  username: string;
  passwordHash: string;
  createdAt: number;
}

export type TokenScope = 'admin' | 'read' | 'self';

export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  scopes: TokenScope[];
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
}

export type QuotaPeriod = 'rolling30' | 'month';
import type { InboundKind, SessionRecord } from '../../core/session.js';
import type { PackedRecords } from '../audit/record-batch.js';
export type { InboundKind };

export interface Tier {
  id: number;
  name: string;
  /** Bytes per second, null = unlimited. */
  upBps: number | null;
  downBps: number | null;
  /** Bytes per period (up + down), null = unlimited. */
  quotaBytes: number | null;
  quotaPeriod: QuotaPeriod;
  maxDevices: number | null;
  maxConnections: number | null;
  /** Allowed inbound kinds; null = all. */
  inbounds: InboundKind[] | null;
  /** Allowed outbound (exit) names; null = all. */
  exits: string[] | null;
  expiresAt: number | null;
}

export type NewTier = Omit<Tier, 'id'>;

export interface Peer {
  id: number;
  userId: number;
  name: string;
  publicKey: string; // base64
  presharedKey: string | null; // base64
  addressV4: string | null;
  addressV6: string | null;
  createdAt: number;
}

export interface UsageRow {
  userId: number;
  /** UTC day (ms since epoch at 00:00) the bytes were counted in. */
  day: number;
  bytesUp: number;
  bytesDown: number;
}

export interface AuditEvent {
  id: number;
  at: number;
  actor: string; // user name, "cli", "config", "system"
  action: string; // e.g. "user.create"
  target: string | null;
  details: Record<string, unknown> | null;
}

/** A connection record; exists only in `audit` logging mode. */
export type ConnectionRecord = SessionRecord;

export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /**
   * The SQLite database file (null or absent for PostgreSQL): the audit writer thread opens its own
   * connection to it (control/audit/sqlite-writer.ts).
   */
  readonly file?: string | null;
  /** Runs pending migrations; refuses a database whose schema is newer than this program knows. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** The schema version of the open database (ferry_meta). */
  schemaVersion(): Promise<number>;
  /**
   * Runs `fn` in one transaction: every call on `tx` commits together or not at all (a write and its
   * audit event, a rotation's delete and insert). Nested calls join the outer transaction. Do slow
   * work (password hashing) before, not inside: on SQLite the transaction holds the write lock.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** A counter bumped by every write that the data plane must see (users, credentials, tokens, tiers, peers). */
  revision(): Promise<number>;

  // users
  createUser(u: NewUser): Promise<User>;
  getUser(idOrName: number | string): Promise<User | null>;
  listUsers(): Promise<User[]>;
  updateUser(id: number, patch: Partial<Omit<NewUser, 'name'>>): Promise<User>;
  deleteUser(id: number): Promise<void>;
  getLoginHash(userId: number): Promise<string | null>;

  // Shadowsocks keys (one per user, method-independent: see share/ss-user-key.ts)
  getShadowsocksKey(userId: number): Promise<string | null>;
  /** Creates or replaces the user's key. */
  setShadowsocksKey(userId: number, secret: string): Promise<void>;
  listShadowsocksKeys(): Promise<{ userId: number; secret: string }[]>;

  // proxy credentials
  addProxyCredential(userId: number, username: string, passwordHash: string): Promise<ProxyCredential>;
  listProxyCredentials(userId?: number): Promise<ProxyCredential[]>;
  getProxyCredential(idOrUsername: number | string): Promise<ProxyCredential | null>;
  /** Replaces a credential's password (rotation); keeps its name and id. */
  setProxyCredentialHash(id: number, passwordHash: string): Promise<ProxyCredential>;
  deleteProxyCredential(id: number): Promise<void>;

  // API tokens (only the SHA-256 of a token is stored)
  createToken(t: {
    userId: number;
    name: string;
    scopes: TokenScope[];
    expiresAt: number | null;
    tokenHash: string;
  }): Promise<ApiToken>;
  findTokenByHash(tokenHash: string): Promise<(ApiToken & { userName: string }) | null>;
  listTokens(userId?: number): Promise<ApiToken[]>;
  getToken(id: number): Promise<ApiToken | null>;
  deleteToken(id: number): Promise<void>;
  touchToken(id: number, at: number): Promise<void>;

  // tiers
  createTier(t: NewTier): Promise<Tier>;
  getTier(idOrName: number | string): Promise<Tier | null>;
  listTiers(): Promise<Tier[]>;
  updateTier(id: number, patch: Partial<NewTier>): Promise<Tier>;
  deleteTier(id: number): Promise<void>;

  // WireGuard peers (devices)
  createPeer(p: Omit<Peer, 'id' | 'createdAt'>): Promise<Peer>;
  listPeers(userId?: number): Promise<Peer[]>;
  getPeer(id: number): Promise<Peer | null>;
  updatePeer(id: number, patch: Partial<Omit<Peer, 'id' | 'userId' | 'createdAt'>>): Promise<Peer>;
  deletePeer(id: number): Promise<void>;

  // usage: added in batches by the data plane; summed for quotas
  addUsage(rows: UsageRow[]): Promise<void>;
  usageSince(userId: number, sinceDay: number): Promise<{ bytesUp: number; bytesDown: number }>;
  listUsage(userId?: number, sinceDay?: number): Promise<UsageRow[]>;
  /** Per-user sums of the days >= sinceDay (one query for every user: quota snapshots). */
  usageTotals(sinceDay: number): Promise<{ userId: number; bytesUp: number; bytesDown: number }[]>;

  // audit
  addAuditEvent(e: Omit<AuditEvent, 'id'>): Promise<AuditEvent>;
  /** Newest first. `subject` matches events whose actor or target is that name. */
  listAuditEvents(opts?: { since?: number; limit?: number; subject?: string }): Promise<AuditEvent[]>;
  /** Stores formatted records (packed into chunks: control/audit/record-chunk.ts). */
  addConnections(rows: ConnectionRecord[]): Promise<void>;
  /** Stores batches as the gateway packed them, a chunk each, in one transaction. */
  addConnectionBatches(batches: readonly PackedRecords[]): Promise<void>;
  listConnections(opts?: { since?: number; user?: string; limit?: number }): Promise<ConnectionRecord[]>;
  /** Deletes connection records older than `before`; returns how many. */
  pruneConnections(before: number): Promise<number>;

  /** Everything stored about a user (GDPR export). */
  exportUser(userId: number): Promise<Record<string, unknown>>;
  /**
   * Erases a user and every record naming them (GDPR erasure): the user row with its credentials,
   * tokens, peers and usage, and their connection records. Audit events that name them keep what
   * happened and when but lose the name: actor/target become `redactAs` and details are dropped (an
   * admin trail with holes would be worse than one with a pseudonym; default `forgotten#<id>`).
   * Then `event`, if given, is recorded in the same transaction.
   */
  forgetUser(userId: number, opts?: { redactAs?: string; event?: Omit<AuditEvent, 'id'> }): Promise<void>;
}

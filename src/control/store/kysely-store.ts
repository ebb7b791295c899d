// The Store written once over Kysely; sqlite.ts and postgres.ts only open a connection and hand it
// here. Every write runs in a transaction, and writes the data plane must see bump the revision
// counter in that same transaction, so a poller never sees the counter move before the data does.
import type { Kysely, Updateable } from 'kysely';
import { sql } from 'kysely';
import { FerryError } from '../../core/errors.js';
import { recordOf, type PackedRecords } from '../audit/record-batch.js';
import {
  fromChunk,
  keepRecords,
  packRecords,
  recordAt,
  recordUser,
  toChunk,
  type StoredChunk,
} from '../audit/record-chunk.js';
import type { Database, Dialect, TiersTable, UsersTable } from './db-schema.js';
import { META_REVISION, META_SCHEMA_VERSION, readMeta, runMigrations } from './migrations/index.js';
import { listText, toCredential, toPeer, toTier, toToken, toUser } from './rows.js';
import type {
  ApiToken,
  AuditEvent,
  ConnectionRecord,
  NewTier,
  NewUser,
  Peer,
  ProxyCredential,
  Store,
  Tier,
  TokenScope,
  UsageRow,
  User,
} from './types.js';

type Db = Kysely<Database>;

/** Rows per multi-row INSERT: well under SQLite's bound-parameter limit at 10 columns a row. */
const CHUNK = 500;
const AUDIT_LIMIT_DEFAULT = 100;
const AUDIT_LIMIT_MAX = 10_000;
/** Chunks read per query of a connection listing. */
const LIST_CHUNKS = 16;

async function insertChunk(db: Db, c: StoredChunk): Promise<void> {
  const { id } = await db
    .insertInto('connection_chunks')
    .values({ min_at: c.minAt, max_at: c.maxAt, rows: c.rows, strings: c.strings, nums: c.nums })
    .returning('id')
    .executeTakeFirstOrThrow();
  await insertChunkUsers(db, Number(id), c.users);
}

async function insertChunkUsers(db: Db, id: number, users: string[]): Promise<void> {
  if (users.length > 0)
    await db
      .insertInto('connection_chunk_users')
      .values(users.map((u) => ({ user_name: u, chunk_id: id })))
      .execute();
}

/**
 * Puts `b` in the place of chunk `id`, which keeps its id and so its place in listings; deletes the
 * chunk (and its user rows, ON DELETE CASCADE) when `b` is empty.
 */
async function replaceChunk(db: Db, id: number, b: PackedRecords): Promise<void> {
  if (b.rows === 0) {
    await db.deleteFrom('connection_chunks').where('id', '=', id).execute();
    return;
  }
  const c = toChunk(b);
  await db
    .updateTable('connection_chunks')
    .set({ min_at: c.minAt, max_at: c.maxAt, rows: c.rows, strings: c.strings, nums: c.nums })
    .where('id', '=', id)
    .execute();
  await db.deleteFrom('connection_chunk_users').where('chunk_id', '=', id).execute();
  await insertChunkUsers(db, id, c.users);
}

/** Unique and foreign-key violations become the service's E_CONFLICT; the rest stays as it is. */
export function mapDbError(err: unknown): unknown {
  if (err instanceof FerryError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  // SQLite: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY / _FOREIGNKEY; PostgreSQL: SQLSTATE 23505 / 23503.
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505')
    return new FerryError('E_CONFLICT', 'already exists', { cause: err });
  // A RESTRICT foreign key reports itself as SQLITE_CONSTRAINT_TRIGGER with that message.
  const fk = code.startsWith('SQLITE_CONSTRAINT') && String(e.message).includes('FOREIGN KEY');
  if (fk || code === '23503')
    return new FerryError('E_CONFLICT', 'still referenced by other records', { cause: err });
  return err;
}

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

function notFound(what: string, key: number | string): FerryError {
  return new FerryError(
    'E_NOT_FOUND',
    `${what} ${typeof key === 'number' ? `#${key}` : `'${key}'`} not found`,
  );
}

function userColumns(u: Partial<NewUser>): Updateable<UsersTable> {
  const out: Updateable<UsersTable> = {};
  if (u.role !== undefined) out.role = u.role;
  if (u.enabled !== undefined) out.enabled = u.enabled ? 1 : 0;
  if (u.expiresAt !== undefined) out.expires_at = u.expiresAt;
  if (u.tierId !== undefined) out.tier_id = u.tierId;
  if (u.passwordHash !== undefined) out.login_hash = u.passwordHash;
  return out;
}

function tierColumns(t: Partial<NewTier>): Updateable<TiersTable> {
  const out: Updateable<TiersTable> = {};
  if (t.name !== undefined) out.name = t.name;
  if (t.upBps !== undefined) out.up_bps = t.upBps;
  if (t.downBps !== undefined) out.down_bps = t.downBps;
  if (t.quotaBytes !== undefined) out.quota_bytes = t.quotaBytes;
  if (t.quotaPeriod !== undefined) out.quota_period = t.quotaPeriod;
  if (t.maxDevices !== undefined) out.max_devices = t.maxDevices;
  if (t.maxConnections !== undefined) out.max_connections = t.maxConnections;
  if (t.inbounds !== undefined) out.inbounds = listText(t.inbounds);
  if (t.exits !== undefined) out.exits = listText(t.exits);
  if (t.expiresAt !== undefined) out.expires_at = t.expiresAt;
  return out;
}

const auditRow = (e: Omit<AuditEvent, 'id'>) => ({
  at: e.at,
  actor: e.actor,
  action: e.action,
  target: e.target,
  details: e.details === null ? null : JSON.stringify(e.details),
});

function toAudit(r: {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  details: string | null;
}): AuditEvent {
  return {
    id: Number(r.id),
    at: Number(r.at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
  };
}

export class KyselyStore implements Store {
  constructor(
    protected readonly db: Db,
    readonly backend: Dialect,
    /** Set on the Store handed to a transaction callback: calls run on that transaction. */
    private readonly inTransaction = false,
    private readonly now: () => number = Date.now,
    /** The SQLite database file; null for PostgreSQL (see Store.file). */
    readonly file: string | null = null,
  ) {}

  async migrate(): Promise<void> {
    await runMigrations(this.db, this.backend);
  }

  async close(): Promise<void> {
    if (this.inTransaction) throw new Error('close() inside a transaction');
    await this.db.destroy();
  }

  async schemaVersion(): Promise<number> {
    return (await readMeta(this.db, META_SCHEMA_VERSION)) ?? 0;
  }

  async revision(): Promise<number> {
    return (await readMeta(this.db, META_REVISION)) ?? 0;
  }

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    try {
      return await this.db
        .transaction()
        .execute((trx) => fn(new KyselyStore(trx, this.backend, true, this.now)));
    } catch (e) {
      throw mapDbError(e);
    }
  }

  /** Runs a write in a transaction (joining the current one), bumping the revision when asked. */
  private async write<T>(bump: boolean, fn: (db: Db) => Promise<T>): Promise<T> {
    const body = async (db: Db): Promise<T> => {
      const r = await fn(db);
      if (bump)
        await db
          .updateTable('ferry_meta')
          .set((eb) => ({ value: eb('value', '+', 1) }))
          .where('key', '=', META_REVISION)
          .execute();
      return r;
    };
    try {
      return this.inTransaction ? await body(this.db) : await this.db.transaction().execute(body);
    } catch (e) {
      throw mapDbError(e);
    }
  }

  // ---- users

  async createUser(u: NewUser): Promise<User> {
    const at = this.now();
    return this.write(true, async (db) =>
      toUser(
        await db
          .insertInto('users')
          .values({
            name: u.name,
            role: u.role ?? 'member',
            enabled: u.enabled === false ? 0 : 1,
            expires_at: u.expiresAt ?? null,
            tier_id: u.tierId ?? null,
            login_hash: u.passwordHash ?? null,
            created_at: at,
            updated_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  async getUser(idOrName: number | string): Promise<User | null> {
    const q = this.db.selectFrom('users').selectAll();
    const r = await (
      typeof idOrName === 'number' ? q.where('id', '=', idOrName) : q.where('name', '=', idOrName)
    ).executeTakeFirst();
    return r ? toUser(r) : null;
  }

  async listUsers(): Promise<User[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async updateUser(id: number, patch: Partial<Omit<NewUser, 'name'>>): Promise<User> {
    return this.write(true, async (db) => {
      const r = await db
        .updateTable('users')
        .set({ ...userColumns(patch), updated_at: this.now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!r) throw notFound('user', id);
      return toUser(r);
    });
  }

  async deleteUser(id: number): Promise<void> {
    await this.write(true, async (db) => {
      const r = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('user', id);
    });
  }

  async getLoginHash(userId: number): Promise<string | null> {
    const r = await this.db
      .selectFrom('users')
      .select('login_hash')
      .where('id', '=', userId)
      .executeTakeFirst();
    return r?.login_hash ?? null;
  }

  // ---- proxy credentials

  async getShadowsocksKey(userId: number): Promise<string | null> {
    const r = await this.db
      .selectFrom('shadowsocks_keys')
      .select('secret')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r ? r.secret : null;
  }

  async setShadowsocksKey(userId: number, secret: string): Promise<void> {
    await this.write(true, async (db) => {
      await db
        .insertInto('shadowsocks_keys')
        .values({ user_id: userId, secret, created_at: this.now() })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ secret, created_at: this.now() }))
        .execute();
    });
  }

  async listShadowsocksKeys(): Promise<{ userId: number; secret: string }[]> {
    const rows = await this.db.selectFrom('shadowsocks_keys').select(['user_id', 'secret']).execute();
    return rows.map((r) => ({ userId: Number(r.user_id), secret: r.secret }));
  }

  async addProxyCredential(userId: number, username: string, passwordHash: string): Promise<ProxyCredential> {
    return this.write(true, async (db) =>
      toCredential(
        await db
          .insertInto('proxy_credentials')
          .values({ user_id: userId, username, password_hash: passwordHash, created_at: this.now() })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  async listProxyCredentials(userId?: number): Promise<ProxyCredential[]> {
    let q = this.db.selectFrom('proxy_credentials').selectAll();
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('username').execute()).map(toCredential);
  }

  async getProxyCredential(idOrUsername: number | string): Promise<ProxyCredential | null> {
    const q = this.db.selectFrom('proxy_credentials').selectAll();
    const r = await (
      typeof idOrUsername === 'number'
        ? q.where('id', '=', idOrUsername)
        : q.where('username', '=', idOrUsername)
    ).executeTakeFirst();
    return r ? toCredential(r) : null;
  }

  async setProxyCredentialHash(id: number, passwordHash: string): Promise<ProxyCredential> {
    return this.write(true, async (db) => {
      const r = await db
        .updateTable('proxy_credentials')
        .set({ password_hash: passwordHash })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!r) throw notFound('credential', id);
      return toCredential(r);
    });
  }

  async deleteProxyCredential(id: number): Promise<void> {
    await this.write(true, async (db) => {
      const r = await db.deleteFrom('proxy_credentials').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('credential', id);
    });
  }

  // ---- API tokens

  async createToken(t: {
    userId: number;
    name: string;
    scopes: TokenScope[];
    expiresAt: number | null;
    tokenHash: string;
  }): Promise<ApiToken> {
    return this.write(true, async (db) =>
      toToken(
        await db
          .insertInto('api_tokens')
          .values({
            user_id: t.userId,
            name: t.name,
            scopes: JSON.stringify(t.scopes),
            token_hash: t.tokenHash,
            expires_at: t.expiresAt,
            created_at: this.now(),
            last_used_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  async findTokenByHash(tokenHash: string): Promise<(ApiToken & { userName: string }) | null> {
    const r = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .selectAll('api_tokens')
      .select('users.name as user_name')
      .where('api_tokens.token_hash', '=', tokenHash)
      .executeTakeFirst();
    return r ? { ...toToken(r), userName: r.user_name } : null;
  }

  async listTokens(userId?: number): Promise<ApiToken[]> {
    let q = this.db.selectFrom('api_tokens').selectAll();
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('id').execute()).map(toToken);
  }

  async getToken(id: number): Promise<ApiToken | null> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toToken(r) : null;
  }

  async deleteToken(id: number): Promise<void> {
    await this.write(true, async (db) => {
      const r = await db.deleteFrom('api_tokens').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('token', id);
    });
  }

  async touchToken(id: number, at: number): Promise<void> {
    // Not a data-plane change: no revision bump.
    await this.write(false, (db) =>
      db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute(),
    );
  }

  // ---- tiers

  async createTier(t: NewTier): Promise<Tier> {
    const at = this.now();
    return this.write(true, async (db) =>
      toTier(
        await db
          .insertInto('tiers')
          .values({
            name: t.name,
            up_bps: t.upBps,
            down_bps: t.downBps,
            quota_bytes: t.quotaBytes,
            quota_period: t.quotaPeriod,
            max_devices: t.maxDevices,
            max_connections: t.maxConnections,
            inbounds: listText(t.inbounds),
            exits: listText(t.exits),
            expires_at: t.expiresAt,
            created_at: at,
            updated_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  async getTier(idOrName: number | string): Promise<Tier | null> {
    const q = this.db.selectFrom('tiers').selectAll();
    const r = await (
      typeof idOrName === 'number' ? q.where('id', '=', idOrName) : q.where('name', '=', idOrName)
    ).executeTakeFirst();
    return r ? toTier(r) : null;
  }

  async listTiers(): Promise<Tier[]> {
    return (await this.db.selectFrom('tiers').selectAll().orderBy('name').execute()).map(toTier);
  }

  async updateTier(id: number, patch: Partial<NewTier>): Promise<Tier> {
    return this.write(true, async (db) => {
      const r = await db
        .updateTable('tiers')
        .set({ ...tierColumns(patch), updated_at: this.now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!r) throw notFound('tier', id);
      return toTier(r);
    });
  }

  async deleteTier(id: number): Promise<void> {
    await this.write(true, async (db) => {
      const r = await db.deleteFrom('tiers').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('tier', id);
    });
  }

  // ---- peers

  async createPeer(p: Omit<Peer, 'id' | 'createdAt'>): Promise<Peer> {
    return this.write(true, async (db) =>
      toPeer(
        await db
          .insertInto('peers')
          .values({
            user_id: p.userId,
            name: p.name,
            public_key: p.publicKey,
            preshared_key: p.presharedKey,
            address_v4: p.addressV4,
            address_v6: p.addressV6,
            created_at: this.now(),
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  async listPeers(userId?: number): Promise<Peer[]> {
    let q = this.db.selectFrom('peers').selectAll();
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('id').execute()).map(toPeer);
  }

  async getPeer(id: number): Promise<Peer | null> {
    const r = await this.db.selectFrom('peers').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toPeer(r) : null;
  }

  async updatePeer(id: number, patch: Partial<Omit<Peer, 'id' | 'userId' | 'createdAt'>>): Promise<Peer> {
    return this.write(true, async (db) => {
      const set: Updateable<Database['peers']> = {};
      if (patch.name !== undefined) set.name = patch.name;
      if (patch.publicKey !== undefined) set.public_key = patch.publicKey;
      if (patch.presharedKey !== undefined) set.preshared_key = patch.presharedKey;
      if (patch.addressV4 !== undefined) set.address_v4 = patch.addressV4;
      if (patch.addressV6 !== undefined) set.address_v6 = patch.addressV6;
      const q = db.updateTable('peers').where('id', '=', id);
      // An empty patch is a read: UPDATE ... SET with no columns is not SQL.
      const r = Object.keys(set).length
        ? await q.set(set).returningAll().executeTakeFirst()
        : await db.selectFrom('peers').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) throw notFound('peer', id);
      return toPeer(r);
    });
  }

  async deletePeer(id: number): Promise<void> {
    await this.write(true, async (db) => {
      const r = await db.deleteFrom('peers').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('peer', id);
    });
  }

  // ---- usage

  async addUsage(rows: UsageRow[]): Promise<void> {
    // Merge duplicates first: PostgreSQL refuses an upsert that touches one row twice.
    const merged = new Map<string, UsageRow>();
    for (const r of rows) {
      if (r.bytesUp === 0 && r.bytesDown === 0) continue;
      const k = `${r.userId}:${r.day}`;
      const m = merged.get(k);
      if (m) {
        m.bytesUp += r.bytesUp;
        m.bytesDown += r.bytesDown;
      } else merged.set(k, { ...r });
    }
    if (merged.size === 0) return;
    // A batch is one transaction: after a crash it is either all there or not at all.
    await this.write(false, async (db) => {
      // A user removed since the bytes were counted would fail the foreign key and with it the
      // whole batch; their bytes have nobody left to be charged to.
      const ids = [...new Set([...merged.values()].map((r) => r.userId))];
      const live = new Set<number>();
      for (const part of chunks(ids))
        for (const u of await db.selectFrom('users').select('id').where('id', 'in', part).execute())
          live.add(Number(u.id));
      const values = [...merged.values()]
        .filter((r) => live.has(r.userId))
        .map((r) => ({ user_id: r.userId, day: r.day, bytes_up: r.bytesUp, bytes_down: r.bytesDown }));
      for (const part of chunks(values)) {
        if (part.length === 0) continue;
        await db
          .insertInto('usage')
          .values(part)
          .onConflict((oc) =>
            oc.columns(['user_id', 'day']).doUpdateSet((eb) => ({
              bytes_up: eb('usage.bytes_up', '+', eb.ref('excluded.bytes_up')),
              bytes_down: eb('usage.bytes_down', '+', eb.ref('excluded.bytes_down')),
            })),
          )
          .execute();
      }
    });
  }

  async usageSince(userId: number, sinceDay: number): Promise<{ bytesUp: number; bytesDown: number }> {
    const r = await this.db
      .selectFrom('usage')
      .select((eb) => [
        eb.fn.sum<number | string>('bytes_up').as('up'),
        eb.fn.sum<number | string>('bytes_down').as('down'),
      ])
      .where('user_id', '=', userId)
      .where('day', '>=', sinceDay)
      .executeTakeFirst();
    return { bytesUp: Number(r?.up ?? 0), bytesDown: Number(r?.down ?? 0) };
  }

  async usageTotals(sinceDay: number): Promise<{ userId: number; bytesUp: number; bytesDown: number }[]> {
    const rows = await this.db
      .selectFrom('usage')
      .select((eb) => [
        'user_id',
        eb.fn.sum<number | string>('bytes_up').as('up'),
        eb.fn.sum<number | string>('bytes_down').as('down'),
      ])
      .where('day', '>=', sinceDay)
      .groupBy('user_id')
      .orderBy('user_id')
      .execute();
    return rows.map((r) => ({ userId: Number(r.user_id), bytesUp: Number(r.up), bytesDown: Number(r.down) }));
  }

  async listUsage(userId?: number, sinceDay?: number): Promise<UsageRow[]> {
    let q = this.db.selectFrom('usage').selectAll();
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    if (sinceDay !== undefined) q = q.where('day', '>=', sinceDay);
    const rows = await q.orderBy('user_id').orderBy('day').execute();
    return rows.map((r) => ({
      userId: Number(r.user_id),
      day: Number(r.day),
      bytesUp: Number(r.bytes_up),
      bytesDown: Number(r.bytes_down),
    }));
  }

  // ---- audit and connection records

  async addAuditEvent(e: Omit<AuditEvent, 'id'>): Promise<AuditEvent> {
    return this.write(false, async (db) =>
      toAudit(
        await db.insertInto('audit_events').values(auditRow(e)).returningAll().executeTakeFirstOrThrow(),
      ),
    );
  }

  async listAuditEvents(
    opts: { since?: number; limit?: number; subject?: string } = {},
  ): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (opts.since !== undefined) q = q.where('at', '>=', opts.since);
    const s = opts.subject;
    if (s !== undefined) q = q.where((eb) => eb.or([eb('actor', '=', s), eb('target', '=', s)]));
    const limit = Math.min(Math.max(1, opts.limit ?? AUDIT_LIMIT_DEFAULT), AUDIT_LIMIT_MAX);
    return (await q.orderBy('id', 'desc').limit(limit).execute()).map(toAudit);
  }

  addConnections(rows: ConnectionRecord[]): Promise<void> {
    return this.addConnectionBatches(packRecords(rows));
  }

  async addConnectionBatches(batches: readonly PackedRecords[]): Promise<void> {
    if (!batches.some((b) => b.rows > 0)) return;
    await this.write(false, async (db) => {
      for (const b of batches) if (b.rows > 0) await insertChunk(db, toChunk(b));
    });
  }

  async listConnections(
    opts: { since?: number; user?: string; limit?: number } = {},
  ): Promise<ConnectionRecord[]> {
    const { since, user } = opts;
    const limit = Math.min(Math.max(1, opts.limit ?? AUDIT_LIMIT_DEFAULT), AUDIT_LIMIT_MAX);
    const out: ConnectionRecord[] = [];
    // Newest first: chunks by id downwards, each chunk's records from its last.
    for (let below = Infinity; out.length < limit;) {
      let q = this.db
        .selectFrom('connection_chunks')
        .select(['id', 'rows', 'strings', 'nums'])
        .orderBy('id', 'desc')
        .limit(LIST_CHUNKS);
      if (below !== Infinity) q = q.where('id', '<', below);
      if (since !== undefined) q = q.where('max_at', '>=', since);
      if (user !== undefined)
        q = q.where('id', 'in', (eb) =>
          eb.selectFrom('connection_chunk_users').select('chunk_id').where('user_name', '=', user),
        );
      const chunks = await q.execute();
      for (const c of chunks) {
        const b = fromChunk(Number(c.rows), c.strings, c.nums);
        for (let i = b.rows - 1; i >= 0 && out.length < limit; i--) {
          if (since !== undefined && recordAt(b, i) < since) continue;
          if (user !== undefined && recordUser(b, i) !== user) continue;
          out.push(recordOf(b, i));
        }
      }
      if (chunks.length < LIST_CHUNKS) break;
      below = Number(chunks[chunks.length - 1]!.id);
    }
    return out;
  }

  async pruneConnections(before: number): Promise<number> {
    return this.write(false, async (db) => {
      let removed = 0;
      // Chunks wholly older than `before` go whole...
      const old = await db
        .deleteFrom('connection_chunks')
        .where('max_at', '<', before)
        .returning('rows')
        .execute();
      for (const c of old) removed += Number(c.rows);
      // ...and those holding some older records are rewritten without them.
      const mixed = await db
        .selectFrom('connection_chunks')
        .select(['id', 'rows', 'strings', 'nums'])
        .where('min_at', '<', before)
        .execute();
      for (const c of mixed) {
        const b = fromChunk(Number(c.rows), c.strings, c.nums);
        const kept = keepRecords(b, (i) => recordAt(b, i) >= before);
        removed += b.rows - kept.rows;
        await replaceChunk(db, Number(c.id), kept);
      }
      return removed;
    });
  }

  // ---- GDPR

  async exportUser(userId: number): Promise<Record<string, unknown>> {
    // One transaction, so the parts agree with each other.
    return this.transaction(async (tx) => {
      const user = await tx.getUser(userId);
      if (!user) throw notFound('user', userId);
      const tier = user.tierId === null ? null : await tx.getTier(user.tierId);
      // Hashes of passwords and tokens are stored but not exported: they are secrets, not the
      // user's data, and an export travels through terminals and mail.
      const credentials = (await tx.listProxyCredentials(userId)).map(({ passwordHash: _h, ...c }) => c);
      return {
        user: { ...user, hasLoginPassword: (await tx.getLoginHash(userId)) !== null },
        tier,
        credentials,
        tokens: await tx.listTokens(userId),
        peers: (await tx.listPeers(userId)).map(({ presharedKey, ...p }) => ({
          ...p,
          hasPresharedKey: presharedKey !== null,
        })),
        usage: await tx.listUsage(userId),
        auditEvents: await tx.listAuditEvents({ subject: user.name, limit: AUDIT_LIMIT_MAX }),
        connections: await tx.listConnections({ user: user.name, limit: AUDIT_LIMIT_MAX }),
      };
    });
  }

  async forgetUser(
    userId: number,
    opts: { redactAs?: string; event?: Omit<AuditEvent, 'id'> } = {},
  ): Promise<void> {
    await this.write(true, async (db) => {
      const u = await db.selectFrom('users').select('name').where('id', '=', userId).executeTakeFirst();
      if (!u) throw notFound('user', userId);
      const alias = opts.redactAs ?? `forgotten#${userId}`;
      await db
        .updateTable('audit_events')
        .set({ actor: alias, details: null })
        .where('actor', '=', u.name)
        .execute();
      await db
        .updateTable('audit_events')
        .set({ target: alias, details: null })
        .where('target', '=', u.name)
        .execute();
      // Their records go from every chunk that has some; the chunks' other records stay.
      const theirs = await db
        .selectFrom('connection_chunks')
        .select(['id', 'rows', 'strings', 'nums'])
        .where('id', 'in', (eb) =>
          eb.selectFrom('connection_chunk_users').select('chunk_id').where('user_name', '=', u.name),
        )
        .execute();
      for (const c of theirs) {
        const b = fromChunk(Number(c.rows), c.strings, c.nums);
        await replaceChunk(
          db,
          Number(c.id),
          keepRecords(b, (i) => recordUser(b, i) !== u.name),
        );
      }
      // Credentials, tokens, peers and usage go with the user (ON DELETE CASCADE).
      await db.deleteFrom('users').where('id', '=', userId).execute();
      if (opts.event) await db.insertInto('audit_events').values(auditRow(opts.event)).execute();
    });
    // SQLite: the pages' versions from before the erasure live on in the WAL until a checkpoint
    // copies the new ones over them (secure_delete zeroes what the deletes freed). TRUNCATE also
    // empties the WAL file. Should a reader keep it from finishing, the next checkpoint does.
    if (this.backend === 'sqlite' && !this.inTransaction)
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.db);
  }
}

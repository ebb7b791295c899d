// Versioned migrations, run when a store opens. `ferry_meta` holds the schema version and one row per
// applied migration (`migration:0001-initial` → when). Each migration runs in its own transaction
// together with the version bump, so a crash leaves the database at a whole version and a
// migration never runs twice. Several processes may open one database at once (the CLI next to the
// server, several nodes on one PostgreSQL): SQLite serialises them with BEGIN IMMEDIATE (see
// sqlite.ts), PostgreSQL with a transaction-scoped advisory lock.
import { sql, type Kysely, type Transaction } from 'kysely';
import { FerryError } from '../../../core/errors.js';
import type { Database, Dialect } from '../db-schema.js';
import { initial } from './0001-initial.js';
import { shadowsocksKeys } from './0002-shadowsocks-keys.js';
import { connectionChunks } from './0003-connection-chunks.js';
import type { Migration } from './types.js';

export const MIGRATIONS: readonly Migration[] = [initial, shadowsocksKeys, connectionChunks];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** An arbitrary constant naming Ferry's migration lock among the database's advisory locks. */
const PG_LOCK_KEY = 0x66_65_72_72; // "ferr"

export const META_SCHEMA_VERSION = 'schema_version';
export const META_REVISION = 'revision';

async function ensureMeta(db: Kysely<Database>): Promise<void> {
  await db.schema
    .createTable('ferry_meta')
    .ifNotExists()
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();
}

export async function readMeta(db: Kysely<Database>, key: string): Promise<number | null> {
  const row = await db.selectFrom('ferry_meta').select('value').where('key', '=', key).executeTakeFirst();
  return row ? Number(row.value) : null;
}

export async function writeMeta(db: Kysely<Database>, key: string, value: number): Promise<void> {
  await db
    .insertInto('ferry_meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

function newerError(found: number, known: number): FerryError {
  return new FerryError(
    'E_CONFIG',
    `database schema version ${found} is newer than this ferry (${known}); upgrade ferry`,
  );
}

/**
 * Brings the database to the latest version. Returns the names of the migrations it applied (empty
 * when the database was current). Refuses, without touching anything, a database whose version is
 * newer than `migrations` knows.
 */
export async function runMigrations(
  db: Kysely<Database>,
  dialect: Dialect,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<string[]> {
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  const applied: string[] = [];
  for (;;) {
    const step = async (trx: Transaction<Database>): Promise<string | null> => {
      if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${PG_LOCK_KEY})`.execute(trx);
      await ensureMeta(trx);
      const current = (await readMeta(trx, META_SCHEMA_VERSION)) ?? 0;
      if (current > latest) throw newerError(current, latest);
      const next = migrations.find((m) => m.version > current);
      if (!next) {
        // The revision counter exists from the first open on; the data plane polls it.
        if ((await readMeta(trx, META_REVISION)) === null) await writeMeta(trx, META_REVISION, 1);
        return null;
      }
      await next.up(trx, dialect);
      await writeMeta(trx, META_SCHEMA_VERSION, next.version);
      await writeMeta(trx, `migration:${String(next.version).padStart(4, '0')}-${next.name}`, Date.now());
      return next.name;
    };
    const name = await db.transaction().execute(step);
    if (name === null) return applied;
    applied.push(name);
  }
}

// The shared backend: several Ferry nodes on one PostgreSQL database. The connection URL may carry a
// password, so it never appears in messages; errors name host, port and database only.
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { FerryError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Database } from './db-schema.js';
import { KyselyStore } from './kysely-store.js';

const INT8_OID = 20;

// bigint columns (ids, byte counters, ms timestamps) arrive as strings by default, because int8 can
// exceed 2^53. Ferry's values stay far below (2^53 bytes is 8 PiB), so parse them as numbers — per
// pool, not through pg's process-wide type registry.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

/** "host:port/db" of a connection string, for messages (no user, no password). */
export function describePgUrl(url: string): string {
  try {
    const u = new URL(url);
    const host = u.searchParams.get('host') ?? (u.hostname || 'localhost');
    return `${host}:${u.searchParams.get('port') ?? (u.port || '5432')}${u.pathname || '/'}`;
  } catch {
    return '(unparsable URL)';
  }
}

export interface PostgresOptions {
  migrate?: boolean;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  log?: Logger;
}

export async function openPostgresStore(url: string, opts: PostgresOptions = {}): Promise<KyselyStore> {
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, types });
  // An idle client's error (the server restarted) is emitted on the pool; unhandled, it would end
  // the process. The next query gets a fresh connection.
  pool.on('error', (err) => opts.log?.warn({ err: err.message }, 'postgres: idle connection failed'));
  const where = describePgUrl(url);
  try {
    const c = await pool.connect();
    c.release();
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new FerryError('E_CONFIG', `cannot connect to PostgreSQL at ${where}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const store = new KyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres');
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}

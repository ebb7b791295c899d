// The embedded backend: one SQLite file in the data directory, shared by `ferry serve` and the CLI.
//
// Settings, and why:
// - journal_mode=WAL: readers (the CLI, the gateway's snapshot loads) never block the writer.
// - synchronous=FULL: in WAL mode NORMAL already survives a killed process (a commit is in the OS
//   page cache when it returns) but may lose the last commits on power loss or an OS crash; FULL
//   syncs the WAL at each commit and loses nothing there either. Ferry writes rarely — admin actions
//   and one usage batch every few seconds — so that fsync per commit costs nothing noticeable.
// - busy_timeout: the CLI and the server write the same file; a writer waits for the other's lock
//   instead of failing at once. Transactions begin IMMEDIATE (take the write lock up front), because
//   a deferred transaction that reads and then writes cannot wait: when another process commits in
//   between, SQLite answers SQLITE_BUSY at once rather than risk a deadlock.
// - foreign_keys=ON: SQLite leaves them off per connection by default; cascades rely on them.
// - secure_delete=ON: deleted rows are overwritten with zeros instead of left in free pages, so that
//   what `ferry user forget` and the audit retention delete is gone from the file (forgetUser also
//   checkpoints the WAL, which holds the pages' older versions). Deletes are rare here.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDb from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type SqliteDialectConfig,
} from 'kysely';
import { FerryError } from '../../core/errors.js';
import type { Database } from './db-schema.js';
import { KyselyStore } from './kysely-store.js';

export const BUSY_TIMEOUT_MS = 5000;

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly cfg: SqliteDialectConfig) {
    super(cfg);
  }
  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.cfg);
  }
}

export interface SqliteOptions {
  /** Run migrations at open (default true). */
  migrate?: boolean;
}

export async function openSqliteStore(path: string, opts: SqliteOptions = {}): Promise<KyselyStore> {
  // The file holds password and token hashes: owner-only, created so before SQLite opens it (SQLite
  // gives the -wal and -shm files the mode of the database file).
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
  } catch (e) {
    throw new FerryError('E_CONFIG', `cannot create the database ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  let sqlite: SqliteDb.Database;
  try {
    sqlite = new SqliteDb(path);
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, WAL is required`);
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('secure_delete = ON');
  } catch (e) {
    throw new FerryError('E_CONFIG', `cannot open the database ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const store = new KyselyStore(
    new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) }),
    'sqlite',
    false,
    Date.now,
    path,
  );
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

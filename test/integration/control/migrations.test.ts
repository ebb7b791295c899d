// Versioned migrations: applied once, recorded in ferry_meta, and a database from a newer Ferry is
// refused with a message that says what to do.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import SqliteDb from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { FerryError } from '../../../src/core/errors.js';
import { runMigrations, SCHEMA_VERSION } from '../../../src/control/store/migrations/index.js';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import type { Migration } from '../../../src/control/store/migrations/types.js';
import type { Database } from '../../../src/control/store/db-schema.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-migr-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function meta(path: string): Record<string, number> {
  const db = new SqliteDb(path, { readonly: true });
  try {
    const rows = db.prepare('select key, value from ferry_meta').all() as { key: string; value: number }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  } finally {
    db.close();
  }
}

describe('migrations', () => {
  it('applies each migration once and records it', async () => {
    const path = join(dir, 'once.db');
    const s1 = await openSqliteStore(path);
    await s1.close();
    const first = meta(path);
    assert.equal(first.schema_version, SCHEMA_VERSION);
    assert.ok(first['migration:0001-initial']! > 0);
    const s2 = await openSqliteStore(path);
    assert.equal(await s2.schemaVersion(), SCHEMA_VERSION);
    await s2.close();
    assert.deepEqual(meta(path), first, 'reopening changed nothing');
  });

  it('runs a new migration in a transaction: a failing one leaves the version where it was', async () => {
    const path = join(dir, 'fail.db');
    await (await openSqliteStore(path)).close();
    const store = await openSqliteStore(path, { migrate: false });
    // Reach the Kysely instance the store wraps (test-only) to run a custom migration list.
    const db = (store as unknown as { db: Kysely<Database> }).db;
    const { MIGRATIONS } = await import('../../../src/control/store/migrations/index.js');
    const broken: Migration = {
      version: SCHEMA_VERSION + 1,
      name: 'broken',
      async up(k) {
        await k.schema.createTable('half_done').addColumn('x', 'integer').execute();
        throw new Error('boom');
      },
    };
    await assert.rejects(runMigrations(db, 'sqlite', [...MIGRATIONS, broken]), /boom/);
    await store.close();
    const m = meta(path);
    assert.equal(m.schema_version, SCHEMA_VERSION);
    const raw = new SqliteDb(path, { readonly: true });
    try {
      assert.equal(
        (
          raw.prepare("select count(*) as n from sqlite_master where name = 'half_done'").get() as {
            n: number;
          }
        ).n,
        0,
      );
    } finally {
      raw.close();
    }
  });

  it('3 (connection-chunks): records of the row table move into chunks, in order and intact', async () => {
    const path = join(dir, 'chunks.db');
    const { MIGRATIONS } = await import('../../../src/control/store/migrations/index.js');
    const v2 = await openSqliteStore(path, { migrate: false });
    const db = (v2 as unknown as { db: Kysely<Database> }).db;
    await runMigrations(db, 'sqlite', MIGRATIONS.slice(0, 2));
    await v2.close();
    // 5000 rows as version 2 wrote them (more than one step of the copy and many chunks).
    const raw = new SqliteDb(path);
    const insert = raw.prepare(
      `insert into connections (at, user_name, inbound, source, destination, bytes_up, bytes_down,
        duration_ms, decision) values (?, ?, 'http', ?, ?, ?, ?, 7, ?)`,
    );
    raw.transaction(() => {
      for (let i = 0; i < 5000; i++)
        insert.run(
          1_000_000 + i,
          i % 3 === 0 ? null : `u${i % 3}`,
          `[2001:db8::${i % 7}]:${1024 + i}`,
          `host${i % 11}.test:443`,
          i,
          2 ** 40 + i,
          i % 5 === 0 ? 'refused E_POLICY_DENIED' : 'direct closed',
        );
    })();
    raw.close();

    const store = await openSqliteStore(path);
    try {
      assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
      const all = await store.listConnections({ limit: 10_000 });
      assert.equal(all.length, 5000);
      all.forEach((r, k) => {
        const i = 4999 - k; // newest first, as before
        assert.deepEqual(r, {
          at: 1_000_000 + i,
          user: i % 3 === 0 ? null : `u${i % 3}`,
          inbound: 'http',
          source: `[2001:db8::${i % 7}]:${1024 + i}`,
          destination: `host${i % 11}.test:443`,
          bytesUp: i,
          bytesDown: 2 ** 40 + i,
          durationMs: 7,
          decision: i % 5 === 0 ? 'refused E_POLICY_DENIED' : 'direct closed',
        });
      });
      assert.equal((await store.listConnections({ user: 'u2', limit: 10_000 })).length, 1666);
    } finally {
      await store.close();
    }
    const check = new SqliteDb(path, { readonly: true });
    try {
      const gone = check
        .prepare("select count(*) as n from sqlite_master where name = 'connections'")
        .get() as {
        n: number;
      };
      assert.equal(gone.n, 0, 'the row table is gone');
    } finally {
      check.close();
    }
  });

  it('refuses a database whose schema is newer than this program', async () => {
    const path = join(dir, 'newer.db');
    await (await openSqliteStore(path)).close();
    const raw = new SqliteDb(path);
    raw.prepare("update ferry_meta set value = 99 where key = 'schema_version'").run();
    raw.close();
    await assert.rejects(
      openSqliteStore(path),
      (e: unknown) =>
        e instanceof FerryError &&
        e.code === 'E_CONFIG' &&
        e.message ===
          `database schema version 99 is newer than this ferry (${SCHEMA_VERSION}); upgrade ferry`,
    );
    assert.equal(meta(path).schema_version, 99, 'the database was not touched');
  });
});

// The store contract on SQLite, plus what is SQLite's own: the pragmas and file permissions.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDb from 'better-sqlite3';
import { RecordBatch } from '../../../src/control/audit/record-batch.js';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import type { Store } from '../../../src/control/store/types.js';
import { storeSuite } from './store-suite.js';

describe('SQLite store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sqlite-'));
  const path = join(dir, 'ferry.db');
  let store: Store;
  before(async () => {
    store = await openSqliteStore(path);
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  storeSuite(() => store);

  it('uses WAL, foreign keys, and an owner-only file', () => {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const db = new SqliteDb(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });

  it("forget leaves none of the user's records in the database file or its WAL", async () => {
    const gone = await store.createUser({ name: 'forgetme7', passwordHash: null });
    // The user's records share chunks with another user's, as on a real gateway.
    const batches = [];
    for (let c = 0; c < 8; c++) {
      const b = new RecordBatch(64);
      for (let i = 0; i < 64; i++) {
        const mine = i % 4 === 0;
        b.push(
          5_000_000 + c * 64 + i,
          mine ? 'forgetme7' : 'keeper',
          'http',
          mine ? '198.51.100.77' : '192.0.2.1',
          30_000 + i,
          mine ? 'gone-marker.test' : 'kept.test',
          443,
          i,
          i,
          1,
          'direct',
          null,
        );
      }
      batches.push(b.take());
    }
    await store.addConnectionBatches(batches);
    const files = (): Buffer =>
      Buffer.concat([path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    assert.ok(files().includes('gone-marker.test'), 'the records are in the files before');
    await store.forgetUser(gone.id);
    const left = files();
    for (const secret of ['forgetme7', '198.51.100.77', 'gone-marker.test'])
      assert.ok(!left.includes(secret), `${secret} is gone from the database and the WAL`);
    assert.ok(left.includes('kept.test'), "the other user's records stay");
    assert.equal((await store.listConnections({ user: 'keeper', limit: 10_000 })).length, 8 * 48);
  });
});

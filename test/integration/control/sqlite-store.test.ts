// The store contract on SQLite, plus what is SQLite's own: the pragmas and file permissions.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDb from 'better-sqlite3';
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
});

// The connection-record writers (control/audit/): records packed by RecordBatch come out of the store
// as the fields they were given; the SQLite writer thread stores what it is handed (flush, close),
// prunes by age, and the store-backed writer (PostgreSQL's path, here over SQLite) does the same.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatch, recordOf, type PackedRecords } from '../../../src/control/audit/record-batch.js';
import {
  StoreConnectionWriter,
  type ConnectionWriter,
} from '../../../src/control/audit/connection-writer.js';
import { SqliteConnectionWriter } from '../../../src/control/audit/sqlite-writer.js';
import { openConnectionWriter } from '../../../src/control/audit/open-writer.js';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import { silentLogger } from '../../../src/core/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-audit-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const decodeRecords = (b: PackedRecords): ReturnType<typeof recordOf>[] =>
  Array.from({ length: b.rows }, (_, i) => recordOf(b, i));

/** n records of one user/inbound; record i starts at base + i with i bytes up. */
function batch(n: number, base: number, user: string | null = 'alice'): RecordBatch {
  const b = new RecordBatch(Math.max(n, 1));
  for (let i = 0; i < n; i++)
    b.push(
      base + i,
      user,
      'http',
      '10.0.0.1',
      40000 + i,
      'example.test',
      443,
      i,
      2 * i,
      5,
      'direct',
      'closed',
    );
  return b;
}

test('RecordBatch: fields survive packing; IPv6 in brackets, null user, a refusal, a string table', () => {
  const b = new RecordBatch(3);
  b.push(1000, 'bob', 'socks', '::1', 5, 'fe80::1', 80, 10, 20, 30, 'direct', null);
  b.push(2000, null, 'socks', '::1', 6, 'h.test', 81, 0, 0, 0, 'refused', 'E_POLICY_DENIED');
  assert.equal(b.full, false);
  b.push(3000, 'bob', 'socks', '::1', 7, 'h.test', 82, 1, 2, 3, 'direct', 'idle');
  assert.equal(b.full, true);
  const packed = b.take();
  assert.equal(b.rows, 0, 'empty after take');
  assert.deepEqual(
    [...packed.strings].sort(),
    ['::1', 'E_POLICY_DENIED', 'bob', 'direct', 'fe80::1', 'h.test', 'idle', 'refused', 'socks'].sort(),
  );
  assert.deepEqual(decodeRecords(packed), [
    {
      at: 1000,
      user: 'bob',
      inbound: 'socks',
      source: '[::1]:5',
      destination: '[fe80::1]:80',
      bytesUp: 10,
      bytesDown: 20,
      durationMs: 30,
      decision: 'direct',
    },
    {
      at: 2000,
      user: null,
      inbound: 'socks',
      source: '[::1]:6',
      destination: 'h.test:81',
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
      decision: 'refused E_POLICY_DENIED',
    },
    {
      at: 3000,
      user: 'bob',
      inbound: 'socks',
      source: '[::1]:7',
      destination: 'h.test:82',
      bytesUp: 1,
      bytesDown: 2,
      durationMs: 3,
      decision: 'direct idle',
    },
  ]);
});

test('RecordBatch: a batch taken leaves nothing behind; equal strings share one table entry', () => {
  const b = new RecordBatch(4);
  // Equal strings as different objects, as a parser hands them over for every connection.
  const host = (): string => Buffer.from('h.test').toString('latin1');
  b.push(1, 'bob', 'http', '10.0.0.1', 1, host(), 80, 1, 1, 1, 'direct', null);
  b.push(2, 'bob', 'http', '10.0.0.1', 2, host(), 80, 1, 1, 1, 'direct', null);
  const first = b.take();
  assert.deepEqual([...first.strings].sort(), ['10.0.0.1', 'bob', 'direct', 'h.test', 'http']);
  // The same strings again after take(): they must be in the new batch's own table.
  b.push(3, 'bob', 'http', '10.0.0.1', 3, host(), 80, 1, 1, 1, 'direct', null);
  b.push(4, null, 'http', '10.0.0.1', 4, host(), 80, 0, 0, 0, 'refused', 'E_AUTH');
  const second = b.take();
  assert.deepEqual(
    decodeRecords(second).map((r) => [r.at, r.user, r.destination, r.decision]),
    [
      [3, 'bob', 'h.test:80', 'direct'],
      [4, null, 'h.test:80', 'refused E_AUTH'],
    ],
  );
});

async function exercise(
  name: string,
  make: (store: Awaited<ReturnType<typeof openSqliteStore>>) => ConnectionWriter,
): Promise<void> {
  const store = await openSqliteStore(join(dir, `${name}.db`));
  try {
    const w = make(store);
    w.write(batch(300, 1_000_000).take());
    w.write(batch(200, 2_000_000, null).take());
    assert.ok(w.backlog <= 500);
    await w.flush();
    assert.equal(w.backlog, 0, 'flushed: nothing left');
    const all = await store.listConnections({ limit: 10_000 });
    assert.equal(all.length, 500);
    const first = all.find((r) => r.at === 1_000_007)!;
    assert.deepEqual(first, {
      at: 1_000_007,
      user: 'alice',
      inbound: 'http',
      source: '10.0.0.1:40007',
      destination: 'example.test:443',
      bytesUp: 7,
      bytesDown: 14,
      durationMs: 5,
      decision: 'direct closed',
    });
    assert.equal(all.filter((r) => r.user === null).length, 200);
    // Every row intact, whether it went in a many-row INSERT or one of the remainder's.
    const alice = all.filter((r) => r.user === 'alice');
    assert.equal(new Set(alice.map((r) => r.at)).size, 300);
    for (const r of alice) {
      assert.equal(r.bytesUp, r.at - 1_000_000);
      assert.equal(r.bytesDown, 2 * r.bytesUp);
      assert.equal(r.source, `10.0.0.1:${40000 + r.bytesUp}`);
    }
    // Retention: everything before 2_000_000 goes.
    assert.equal(await w.prune(2_000_000), 300);
    assert.equal((await store.listConnections({ limit: 10_000 })).length, 200);
    // A cut through a chunk: its older records go, the rest stay.
    assert.equal(await w.prune(2_000_150), 150);
    const left = await store.listConnections({ limit: 10_000 });
    assert.deepEqual(
      left.map((r) => r.at),
      Array.from({ length: 50 }, (_, i) => 2_000_199 - i),
    );
    // Close stores what was handed over and not flushed.
    w.write(batch(50, 3_000_000).take());
    await w.close();
    assert.equal((await store.listConnections({ since: 3_000_000, limit: 10_000 })).length, 50);
  } finally {
    await store.close();
  }
}

test('SQLite writer thread: stores, flushes, prunes, and writes the rest at close', async () => {
  await exercise('thread', (store) => {
    const w = openConnectionWriter(store, silentLogger());
    assert.ok(w instanceof SqliteConnectionWriter, 'a SQLite file gets the thread');
    return w;
  });
});

test('store writer (the PostgreSQL path): the same through Store.addConnectionBatches', async () => {
  await exercise('inline', (store) => new StoreConnectionWriter(store, silentLogger()));
});

test('RecordBatch: requests of one client connection to one destination become one record', () => {
  const b = new RecordBatch(8);
  // Three keep-alive requests from 10.0.0.1:40000 to example.test:80, 10 ms apart, 2 ms each.
  for (let i = 0; i < 3; i++)
    b.push(
      1000 + 10 * i,
      'alice',
      'http',
      '10.0.0.1',
      40000,
      'example.test',
      80,
      100,
      1000,
      2,
      'direct',
      null,
    );
  // Different client port, destination, user or outcome: records of their own.
  b.push(1005, 'alice', 'http', '10.0.0.1', 40001, 'example.test', 80, 1, 1, 1, 'direct', null);
  b.push(1006, 'alice', 'http', '10.0.0.1', 40000, 'other.test', 80, 1, 1, 1, 'direct', null);
  b.push(1007, 'bob', 'http', '10.0.0.2', 40000, 'example.test', 80, 1, 1, 1, 'direct', null);
  // Refusals are events: two of them stay two records.
  b.push(1040, 'alice', 'http', '10.0.0.1', 40000, 'example.test', 80, 0, 0, 0, 'refused', 'E_QUOTA');
  b.push(1041, 'alice', 'http', '10.0.0.1', 40000, 'example.test', 80, 0, 0, 0, 'refused', 'E_QUOTA');
  const recs = decodeRecords(b.take());
  assert.equal(recs.length, 6);
  assert.deepEqual(recs[0], {
    at: 1000,
    user: 'alice',
    inbound: 'http',
    source: '10.0.0.1:40000',
    destination: 'example.test:80',
    bytesUp: 300,
    bytesDown: 3000,
    durationMs: 22, // from the first request's start to the last one's end
    decision: 'direct',
  });
  assert.deepEqual(
    recs.slice(1).map((r) => [r.source, r.destination, r.user, r.decision]),
    [
      ['10.0.0.1:40001', 'example.test:80', 'alice', 'direct'],
      ['10.0.0.1:40000', 'other.test:80', 'alice', 'direct'],
      ['10.0.0.2:40000', 'example.test:80', 'bob', 'direct'],
      ['10.0.0.1:40000', 'example.test:80', 'alice', 'refused E_QUOTA'],
      ['10.0.0.1:40000', 'example.test:80', 'alice', 'refused E_QUOTA'],
    ],
  );
});

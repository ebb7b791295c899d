import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageManager } from '../../../src/control/enforcement/usage-manager.js';
import { periodStart, dayOf } from '../../../src/control/quota.js';
import type { Store, Tier, UsageRow } from '../../../src/control/store/types.js';
import { FerryError } from '../../../src/core/errors.js';

function tier(p: Partial<Tier>): Tier {
  return {
    id: 1,
    name: 't',
    upBps: null,
    downBps: null,
    quotaBytes: null,
    quotaPeriod: 'month',
    maxDevices: null,
    maxConnections: null,
    inbounds: null,
    exits: null,
    expiresAt: null,
    ...p,
  };
}

/**
 * The slice of a Store the manager uses, kept in memory: the usage rows it receives, on top of
 * `initial` bytes user 7 had already used (written by an earlier run or another process).
 */
function usageStore(initial = 0): { store: Store; rows: UsageRow[] } {
  const rows: UsageRow[] = [{ userId: 7, day: 0, bytesUp: initial, bytesDown: 0 }];
  const store = {
    addUsage: async (r: UsageRow[]) => void rows.push(...r.map((x) => ({ ...x }))),
    usageTotals: async () => {
      const sums = new Map<number, { userId: number; bytesUp: number; bytesDown: number }>();
      for (const r of rows) {
        const s = sums.get(r.userId) ?? { userId: r.userId, bytesUp: 0, bytesDown: 0 };
        s.bytesUp += r.bytesUp;
        s.bytesDown += r.bytesDown;
        sums.set(r.userId, s);
      }
      return [...sums.values()];
    },
  } as unknown as Store;
  return { store, rows };
}

function code(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    return (e as FerryError).code;
  }
  return 'ok';
}

test('quota: sessions are refused once spent, open ones are aborted, usage is flushed exactly', async () => {
  const { store, rows } = usageStore(900);
  const m = new UsageManager({ store, flushMs: 0 });
  await m.setPolicies([{ userId: 7, name: 'amy', tier: tier({ quotaBytes: 1000 }) }]);
  assert.equal(
    code(() => m.admit('amy', 'proxy', 'direct')),
    'ok',
  );
  const meter = m.meter('amy');
  meter.up(60);
  assert.equal(meter.signal!.aborted, false);
  meter.down(40);
  assert.equal(meter.signal!.aborted, true, 'the byte that reaches the quota ends the session');
  assert.equal(
    code(() => m.admit('amy', 'proxy', 'direct')),
    'E_QUOTA',
  );
  await m.flush();
  assert.deepEqual(
    rows.slice(1).map((r) => [r.userId, r.bytesUp, r.bytesDown]),
    [[7, 60, 40]],
  );
  await m.flush();
  assert.equal(rows.length, 2, 'nothing pending, nothing written');
  assert.equal(
    code(() => m.admit('amy', 'proxy', 'direct')),
    'E_QUOTA',
    'still spent after re-reading the store',
  );
});

test('usage another process wrote counts toward the quota after the next flush (workers, nodes)', async () => {
  const { store, rows } = usageStore(0);
  const m = new UsageManager({ store, flushMs: 0 });
  await m.setPolicies([{ userId: 7, name: 'amy', tier: tier({ quotaBytes: 1000 }) }]);
  const meter = m.meter('amy');
  meter.down(400);
  rows.push({ userId: 7, day: 0, bytesUp: 0, bytesDown: 500 }); // another worker's batch
  assert.equal(meter.signal!.aborted, false);
  await m.flush(); // writes our 400, reads 900
  meter.down(100);
  assert.equal(meter.signal!.aborted, true, '400 + 500 + 100 reach the quota');
});

test('tier rules: inbound kinds, exits, concurrent connections, expiry', async () => {
  let now = Date.UTC(2026, 10, 26);
  const m = new UsageManager({ store: null, now: () => now });
  await m.setPolicies([
    {
      userId: 1,
      name: 'bo',
      tier: tier({ inbounds: ['proxy'], exits: ['direct'], maxConnections: 2, expiresAt: now + 1000 }),
    },
  ]);
  assert.equal(
    code(() => m.admit('bo', 'vpn', 'direct')),
    'E_POLICY_DENIED',
  );
  assert.equal(
    code(() => m.admit('bo', 'proxy', 'us-east')),
    'E_POLICY_DENIED',
  );
  const a = m.meter('bo');
  m.meter('bo');
  assert.equal(
    code(() => m.admit('bo', 'proxy', 'direct')),
    'E_LIMIT',
  );
  a.close();
  assert.equal(
    code(() => m.admit('bo', 'proxy', 'direct')),
    'ok',
  );
  now += 1000;
  assert.equal(
    code(() => m.admit('bo', 'proxy', 'direct')),
    'E_QUOTA',
  );
  assert.equal(
    code(() => m.admit('someone-from-config', 'vpn', 'x')),
    'ok',
    'users without a tier are not limited',
  );
});

test('removing a user closes their sessions; killUser closes them on demand', async () => {
  const m = new UsageManager({ store: null });
  await m.setPolicies([
    { userId: 1, name: 'cy', tier: null },
    { userId: 2, name: 'di', tier: null },
  ]);
  const c = m.meter('cy');
  const d = m.meter('di');
  assert.equal(m.killUser('di'), 1);
  assert.ok(d.signal!.aborted);
  await m.setPolicies([{ userId: 2, name: 'di', tier: null }]);
  assert.ok(c.signal!.aborted);
});

test('a failed flush keeps the bytes for the next one', async () => {
  let fail = true;
  const rows: UsageRow[] = [];
  const store = {
    addUsage: async (r: UsageRow[]) => {
      if (fail) throw new Error('disk full');
      rows.push(...r);
    },
    usageTotals: async () => [],
  } as unknown as Store;
  const errors: string[] = [];
  const m = new UsageManager({ store, flushMs: 0, onError: (e) => errors.push(e.message) });
  await m.setPolicies([{ userId: 3, name: 'ed', tier: null }]);
  m.meter('ed').up(500);
  await m.flush();
  assert.deepEqual(errors, ['disk full']);
  fail = false;
  await m.flush();
  assert.equal(rows[0]!.bytesUp, 500);
});

test('quota periods', () => {
  const now = Date.UTC(2026, 10, 26, 15, 30);
  assert.equal(periodStart('month', now), Date.UTC(2026, 10, 1));
  assert.equal(periodStart('rolling30', now), Date.UTC(2026, 9, 28));
  assert.equal(dayOf(now), Date.UTC(2026, 10, 26));
});

test('bytes of one flush period are written as one row per user and day', async () => {
  const { store, rows } = usageStore(0);
  let now = Date.UTC(2030, 0, 1, 23);
  const m = new UsageManager({ store, flushMs: 0, now: () => now });
  await m.setPolicies([
    { userId: 7, name: 'amy', tier: null },
    { userId: 8, name: 'bo', tier: null },
  ]);
  const a = m.meter('amy');
  const b = m.meter('bo');
  a.up(10);
  a.down(20);
  b.up(0); // nothing to count: no row
  await m.flush();
  now += 3_600_000; // the next UTC day
  a.up(5);
  await m.close();
  assert.deepEqual(rows.slice(1), [
    { userId: 7, day: Date.UTC(2030, 0, 1), bytesUp: 10, bytesDown: 20 },
    { userId: 7, day: Date.UTC(2030, 0, 2), bytesUp: 5, bytesDown: 0 },
  ]);
});

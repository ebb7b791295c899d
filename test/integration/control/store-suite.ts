// The Store contract, run against each backend (sqlite-store.test.ts, postgres-store.test.ts): the
// same calls must give the same results on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { FerryError } from '../../../src/core/errors.js';
import type { NewTier, Store } from '../../../src/control/store/types.js';
import { SCHEMA_VERSION } from '../../../src/control/store/migrations/index.js';
import { RecordBatch } from '../../../src/control/audit/record-batch.js';

const DAY = 86_400_000;

export const tierInput = (name: string, over: Partial<NewTier> = {}): NewTier => ({
  name,
  upBps: 1_048_576,
  downBps: null,
  quotaBytes: 5 * 2 ** 40, // above 2^32: bigint columns must round-trip
  quotaPeriod: 'month',
  maxDevices: 3,
  maxConnections: null,
  inbounds: ['proxy', 'vpn'],
  exits: null,
  expiresAt: null,
  ...over,
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof FerryError && e.code === code);
}

export function storeSuite(getStore: () => Store): void {
  it('is migrated and starts at revision 1', async () => {
    const s = getStore();
    assert.equal(await s.schemaVersion(), SCHEMA_VERSION);
    assert.ok((await s.revision()) >= 1);
  });

  it('keeps one Shadowsocks key per user, replaced in place, gone with the user', async () => {
    const s = getStore();
    const u = await s.createUser({ name: 'ss-key-user' });
    assert.equal(await s.getShadowsocksKey(u.id), null);
    const r0 = await s.revision();
    await s.setShadowsocksKey(u.id, 'first');
    assert.ok((await s.revision()) > r0, 'the data plane must see key changes');
    await s.setShadowsocksKey(u.id, 'second');
    assert.equal(await s.getShadowsocksKey(u.id), 'second');
    assert.deepEqual(
      (await s.listShadowsocksKeys()).filter((k) => k.userId === u.id),
      [{ userId: u.id, secret: 'second' }],
    );
    await s.deleteUser(u.id);
    assert.equal((await s.listShadowsocksKeys()).filter((k) => k.userId === u.id).length, 0);
  });

  it('round-trips users, tiers and credentials, with bigints intact', async () => {
    const s = getStore();
    const t = await s.createTier(tierInput('rt-tier'));
    assert.deepEqual(await s.getTier('rt-tier'), t);
    assert.equal(t.quotaBytes, 5 * 2 ** 40);
    assert.deepEqual(t.inbounds, ['proxy', 'vpn']);
    const u = await s.createUser({
      name: 'rt-user',
      tierId: t.id,
      expiresAt: 4_102_444_800_000,
      passwordHash: 'scrypt$x',
    });
    assert.equal(u.role, 'member');
    assert.equal(u.enabled, true);
    assert.deepEqual(await s.getUser(u.id), u);
    assert.deepEqual(await s.getUser('rt-user'), u);
    assert.equal(await s.getLoginHash(u.id), 'scrypt$x');
    const upd = await s.updateUser(u.id, { enabled: false, role: 'admin' });
    assert.equal(upd.enabled, false);
    assert.equal(upd.role, 'admin');
    assert.equal(upd.tierId, t.id);
    const c = await s.addProxyCredential(u.id, 'rt-user', 'scrypt$a');
    assert.deepEqual(await s.getProxyCredential('rt-user'), c);
    const c2 = await s.setProxyCredentialHash(c.id, 'scrypt$b');
    assert.equal(c2.passwordHash, 'scrypt$b');
    assert.equal(c2.id, c.id);
    const t2 = await s.updateTier(t.id, { exits: ['x'], quotaPeriod: 'rolling30' });
    assert.deepEqual(t2.exits, ['x']);
    assert.equal(t2.quotaPeriod, 'rolling30');
    assert.equal(t2.upBps, 1_048_576);
  });

  it('bumps the revision on data-plane writes, in the same transaction', async () => {
    const s = getStore();
    const r0 = await s.revision();
    const u = await s.createUser({ name: 'rev-user' });
    const r1 = await s.revision();
    assert.ok(r1 > r0);
    await s.addProxyCredential(u.id, 'rev-user', 'h');
    const r2 = await s.revision();
    assert.ok(r2 > r1);
    // Usage and audit events are not data-plane configuration.
    await s.addUsage([{ userId: u.id, day: 0, bytesUp: 1, bytesDown: 1 }]);
    await s.addAuditEvent({ at: 1, actor: 'test', action: 'x', target: null, details: null });
    assert.equal(await s.revision(), r2);
    // A failed transaction leaves neither the write nor the bump behind.
    await assert.rejects(
      s.transaction(async (tx) => {
        await tx.createUser({ name: 'rolled-back' });
        throw new Error('abort');
      }),
    );
    assert.equal(await s.getUser('rolled-back'), null);
    assert.equal(await s.revision(), r2);
  });

  it('maps unique and foreign-key violations to E_CONFLICT, missing rows to E_NOT_FOUND', async () => {
    const s = getStore();
    const t = await s.createTier(tierInput('fk-tier'));
    const u = await s.createUser({ name: 'dup', tierId: t.id });
    await rejectsWith(s.createUser({ name: 'dup' }), 'E_CONFLICT');
    await s.addProxyCredential(u.id, 'dup', 'h');
    await rejectsWith(s.addProxyCredential(u.id, 'dup', 'h'), 'E_CONFLICT');
    await rejectsWith(s.deleteTier(t.id), 'E_CONFLICT'); // restrict: a user has it
    await rejectsWith(s.updateUser(999_999, { enabled: false }), 'E_NOT_FOUND');
    await rejectsWith(s.deleteToken(999_999), 'E_NOT_FOUND');
  });

  it('adds usage in batches, merging duplicate keys and skipping removed users', async () => {
    const s = getStore();
    const u = await s.createUser({ name: 'usage-user' });
    const gone = await s.createUser({ name: 'usage-gone' });
    await s.deleteUser(gone.id);
    const big = 3 * 2 ** 32;
    await s.addUsage([
      { userId: u.id, day: 10 * DAY, bytesUp: big, bytesDown: 1 },
      { userId: u.id, day: 10 * DAY, bytesUp: 5, bytesDown: 2 },
      { userId: u.id, day: 11 * DAY, bytesUp: 1, bytesDown: 1 },
      { userId: gone.id, day: 10 * DAY, bytesUp: 7, bytesDown: 7 },
    ]);
    await s.addUsage([{ userId: u.id, day: 11 * DAY, bytesUp: 1, bytesDown: 1 }]);
    assert.deepEqual(await s.listUsage(u.id), [
      { userId: u.id, day: 10 * DAY, bytesUp: big + 5, bytesDown: 3 },
      { userId: u.id, day: 11 * DAY, bytesUp: 2, bytesDown: 2 },
    ]);
    assert.deepEqual(await s.usageSince(u.id, 11 * DAY), { bytesUp: 2, bytesDown: 2 });
    const totals = await s.usageTotals(10 * DAY);
    assert.deepEqual(
      totals.find((r) => r.userId === u.id),
      { userId: u.id, bytesUp: big + 7, bytesDown: 5 },
    );
    assert.equal(
      totals.find((r) => r.userId === gone.id),
      undefined,
    );
  });

  it('stores tokens by hash only and finds them with the user name', async () => {
    const s = getStore();
    const u = await s.createUser({ name: 'tok-user' });
    const t = await s.createToken({
      userId: u.id,
      name: 'ci',
      scopes: ['read'],
      expiresAt: null,
      tokenHash: 'ab'.repeat(32),
    });
    const f = await s.findTokenByHash('ab'.repeat(32));
    assert.equal(f?.userName, 'tok-user');
    assert.deepEqual(f?.scopes, ['read']);
    await s.touchToken(t.id, 12345);
    assert.equal((await s.getToken(t.id))?.lastUsedAt, 12345);
    assert.equal(await s.findTokenByHash('cd'.repeat(32)), null);
    await s.deleteToken(t.id);
    assert.deepEqual(await s.listTokens(u.id), []);
  });

  it('round-trips peers; cascades a user removal to credentials, tokens, peers and usage', async () => {
    const s = getStore();
    const u = await s.createUser({ name: 'casc' });
    const key = 'A'.repeat(43) + '=';
    const p = await s.createPeer({
      userId: u.id,
      name: 'phone',
      publicKey: key,
      presharedKey: null,
      addressV4: '10.7.0.2',
      addressV6: null,
    });
    assert.deepEqual(await s.getPeer(p.id), p);
    assert.equal((await s.updatePeer(p.id, { addressV6: 'fd00::2' })).addressV6, 'fd00::2');
    await s.addProxyCredential(u.id, 'casc', 'h');
    await s.createToken({
      userId: u.id,
      name: 't',
      scopes: ['self'],
      expiresAt: null,
      tokenHash: 'ef'.repeat(32),
    });
    await s.addUsage([{ userId: u.id, day: 0, bytesUp: 1, bytesDown: 1 }]);
    await s.deleteUser(u.id);
    assert.deepEqual(await s.listPeers(u.id), []);
    assert.deepEqual(await s.listProxyCredentials(u.id), []);
    assert.deepEqual(await s.listTokens(u.id), []);
    assert.deepEqual(await s.listUsage(u.id), []);
  });

  it('lists audit events newest first, by subject; prunes connection records', async () => {
    const s = getStore();
    await s.addAuditEvent({ at: 100, actor: 'root', action: 'a.one', target: 'subj', details: { k: 1 } });
    await s.addAuditEvent({ at: 200, actor: 'subj', action: 'a.two', target: null, details: null });
    await s.addAuditEvent({ at: 300, actor: 'root', action: 'a.three', target: 'other', details: null });
    const bySubject = await s.listAuditEvents({ subject: 'subj' });
    assert.deepEqual(
      bySubject.map((e) => e.action),
      ['a.two', 'a.one'],
    );
    assert.deepEqual(bySubject[1]!.details, { k: 1 });
    assert.equal((await s.listAuditEvents({ limit: 1 }))[0]!.action, 'a.three');
    const rec = {
      user: 'subj',
      inbound: 'h',
      source: '127.0.0.1:5',
      destination: 'example.test:443',
      bytesUp: 1,
      bytesDown: 2,
      durationMs: 3,
      decision: 'direct',
    };
    await s.addConnections([
      { at: 1000, ...rec },
      { at: 5000, ...rec },
    ]);
    assert.equal(await s.pruneConnections(2000), 1);
    assert.deepEqual(
      (await s.listConnections({ user: 'subj' })).map((c) => c.at),
      [5000],
    );
    // Every field comes back as written (types included), a session without a user too.
    assert.deepEqual((await s.listConnections({ user: 'subj' }))[0], { at: 5000, ...rec });
    await s.addConnections([{ ...rec, at: 6000, user: null, source: '[::1]:9', destination: 'é.test:1' }]);
    const anon = (await s.listConnections({ since: 5500 })).find((c) => c.at === 6000);
    assert.deepEqual(anon, { ...rec, at: 6000, user: null, source: '[::1]:9', destination: 'é.test:1' });
  });

  it('exports a user without secrets, and forgets them with a pseudonym in the audit trail', async () => {
    const s = getStore();
    const u = await s.createUser({ name: 'gdpr', passwordHash: 'scrypt$secret-login' });
    await s.addProxyCredential(u.id, 'gdpr', 'scrypt$secret-proxy');
    await s.addAuditEvent({
      at: 1,
      actor: 'root',
      action: 'user.create',
      target: 'gdpr',
      details: { tier: 'x' },
    });
    await s.addConnections([
      {
        at: 1,
        user: 'gdpr',
        inbound: 'h',
        source: 's',
        destination: 'd',
        bytesUp: 0,
        bytesDown: 0,
        durationMs: 0,
        decision: 'direct',
      },
    ]);
    const ex = await s.exportUser(u.id);
    const text = JSON.stringify(ex);
    assert.ok(!text.includes('secret-login') && !text.includes('secret-proxy'), 'no hashes in the export');
    assert.equal((ex.credentials as unknown[]).length, 1);
    assert.equal((ex.connections as unknown[]).length, 1);
    await s.forgetUser(u.id, {
      event: { at: 2, actor: 'root', action: 'user.forget', target: null, details: null },
    });
    assert.equal(await s.getUser('gdpr'), null);
    assert.deepEqual(await s.listConnections({ user: 'gdpr' }), []);
    assert.deepEqual(await s.listAuditEvents({ subject: 'gdpr' }), []);
    const redacted = await s.listAuditEvents({ subject: `forgotten#${u.id}` });
    assert.equal(redacted.length, 1);
    assert.equal(redacted[0]!.details, null);
    assert.equal((await s.listAuditEvents({ limit: 1 }))[0]!.action, 'user.forget');
  });

  it('keeps connection records in chunks: newest first across many, by user and time; forget and retention rewrite shared chunks', async () => {
    const s = getStore();
    await s.pruneConnections(Number.MAX_SAFE_INTEGER); // what earlier tests left
    const ann = await s.createUser({ name: 'ann', passwordHash: null });
    // 40 batches of 3 records (more chunks than one query of a listing reads): record k starts at
    // 100_000 + k; ann and bea take turns, every record from its own client port.
    const batches = [];
    for (let c = 0; c < 40; c++) {
      const b = new RecordBatch(3);
      for (let j = 0; j < 3; j++) {
        const k = c * 3 + j;
        b.push(
          100_000 + k,
          k % 2 ? 'bea' : 'ann',
          'socks',
          `10.9.${k % 2}.1`,
          20_000 + k,
          'h.test',
          80,
          k,
          0,
          1,
          'direct',
          null,
        );
      }
      batches.push(b.take());
    }
    await s.addConnectionBatches(batches);
    const ats = async (o: { since?: number; user?: string; limit?: number }): Promise<number[]> =>
      (await s.listConnections(o)).map((r) => r.at - 100_000);
    const range = (from: number, to: number, step = 1): number[] => {
      const out: number[] = [];
      for (let k = from; k >= to; k -= step) out.push(k);
      return out;
    };
    assert.deepEqual(await ats({ limit: 100 }), range(119, 20));
    assert.deepEqual(await ats({ limit: 1000, user: 'ann' }), range(118, 0, 2));
    assert.deepEqual(await ats({ limit: 1000, user: 'bea', since: 100_050 }), range(119, 51, 2));
    const one = (await s.listConnections({ limit: 1, user: 'bea' }))[0];
    assert.deepEqual(one, {
      at: 100_119,
      user: 'bea',
      inbound: 'socks',
      source: '10.9.1.1:20119',
      destination: 'h.test:80',
      bytesUp: 119,
      bytesDown: 0,
      durationMs: 1,
      decision: 'direct',
    });

    // Retention cuts through a chunk (records 60..62): the older part goes, the rest keeps its place.
    assert.equal(await s.pruneConnections(100_061), 61);
    assert.deepEqual(await ats({ limit: 1000 }), range(119, 61));

    // Forgetting ann rewrites every chunk: bea's records stay, in order, and ann's are gone.
    await s.forgetUser(ann.id);
    assert.deepEqual(await ats({ limit: 1000 }), range(119, 61, 2));
    assert.deepEqual(await s.listConnections({ user: 'ann' }), []);
    const bea = await s.listConnections({ limit: 1000 });
    assert.ok(bea.every((r) => r.user === 'bea' && r.source.startsWith('10.9.1.1:')));
    assert.equal(await s.pruneConnections(200_000), bea.length);
    assert.deepEqual(await s.listConnections({ limit: 1000 }), []);
  });
}

// The control service over a real SQLite store: every resource round-trips, scopes are enforced,
// config users are read-only, every admin action is audited, and no secret is stored in the clear.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword, verifyPassword } from '../../../src/auth/password-hash.js';
import type { ControlApi } from '../../../src/control/client.js';
import { loadProxyUsers, loadQuotaUsage, loadTiers } from '../../../src/control/data-plane.js';
import { ControlService } from '../../../src/control/service/index.js';
import { localPrincipal } from '../../../src/control/service/principal.js';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import type { Store } from '../../../src/control/store/types.js';
import { UsageManager } from '../../../src/control/enforcement/usage-manager.js';
import { FerryError } from '../../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-svc-'));
let store: Store;
let clock = Date.UTC(2030, 0, 15, 12);
let service: ControlService;
let admin: ControlApi;
const secrets: string[] = [];

// Real scrypt, with small parameters so the suite stays fast.
const fastHash = (p: string) => hashPassword(p, { logN: 10, r: 8, p: 1 });

async function fails(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FerryError, `expected a FerryError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

before(async () => {
  store = await openSqliteStore(join(dir, 'ferry.db'));
  service = new ControlService(store, { now: () => clock, configUsers: ['cfguser'], hashPassword: fastHash });
  admin = service.as(localPrincipal('tester'));
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('users and credentials', () => {
  it('adds a user with a generated proxy password that the data plane can check', async () => {
    await admin.tiers.create({
      name: 'basic',
      up: '1M',
      down: '2M',
      quota: '10G',
      period: 'month',
      maxDevices: 1,
    });
    const r = await admin.users.add({ name: 'alice', tier: 'basic', expires: '2031-01-01' });
    secrets.push(r.credential.password);
    assert.equal(r.user.tier, 'basic');
    assert.equal(r.user.expiresAt, '2031-01-01T00:00:00.000Z');
    assert.equal(r.credential.username, 'alice');
    assert.match(r.credential.password, /^[A-Za-z0-9_-]{32}$/);
    const logins = await loadProxyUsers(store, clock);
    const a = logins.find((l) => l.username === 'alice')!;
    assert.equal(a.userName, 'alice');
    assert.equal(a.enabled, true);
    assert.ok(await verifyPassword(r.credential.password, a.passwordHash));
    const tiers = await loadTiers(store);
    assert.equal(tiers.get(a.tierId!)!.upBps, 1_048_576);
  });

  it('rotates the proxy password: the old one stops working', async () => {
    const before = (await loadProxyUsers(store, clock)).find((l) => l.username === 'alice')!;
    const s = await admin.users.passwd('alice');
    secrets.push(s.password);
    const now = (await loadProxyUsers(store, clock)).find((l) => l.username === 'alice')!;
    assert.ok(await verifyPassword(s.password, now.passwordHash));
    assert.ok(!(await verifyPassword(secrets[0]!, now.passwordHash)));
    assert.notEqual(before.passwordHash, now.passwordHash);
  });

  it('adds, rotates and removes extra credentials named after the user', async () => {
    const c = await admin.credentials.add({ user: 'alice' });
    assert.equal(c.username, 'alice-2');
    secrets.push(c.password);
    await fails(
      admin.credentials.add({ user: 'alice', username: 'mallory' }),
      'E_INVALID',
      /start with 'alice-'/,
    );
    await fails(
      admin.credentials.add({ user: 'alice', username: 'alice-country-us' }),
      'E_INVALID',
      /exit parameters/,
    );
    const r = await admin.credentials.rotate('alice-2', { password: 'chosen-password-1' });
    assert.equal(r.username, 'alice-2');
    assert.deepEqual(
      (await admin.credentials.list('alice')).map((x) => x.username),
      ['alice', 'alice-2'],
    );
    await admin.credentials.remove('alice-2');
    await fails(admin.credentials.remove('alice-2'), 'E_NOT_FOUND');
  });

  it('shows a user with credential names, tier, usage and devices', async () => {
    await admin.peers.add({
      user: 'alice',
      name: 'phone',
      publicKey: 'B'.repeat(42) + 'A=',
      addressV4: '10.8.0.2',
    });
    await fails(
      admin.peers.add({ user: 'alice', name: 'laptop', publicKey: 'C'.repeat(42) + 'E=' }),
      'E_CONFLICT',
      /allows 1 device/,
    );
    const u = await admin.users.show('alice');
    assert.deepEqual(
      u.credentials.map((c) => c.username),
      ['alice'],
    );
    assert.deepEqual(
      u.devices.map((d) => [d.name, d.addressV4]),
      [['phone', '10.8.0.2']],
    );
    assert.equal(u.usage!.quota, 10 * 2 ** 30);
    assert.equal(JSON.stringify(u).includes('scrypt'), false, 'no hashes in a view');
  });

  it('disables, enables and expires users for the data plane', async () => {
    await admin.users.disable('alice');
    assert.equal((await loadProxyUsers(store, clock)).find((l) => l.username === 'alice')!.enabled, false);
    await admin.users.enable('alice');
    const later = Date.UTC(2031, 5, 1);
    assert.equal((await loadProxyUsers(store, later)).find((l) => l.username === 'alice')!.enabled, false);
    await fails(admin.users.update('alice', { expires: '2020-01-01' }), 'E_INVALID', /in the past/);
  });

  it('refuses bad input with E_INVALID and duplicates with E_CONFLICT', async () => {
    await fails(admin.users.add({ name: 'has space' }), 'E_INVALID', /name/);
    await fails(admin.users.add({ name: 'x', role: 'root' as never }), 'E_INVALID', /role/);
    await fails(admin.users.add({ name: 'x', password: 'short' }), 'E_INVALID', /8 characters/);
    await fails(admin.users.add({ name: 'x', tier: 'nope' }), 'E_NOT_FOUND', /tier 'nope'/);
    await fails(admin.users.add({ name: 'alice' }), 'E_CONFLICT', /exists/);
    await fails(admin.users.show('nobody'), 'E_NOT_FOUND');
  });

  it('treats config users as read-only overrides', async () => {
    await fails(admin.users.add({ name: 'cfguser' }), 'E_CONFLICT', /configuration file/);
    await fails(admin.users.passwd('cfguser'), 'E_CONFLICT', /configuration file/);
    await fails(admin.users.disable('cfguser'), 'E_CONFLICT', /configuration file/);
    await fails(admin.users.remove('cfguser'), 'E_CONFLICT', /configuration file/);
    const listed = (await admin.users.list()).find((u) => u.name === 'cfguser');
    assert.equal(listed?.source, 'config');
    assert.equal((await admin.users.show('cfguser')).source, 'config');
  });
});

describe('tiers', () => {
  it('creates, updates, shows and removes tiers; refuses to remove one in use', async () => {
    const t = await admin.tiers.create({
      name: 'pro',
      up: '10M',
      down: 5_000_000,
      quota: '100G',
      period: 'rolling30',
      maxConnections: 100,
      inbounds: ['proxy', 'vpn'],
      exits: ['de', 'us'],
      expires: '365d',
    });
    assert.deepEqual(
      [t.up, t.down, t.quota, t.period],
      [10 * 2 ** 20, 5_000_000, 100 * 2 ** 30, 'rolling30'],
    );
    assert.equal(t.expiresAt, new Date(clock + 365 * 86_400_000).toISOString());
    const u = await admin.tiers.update('pro', { quota: 'unlimited', inbounds: 'all' });
    assert.equal(u.quota, null);
    assert.equal(u.inbounds, null);
    assert.deepEqual(u.exits, ['de', 'us'], 'fields not given stay');
    await admin.users.add({ name: 'bob', tier: 'pro' });
    assert.deepEqual((await admin.tiers.show('pro')).users, ['bob']);
    await fails(admin.tiers.remove('pro'), 'E_CONFLICT', /used by 1 user/);
    await admin.users.update('bob', { tier: null });
    await admin.tiers.remove('pro');
    await fails(admin.tiers.show('pro'), 'E_NOT_FOUND');
    await fails(admin.tiers.create({ name: 'bad', up: '10 furlongs' }), 'E_INVALID', /not a size/);
    await fails(admin.tiers.create({ name: 'bad', inbounds: ['carrier-pigeon' as never] }), 'E_INVALID');
  });
});

describe('tokens and scopes', () => {
  let adminToken = '';
  let memberToken = '';
  before(async () => {
    await admin.users.add({ name: 'root-admin', role: 'admin' });
    adminToken = (await admin.tokens.create({ user: 'root-admin', scope: 'admin', expires: '30d' })).secret;
    memberToken = (await admin.tokens.create({ user: 'alice', scope: 'self' })).secret;
    secrets.push(adminToken, memberToken);
  });

  it('hands out fy_ tokens once and authenticates them', async () => {
    assert.match(adminToken, /^fy_[A-Za-z0-9_-]{43}$/);
    const p = await service.authenticateToken(adminToken);
    assert.equal(p.user, 'root-admin');
    assert.deepEqual([...p.scopes], ['admin']);
    await fails(service.authenticateToken('fy_' + 'A'.repeat(43)), 'E_AUTH');
    await fails(service.authenticateToken('nonsense'), 'E_AUTH');
    const [t] = await admin.tokens.list('root-admin');
    assert.ok(t!.lastUsedAt, 'use is recorded');
  });

  it('a member token cannot manage users; it can see and rotate only its own', async () => {
    const self = service.as(await service.authenticateToken(memberToken));
    await fails(self.users.add({ name: 'eve' }), 'E_FORBIDDEN');
    await fails(self.users.remove('bob'), 'E_FORBIDDEN');
    await fails(self.users.show('bob'), 'E_FORBIDDEN');
    await fails(self.tiers.create({ name: 't' }), 'E_FORBIDDEN');
    await fails(self.audit.list(), 'E_FORBIDDEN');
    await fails(self.tokens.create({ user: 'alice', scope: 'admin' }), 'E_FORBIDDEN');
    assert.equal((await self.users.show('alice')).name, 'alice');
    assert.deepEqual(
      (await self.users.list()).map((u) => u.name),
      ['alice'],
    );
    assert.deepEqual(
      (await self.usage.report()).map((r) => r.user),
      ['alice'],
    );
    const s = await self.users.passwd('alice');
    secrets.push(s.password);
    assert.equal((await admin.audit.list({ limit: 1 }))[0]!.actor, 'alice');
  });

  it('a member cannot be given an admin or read token', async () => {
    await fails(
      admin.tokens.create({ user: 'alice', scope: 'admin' }),
      'E_INVALID',
      /member can only hold self/,
    );
  });

  it('a read token reads everything and changes nothing', async () => {
    const t = await admin.tokens.create({ user: 'root-admin', scope: 'read', expires: '1d' });
    secrets.push(t.secret);
    const reader = service.as(await service.authenticateToken(t.secret));
    assert.ok((await reader.users.list()).length >= 3);
    assert.ok((await reader.audit.list()).length > 0);
    await fails(reader.users.disable('alice'), 'E_FORBIDDEN');
    await fails(reader.users.export('alice'), 'E_FORBIDDEN');
  });

  it("refuses an expired token, a revoked token, and a demoted admin's admin token", async () => {
    const t = await admin.tokens.create({ user: 'root-admin', scope: 'admin', expires: '1h' });
    secrets.push(t.secret);
    await service.authenticateToken(t.secret);
    const saved = clock;
    clock += 2 * 3_600_000;
    try {
      await fails(service.authenticateToken(t.secret), 'E_AUTH', /expired/);
    } finally {
      clock = saved;
    }
    await admin.tokens.revoke(t.token.id);
    await fails(service.authenticateToken(t.secret), 'E_AUTH');
    await admin.users.update('root-admin', { role: 'member' });
    const demoted = service.as(await service.authenticateToken(adminToken));
    await fails(demoted.users.add({ name: 'eve' }), 'E_FORBIDDEN');
    await admin.users.update('root-admin', { role: 'admin' });
  });
});

describe('usage, audit, privacy', () => {
  it('counts usage through the data plane usage manager and reports it against the quota', async () => {
    const alice = (await loadProxyUsers(store, clock)).find((l) => l.username === 'alice')!;
    const m = new UsageManager({ store, flushMs: 0, now: () => clock });
    await m.setPolicies([{ userId: alice.userId, name: 'alice', tier: null }]);
    const meter = m.meter('alice');
    meter.up(1000);
    meter.down(24);
    meter.down(1000);
    meter.close();
    await m.close();
    const [r] = await admin.usage.report('alice');
    assert.deepEqual([r!.bytesUp, r!.bytesDown, r!.bytesTotal, r!.period], [1000, 1024, 2024, 'month']);
    assert.equal(r!.remaining, 10 * 2 ** 30 - 2024);
    assert.equal(r!.periodStart, '2030-01-01T00:00:00.000Z');
    assert.equal((await loadQuotaUsage(store, clock)).get(alice.userId), 2024);
  });

  it('audits every admin action without secrets, and the database holds no secret in the clear', async () => {
    const actions = new Set((await admin.audit.list({ limit: 1000 })).map((e) => e.action));
    for (const a of [
      'tier.create',
      'tier.update',
      'tier.remove',
      'user.create',
      'user.update',
      'user.disable',
      'user.enable',
      'credential.rotate',
      'credential.add',
      'credential.remove',
      'token.create',
      'token.revoke',
      'peer.add',
    ])
      assert.ok(actions.has(a), `audited: ${a}`);
    const audit = JSON.stringify(await admin.audit.list({ limit: 1000 }));
    const db =
      readFileSync(join(dir, 'ferry.db')).toString('latin1') +
      readFileSync(join(dir, 'ferry.db-wal')).toString('latin1');
    assert.ok(secrets.length >= 8);
    for (const s of [...secrets, 'chosen-password-1']) {
      assert.ok(!audit.includes(s), 'no secret in the audit log');
      assert.ok(!db.includes(s), 'no secret in the database files');
    }
  });

  it('bumps the revision on every data-plane change', async () => {
    const r0 = await store.revision();
    await admin.users.disable('bob');
    const r1 = await store.revision();
    assert.ok(r1 > r0);
    await admin.tiers.update('basic', { up: '2M' });
    assert.ok((await store.revision()) > r1);
  });

  it('exports everything about a user and forgets them', async () => {
    const ex = await admin.users.export('alice');
    assert.equal(ex.format, 'ferry-user-export/1');
    assert.equal((ex.user as { name: string }).name, 'alice');
    assert.ok((ex.auditEvents as unknown[]).length > 3);
    assert.ok(!JSON.stringify(ex).includes('scrypt$'));
    await admin.users.forget('alice');
    await fails(admin.users.show('alice'), 'E_NOT_FOUND');
    const events = await admin.audit.list({ limit: 1000 });
    assert.equal(events[0]!.action, 'user.forget');
    assert.equal(events[0]!.target, null);
    assert.ok(!JSON.stringify(events).includes('"alice'), 'the name is gone from the audit trail');
    assert.ok(events.some((e) => e.target?.startsWith('forgotten#')));
    assert.equal(
      (await loadProxyUsers(store, clock)).some((l) => l.userName === 'alice'),
      false,
    );
  });
});

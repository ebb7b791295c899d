// The REST API against a real SQLite store: round trips for every resource, authentication and
// scopes (admin / read / self, expired and revoked tokens), JSON errors with stable codes, live
// sessions through the LiveSessions interface, and the 501 answers when the gateway gave none.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ControlService } from '../../../src/control/service/index.js';
import { localPrincipal } from '../../../src/control/service/principal.js';
import { startApiServer } from '../../../src/control/api/server.js';
import { assertError, assertShape, fakeLive, http, startHarness, type Harness } from './harness.js';

/** A WireGuard public key: base64 of 32 bytes. */
const KEY = () => randomBytes(32).toString('base64');

const live = fakeLive([
  {
    id: '1',
    user: 'alice',
    inbound: 'h',
    source: '127.0.0.1:5000',
    destination: 'example.test:443',
    bytesUp: 10,
    bytesDown: 20,
  },
  { id: '2', user: 'alice', inbound: 's', bytesUp: 0, bytesDown: 0 },
  { id: '3', user: 'bob', inbound: 'h', bytesUp: 5, bytesDown: 5 },
]);

let h: Harness;
let base: string;
let admin: string;
const call = (method: string, path: string, token: string | undefined, body?: unknown) =>
  http(base, method, `/api/v1${path}`, {
    ...(token !== undefined ? { token } : {}),
    ...(body !== undefined ? { body } : {}),
  });

before(async () => {
  h = await startHarness({
    live,
    status: () => ({ listeners: [{ name: 'h', type: 'http', address: '127.0.0.1:8080' }] }),
    version: '9.9.9-test',
  });
  base = h.server.url;
  admin = h.adminToken;
});
after(() => h?.close());

describe('REST API round trips (admin token)', () => {
  it('tiers: create, list, show, update, remove', async () => {
    let r = await call('POST', '/tiers', admin, {
      name: 'gold',
      up: '10M',
      down: 1048576,
      quota: '100G',
      maxDevices: 2,
    });
    assert.equal(r.status, 201, r.text);
    assertShape('createTier', r.json);
    assert.equal(r.json.up, 10 * 2 ** 20);
    assert.equal(r.json.quota, 100 * 2 ** 30);
    r = await call('POST', '/tiers', admin, { name: 'tmp' });
    assert.equal(r.status, 201, r.text);
    r = await call('GET', '/tiers', admin);
    assert.equal(r.status, 200);
    assertShape('listTiers', r.json);
    assert.deepEqual(r.json.map((t: { name: string }) => t.name).sort(), ['gold', 'tmp']);
    r = await call('PATCH', '/tiers/tmp', admin, { quota: 'unlimited', period: 'rolling30' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.quota, null);
    assert.equal(r.json.period, 'rolling30');
    r = await call('GET', '/tiers/tmp', admin);
    assertShape('showTier', r.json);
    assert.deepEqual(r.json.users, []);
    r = await call('DELETE', '/tiers/tmp', admin);
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assertError(await call('GET', '/tiers/tmp', admin), 404, 'E_NOT_FOUND');
  });

  it('users: add (password once), list, show, update, disable/enable, passwd, login password', async () => {
    let r = await call('POST', '/users', admin, { name: 'alice', tier: 'gold' });
    assert.equal(r.status, 201, r.text);
    assertShape('addUser', r.json);
    assert.equal(r.json.user.tier, 'gold');
    assert.equal(r.json.credential.username, 'alice');
    assert.ok(r.json.credential.password.length >= 24);
    assert.equal(r.headers.get('cache-control'), 'no-store', 'a response with a secret must not be cached');
    r = await call('POST', '/users', admin, { name: 'bob', role: 'member', expires: '30d' });
    assert.equal(r.status, 201, r.text);

    r = await call('GET', '/users', admin);
    assertShape('listUsers', r.json);
    assert.deepEqual(
      r.json.map((u: { name: string }) => u.name),
      ['alice', 'bob', 'root'],
    );

    r = await call('GET', '/users/alice', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('showUser', r.json);
    assert.deepEqual(
      r.json.credentials.map((c: { username: string }) => c.username),
      ['alice'],
    );
    assert.equal(r.json.usage.quota, 100 * 2 ** 30);
    assert.ok(!r.text.includes('passwordHash') && !r.text.includes('plain$'), 'no hash in a view');

    r = await call('PATCH', '/users/bob', admin, { tier: 'gold', expires: 'never' });
    assert.equal(r.status, 200, r.text);
    assertShape('updateUser', r.json);
    assert.equal(r.json.tier, 'gold');
    assert.equal(r.json.expiresAt, null);

    r = await call('POST', '/users/bob/disable', admin);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.enabled, false);
    r = await call('POST', '/users/bob/enable', admin);
    assert.equal(r.json.enabled, true);

    const before = (await h.store.listProxyCredentials()).find((c) => c.username === 'alice')!.passwordHash;
    r = await call('POST', '/users/alice/passwd', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('rotateUserPassword', r.json);
    const afterRotate = (await h.store.listProxyCredentials()).find(
      (c) => c.username === 'alice',
    )!.passwordHash;
    assert.notEqual(afterRotate, before);
    assert.equal(afterRotate, `plain$${r.json.password}`);
    r = await call('POST', '/users/alice/passwd', admin, { password: 'chosen-password-1' });
    assert.equal(r.json.password, 'chosen-password-1');

    r = await call('PUT', '/users/alice/login-password', admin, { password: 'login-password-1' });
    assert.equal(r.status, 204, r.text);
    const alice = await h.store.getUser('alice');
    assert.equal(await h.store.getLoginHash(alice!.id), 'plain$login-password-1');
  });

  it('credentials: add, list, rotate, remove', async () => {
    let r = await call('POST', '/credentials', admin, { user: 'alice', username: 'alice-phone' });
    assert.equal(r.status, 201, r.text);
    assertShape('addCredential', r.json);
    r = await call('POST', '/credentials', admin, { user: 'alice' });
    assert.equal(r.json.username, 'alice-2');
    r = await call('GET', '/credentials?user=alice', admin);
    assertShape('listCredentials', r.json);
    assert.deepEqual(r.json.map((c: { username: string }) => c.username).sort(), [
      'alice',
      'alice-2',
      'alice-phone',
    ]);
    r = await call('GET', '/credentials', admin);
    assert.ok(r.json.some((c: { user: string }) => c.user === 'bob'));
    r = await call('POST', '/credentials/alice-phone/rotate', admin, {});
    assert.equal(r.status, 200, r.text);
    assertShape('rotateCredential', r.json);
    assert.equal(r.json.username, 'alice-phone');
    r = await call('DELETE', '/credentials/alice-2', admin);
    assert.equal(r.status, 204);
    assertError(await call('DELETE', '/credentials/alice-2', admin), 404, 'E_NOT_FOUND');
    assertError(
      await call('POST', '/credentials', admin, { user: 'alice', username: 'bob-x' }),
      400,
      'E_INVALID',
    );
  });

  it('peers: add, list, remove; the tier caps devices', async () => {
    let r = await call('POST', '/peers', admin, {
      user: 'alice',
      name: 'laptop',
      publicKey: KEY(),
      addressV4: '10.8.0.2',
    });
    assert.equal(r.status, 201, r.text);
    assertShape('addPeer', r.json);
    r = await call('POST', '/peers', admin, {
      user: 'alice',
      name: 'phone',
      publicKey: KEY(),
      addressV6: 'fd00::2',
    });
    assert.equal(r.status, 201, r.text);
    assertError(
      await call('POST', '/peers', admin, { user: 'alice', name: 'tablet', publicKey: KEY() }),
      409,
      'E_CONFLICT',
    );
    assertError(
      await call('POST', '/peers', admin, { user: 'alice', name: 'x', publicKey: 'nope' }),
      400,
      'E_INVALID',
    );
    r = await call('GET', '/peers?user=alice', admin);
    assertShape('listPeers', r.json);
    assert.deepEqual(r.json.map((p: { name: string }) => p.name).sort(), ['laptop', 'phone']);
    r = await call('DELETE', '/peers/alice/phone', admin);
    assert.equal(r.status, 204);
    r = await call('GET', '/peers', admin);
    assert.deepEqual(
      r.json.map((p: { name: string }) => p.name),
      ['laptop'],
    );
  });

  it('usage: the bytes the data plane stored, per user and for one user', async () => {
    const alice = (await h.store.getUser('alice'))!;
    const day = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    await h.store.addUsage([{ userId: alice.id, day, bytesUp: 1000, bytesDown: 5000 }]);
    let r = await call('GET', '/usage?user=alice', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('usage', r.json);
    assert.equal(r.json.length, 1);
    assert.equal(r.json[0].bytesTotal, 6000);
    assert.equal(r.json[0].remaining, 100 * 2 ** 30 - 6000);
    r = await call('GET', '/usage', admin);
    assert.deepEqual(r.json.map((u: { user: string }) => u.user).sort(), ['alice', 'bob', 'root']);
  });

  it('tokens: create, list, use, revoke (a revoked token is refused)', async () => {
    let r = await call('POST', '/tokens', admin, {
      user: 'alice',
      scope: 'self',
      name: 'laptop',
      expires: '7d',
    });
    assert.equal(r.status, 201, r.text);
    assertShape('createToken', r.json);
    const { secret, token } = r.json;
    assert.match(secret, /^fy_/);
    r = await call('GET', '/tokens?user=alice', admin);
    assertShape('listTokens', r.json);
    assert.ok(r.json.some((t: { id: number }) => t.id === token.id));
    assert.ok(!r.text.includes(secret), 'a listing never shows a secret');
    assert.equal((await call('GET', '/users/alice', secret)).status, 200);
    r = await call('DELETE', `/tokens/${token.id}`, admin);
    assert.equal(r.status, 204);
    assertError(await call('GET', '/users/alice', secret), 401, 'E_AUTH');
    assertError(await call('DELETE', '/tokens/abc', admin), 400, 'E_INVALID');
  });

  it('audit events: every change above is there, newest first, with since and limit', async () => {
    let r = await call('GET', '/audit', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('listAuditEvents', r.json);
    const actions = r.json.map((e: { action: string }) => e.action);
    for (const a of [
      'tier.create',
      'tier.update',
      'tier.remove',
      'user.create',
      'credential.add',
      'credential.rotate',
      'peer.add',
      'token.create',
      'token.revoke',
    ])
      assert.ok(actions.includes(a), `audit has ${a}`);
    const apiEvent = r.json.find(
      (e: { action: string; target: string }) => e.action === 'user.create' && e.target === 'alice',
    );
    assert.equal(apiEvent.actor, 'root', 'the actor is the token user');
    assert.ok(!r.text.includes('chosen-password-1'), 'no secret in the audit log');
    const ids = r.json.map((e: { id: number }) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a: number, b: number) => b - a),
    );
    r = await call('GET', '/audit?limit=2&since=1h', admin);
    assert.equal(r.json.length, 2);
    r = await call('GET', `/audit?since=${Date.now() + 60_000}`, admin);
    assert.deepEqual(r.json, []);
    assertError(await call('GET', '/audit?limit=x', admin), 400, 'E_INVALID');
    assertError(await call('GET', '/audit?bogus=1', admin), 400, 'E_INVALID');
  });

  it('connection records (audit logging mode): listed per user', async () => {
    const now = Date.now();
    await h.store.addConnections([
      {
        at: now - 1000,
        user: 'alice',
        inbound: 'h',
        source: '127.0.0.1:1',
        destination: 'a.test:80',
        bytesUp: 1,
        bytesDown: 2,
        durationMs: 5,
        decision: 'direct',
      },
      {
        at: now - 500,
        user: 'bob',
        inbound: 'h',
        source: '127.0.0.1:2',
        destination: 'b.test:80',
        bytesUp: 3,
        bytesDown: 4,
        durationMs: 6,
        decision: 'direct',
      },
    ]);
    let r = await call('GET', '/connections?user=alice', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('listConnections', r.json);
    assert.deepEqual(
      r.json.map((c: { destination: string }) => c.destination),
      ['a.test:80'],
    );
    r = await call('GET', '/connections', admin);
    assert.equal(r.json.length, 2);
  });

  it('live sessions: list, kill one, kill a user; kills are audited', async () => {
    let r = await call('GET', '/sessions', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('listSessions', r.json);
    assert.equal(r.json.length, 3);
    r = await call('GET', '/sessions?user=bob', admin);
    assert.deepEqual(
      r.json.map((s: { id: string }) => s.id),
      ['3'],
    );
    r = await call('DELETE', '/sessions/3', admin);
    assert.equal(r.status, 204);
    assert.ok(!live.sessions.has('3'));
    assertError(await call('DELETE', '/sessions/3', admin), 404, 'E_NOT_FOUND');
    r = await call('DELETE', '/users/alice/sessions', admin);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { killed: 2 });
    assert.equal(live.sessions.size, 0);
    r = await call('GET', '/audit?limit=5', admin);
    const actions = r.json.map((e: { action: string }) => e.action);
    assert.ok(actions.includes('session.kill') && actions.includes('session.kill_user'));
  });

  it('status: version, uptime, store backend and the gateway fields', async () => {
    const r = await call('GET', '/status', admin);
    assert.equal(r.status, 200, r.text);
    assertShape('status', r.json);
    assert.equal(r.json.version, '9.9.9-test');
    assert.equal(r.json.store.backend, 'sqlite');
    assert.ok(r.json.store.schemaVersion >= 1);
    assert.equal(r.json.sessions, true);
    assert.equal(r.json.listeners[0].name, 'h');
  });

  it('export and forget (GDPR), then remove', async () => {
    let r = await call('GET', '/users/bob/export', admin);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.format, 'ferry-user-export/1');
    r = await call('POST', '/users/bob/forget', admin);
    assert.equal(r.status, 204, r.text);
    assertError(await call('GET', '/users/bob', admin), 404, 'E_NOT_FOUND');
    r = await call('GET', '/audit', admin);
    assert.ok(!r.text.includes('"bob"'), 'the audit log no longer names bob');
    r = await call('POST', '/users', admin, { name: 'carol' });
    r = await call('DELETE', '/users/carol', admin);
    assert.equal(r.status, 204);
    assertError(await call('DELETE', '/users/carol', admin), 404, 'E_NOT_FOUND');
  });
});

describe('authentication', () => {
  it('no token: 401 with a Bearer challenge (RFC 6750 §3)', async () => {
    const r = await call('GET', '/users', undefined);
    assertError(r, 401, 'E_AUTH_REQUIRED');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="ferry"/);
  });

  it('unknown, malformed and non-Bearer tokens: 401 E_AUTH', async () => {
    assertError(await call('GET', '/users', 'fy_' + 'A'.repeat(43)), 401, 'E_AUTH');
    assertError(await call('GET', '/users', 'nonsense'), 401, 'E_AUTH');
    const r = await http(base, 'GET', '/api/v1/users', { headers: { authorization: `Basic ${admin}` } });
    assertError(r, 401, 'E_AUTH');
    assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('an expired token: 401 "token expired"', async () => {
    // Issued two days ago for one day: expired yesterday.
    const past = new ControlService(h.store, { now: () => Date.now() - 2 * 86_400_000 });
    const { secret } = await past
      .as(localPrincipal('test'))
      .tokens.create({ user: 'root', scope: 'admin', expires: '1d' });
    const r = await call('GET', '/users', secret);
    assertError(r, 401, 'E_AUTH');
    assert.match(r.json.error.message, /expired/);
  });

  it("a disabled user's token: 401", async () => {
    await call('POST', '/users', admin, { name: 'dave', role: 'admin' });
    const t = (await call('POST', '/tokens', admin, { user: 'dave', scope: 'admin' })).json.secret;
    assert.equal((await call('GET', '/users', t)).status, 200);
    await call('POST', '/users/dave/disable', admin);
    assertError(await call('GET', '/users', t), 401, 'E_AUTH');
  });
});

describe('authorization by scope', () => {
  let self: string;
  let read: string;
  before(async () => {
    await call('POST', '/users', admin, { name: 'erin' });
    await call('POST', '/users', admin, { name: 'frank' });
    self = (await call('POST', '/tokens', admin, { user: 'erin', scope: 'self' })).json.secret;
    read = (await call('POST', '/tokens', admin, { user: 'root', scope: 'read' })).json.secret;
    live.sessions.set('10', { id: '10', user: 'erin', inbound: 'h', bytesUp: 1, bytesDown: 1 });
    live.sessions.set('11', { id: '11', user: 'frank', inbound: 'h', bytesUp: 1, bytesDown: 1 });
  });

  it('a member self token cannot manage users or tiers (403 E_FORBIDDEN)', async () => {
    assertError(await call('POST', '/users', self, { name: 'mallory' }), 403, 'E_FORBIDDEN');
    assertError(await call('DELETE', '/users/frank', self), 403, 'E_FORBIDDEN');
    assertError(await call('PATCH', '/users/erin', self, { role: 'admin' }), 403, 'E_FORBIDDEN');
    assertError(await call('POST', '/users/frank/disable', self), 403, 'E_FORBIDDEN');
    assertError(await call('POST', '/tiers', self, { name: 'free' }), 403, 'E_FORBIDDEN');
    assertError(await call('POST', '/tokens', self, { user: 'erin', scope: 'admin' }), 403, 'E_FORBIDDEN');
    assert.equal(await h.store.getUser('mallory'), null);
  });

  it('a self token reads and rotates only its own user', async () => {
    let r = await call('GET', '/users', self);
    assert.deepEqual(
      r.json.map((u: { name: string }) => u.name),
      ['erin'],
    );
    assert.equal((await call('GET', '/users/erin', self)).status, 200);
    assertError(await call('GET', '/users/frank', self), 403, 'E_FORBIDDEN');
    assertError(await call('GET', '/usage?user=frank', self), 403, 'E_FORBIDDEN');
    r = await call('GET', '/usage', self);
    assert.deepEqual(
      r.json.map((u: { user: string }) => u.user),
      ['erin'],
    );
    r = await call('POST', '/users/erin/passwd', self);
    assert.equal(r.status, 200, r.text);
    assertError(await call('POST', '/users/frank/passwd', self), 403, 'E_FORBIDDEN');
    assertError(await call('GET', '/audit', self), 403, 'E_FORBIDDEN');
    r = await call('GET', '/sessions', self);
    assert.deepEqual(
      r.json.map((s: { id: string }) => s.id),
      ['10'],
    );
    assertError(await call('DELETE', '/sessions/10', self), 403, 'E_FORBIDDEN');
    assertError(await call('GET', '/connections?user=frank', self), 403, 'E_FORBIDDEN');
    assert.equal((await call('GET', '/status', self)).status, 200);
  });

  it('a read token reads everything and writes nothing', async () => {
    for (const p of [
      '/users',
      '/users/frank',
      '/tiers',
      '/tokens',
      '/credentials',
      '/peers',
      '/usage',
      '/audit',
      '/sessions',
      '/connections',
    ])
      assert.equal((await call('GET', p, read)).status, 200, p);
    assertError(await call('POST', '/users', read, { name: 'mallory' }), 403, 'E_FORBIDDEN');
    assertError(await call('POST', '/tiers', read, { name: 'x' }), 403, 'E_FORBIDDEN');
    assertError(await call('DELETE', '/users/frank', read), 403, 'E_FORBIDDEN');
    assertError(await call('POST', '/users/frank/passwd', read), 403, 'E_FORBIDDEN');
    assertError(await call('DELETE', '/sessions/11', read), 403, 'E_FORBIDDEN');
    assertError(await call('GET', '/users/frank/export', read), 403, 'E_FORBIDDEN');
    assert.ok(live.sessions.has('11'));
  });
});

describe('errors', () => {
  it('unknown routes, invalid JSON, wrong content type, invalid fields, conflicts', async () => {
    assertError(await call('GET', '/nope', admin), 404, 'E_NOT_FOUND');
    assertError(await call('GET', '/users/nobody', admin), 404, 'E_NOT_FOUND');
    assertError(
      await http(base, 'POST', '/api/v1/users', { token: admin, rawBody: '{"name":' }),
      400,
      'E_BAD_REQUEST',
    );
    assertError(
      await http(base, 'POST', '/api/v1/users', {
        token: admin,
        rawBody: 'name=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      415,
      'E_BAD_REQUEST',
    );
    assertError(
      await http(base, 'POST', '/api/v1/users', {
        token: admin,
        rawBody: JSON.stringify({ name: 'x'.repeat(70_000) }),
      }),
      413,
      'E_BAD_REQUEST',
    );
    const bad = await call('POST', '/users', admin, { name: 'has space' });
    assertError(bad, 400, 'E_INVALID');
    assert.match(bad.json.error.message, /name/);
    assertError(await call('POST', '/users', admin, { name: 'gina', extra: 1 }), 400, 'E_INVALID');
    assertError(await call('POST', '/users', admin, { name: 'alice' }), 409, 'E_CONFLICT');
    assertError(await call('POST', '/tiers', admin, { name: 'z', up: 'fast' }), 400, 'E_INVALID');
    assertError(await call('POST', '/users', admin), 400, 'E_INVALID');
  });
});

describe('listener safety and optional parts', () => {
  it('refuses a non-loopback address without TLS, and public metrics there', async () => {
    await assert.rejects(
      startApiServer({ store: h.store, listen: '0.0.0.0:0' }),
      (e: Error & { code?: string }) =>
        e.code === 'E_CONFIG' && /not a loopback address.*tls/.test(e.message),
    );
    await assert.rejects(
      startApiServer({ store: h.store, listen: '[::]:0', tls: { cert: 'x', key: 'y' }, metricsPublic: true }),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /metrics_public/.test(e.message),
    );
    await assert.rejects(
      startApiServer({ store: h.store, listen: 'nonsense' }),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG',
    );
  });

  it('without a gateway: sessions and metrics answer 501 E_UNSUPPORTED', async () => {
    const bare = await startApiServer({ store: h.store, service: h.service, listen: '127.0.0.1:0' });
    try {
      assertError(await http(bare.url, 'GET', '/api/v1/sessions', { token: admin }), 501, 'E_UNSUPPORTED');
      assertError(
        await http(bare.url, 'DELETE', '/api/v1/sessions/1', { token: admin }),
        501,
        'E_UNSUPPORTED',
      );
      assertError(await http(bare.url, 'GET', '/metrics', { token: admin }), 501, 'E_UNSUPPORTED');
      const s = await http(bare.url, 'GET', '/api/v1/status', { token: admin });
      assert.equal(s.json.sessions, false);
    } finally {
      await bare.close();
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, verifyPassword, isPasswordHash } from '../../../src/auth/password-hash.js';
import { Authenticator, MapUserSource } from '../../../src/auth/authenticator.js';
import { LoginThrottle } from '../../../src/auth/throttle.js';
import { FerryError } from '../../../src/core/errors.js';

const fast = { logN: 10, r: 8, p: 1 };

test('password hashes verify only the right password and never contain it', async () => {
  const h = await hashPassword('correct horse', fast);
  assert.ok(isPasswordHash(h));
  assert.ok(!h.includes('correct'));
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('correct hors', h), false);
  assert.equal(await verifyPassword('x', 'garbage'), false);
  assert.notEqual(await hashPassword('correct horse', fast), h, 'salted');
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FerryError);
    return e.code;
  }
  return 'ok';
}

test('authenticator: right, wrong, unknown, disabled, throttled, and password change after caching', async () => {
  const alice = await hashPassword('pw-a', fast);
  const a = new Authenticator(
    new MapUserSource([
      { name: 'alice', passwordHash: alice },
      { name: 'off', passwordHash: alice, enabled: false },
    ]),
    {
      maxFailures: 3,
      windowMs: 60_000,
    },
  );
  assert.equal(await a.authenticate('alice', 'pw-a', '10.0.0.1'), 'alice');
  assert.equal(await a.authenticate('alice', 'pw-a', '10.0.0.1'), 'alice'); // cached path
  assert.equal(await code(a.authenticate('alice', 'nope', '10.0.0.2')), 'E_AUTH');
  assert.equal(await code(a.authenticate('nobody', 'pw-a', '10.0.0.2')), 'E_AUTH');
  assert.equal(await code(a.authenticate('off', 'pw-a', '10.0.0.3')), 'E_AUTH');
  assert.equal(await code(a.authenticate('alice', 'nope', '10.0.0.2')), 'E_AUTH');
  // Three failures from 10.0.0.2: now throttled even with the right password; others unaffected.
  assert.equal(await code(a.authenticate('alice', 'pw-a', '10.0.0.2')), 'E_AUTH_THROTTLED');
  assert.equal(await a.authenticate('alice', 'pw-a', '10.0.0.9'), 'alice');
  // A changed password invalidates the cached success.
  a.setUsers(new MapUserSource([{ name: 'alice', passwordHash: await hashPassword('new', fast) }]));
  assert.equal(await code(a.authenticate('alice', 'pw-a', '10.0.0.1')), 'E_AUTH');
  assert.equal(await a.authenticate('alice', 'new', '10.0.0.1'), 'alice');
});

test('authenticator: cached() answers a credential string it accepted before, and only while valid', async () => {
  const pw = await hashPassword('pw-a', fast);
  const a = new Authenticator(new MapUserSource([{ name: 'alice', passwordHash: pw }]), {
    maxFailures: 2,
    windowMs: 60_000,
  });
  const header = `Basic ${Buffer.from('alice-session-x1:pw-a').toString('base64')}`;
  assert.equal(a.cached(header, '10.0.0.1'), null, 'nothing cached yet');
  assert.equal(await a.authenticate('alice-session-x1', 'pw-a', '10.0.0.1', header), 'alice-session-x1');
  assert.equal(a.cached(header, '10.0.0.1'), 'alice-session-x1', 'the login as given, parameters included');
  assert.equal(a.cached(`${header} `, '10.0.0.1'), null, 'another string is another entry');
  assert.equal(a.cached('alice-session-x1\0pw-a', '10.0.0.1'), null, 'the cache key is the string as sent');
  // A throttled source gets no answer from the cache (authenticate() refuses it).
  await code(a.authenticate('alice', 'bad', '10.0.0.7'));
  await code(a.authenticate('alice', 'bad', '10.0.0.7'));
  assert.equal(a.cached(header, '10.0.0.7'), null);
  // Disabled, then a changed password: the entry no longer counts.
  a.setUsers(new MapUserSource([{ name: 'alice', passwordHash: pw, enabled: false }]));
  assert.equal(a.cached(header, '10.0.0.1'), null, 'disabled');
  a.setUsers(new MapUserSource([{ name: 'alice', passwordHash: pw }]));
  assert.equal(a.cached(header, '10.0.0.1'), 'alice-session-x1', 'enabled again, same password');
  a.setUsers(new MapUserSource([{ name: 'alice', passwordHash: await hashPassword('pw-a', fast) }]));
  assert.equal(a.cached(header, '10.0.0.1'), null, 'new hash (even of the same password)');
});

test('throttle window expires and memory stays bounded', () => {
  let now = 0;
  const t = new LoginThrottle({ maxFailures: 2, windowMs: 1000, maxEntries: 100 }, () => now);
  t.fail('a');
  t.fail('a');
  assert.ok(t.blocked('a'));
  now = 1001;
  assert.ok(!t.blocked('a'));
  for (let i = 0; i < 1000; i++) t.fail(`s${i}`);
  assert.ok((t as unknown as { table: Map<string, unknown> }).table.size <= 101);
});

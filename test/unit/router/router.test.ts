import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../../src/router/router.js';
import { DirectOutbound } from '../../../src/outbound/direct.js';
import { RejectOutbound } from '../../../src/outbound/reject.js';
import { makeDestination, type Session } from '../../../src/core/session.js';
import { FerryError } from '../../../src/core/errors.js';
import type { Outbound } from '../../../src/outbound/outbound.js';

const outbounds = new Map<string, Outbound>([
  ['direct', new DirectOutbound({ name: 'direct' })],
  ['other', new DirectOutbound({ name: 'other' })],
  ['blocked', new RejectOutbound('blocked')],
]);

function session(host: string, port = 443, user: string | null = 'alice', inbound = 'http'): Session {
  return {
    id: 1,
    inbound,
    user,
    source: { address: '127.0.0.1', port: 5000 },
    dest: makeDestination(host, port),
    command: 'connect',
  };
}

function deny(r: Router, s: Session): string {
  try {
    r.decide(s);
  } catch (e) {
    assert.ok(e instanceof FerryError);
    return e.code;
  }
  assert.fail(`expected ${s.dest.host} to be denied`);
}

test('first matching rule wins; fields are ANDed, values ORed', () => {
  const r = new Router(
    {
      default: 'direct',
      allowDestinations: [],
      rules: [
        { action: 'reject', users: ['bob'], domains: ['.example.com'] },
        { action: 'other', domains: ['*.example.com'], ports: ['443', '8000-8999'] },
        { action: 'reject', domains: ['example.com'] },
      ],
    },
    outbounds,
  );
  assert.equal(r.decide(session('a.example.com', 443)).outbound.name, 'other');
  assert.equal(r.decide(session('a.b.example.com', 8500)).outbound.name, 'other');
  assert.equal(r.decide(session('a.example.com', 80)).outbound.name, 'direct'); // port does not match rule 2
  assert.equal(deny(r, session('example.com', 443)), 'E_POLICY_DENIED'); // "*." excludes the apex; rule 3
  assert.equal(deny(r, session('x.example.com', 443, 'bob')), 'E_POLICY_DENIED');
  assert.equal(r.decide(session('notexample.com', 443, 'bob')).outbound.name, 'direct'); // suffix on label boundary
});

test('CIDR and inbound matching, default reject', () => {
  const r = new Router(
    {
      default: 'reject',
      allowDestinations: [],
      rules: [{ action: 'direct', cidrs: ['203.0.113.0/24', '2001:db8::/32'], inbounds: ['socks'] }],
    },
    outbounds,
  );
  assert.equal(r.decide(session('203.0.113.7', 80, null, 'socks')).outbound.name, 'direct');
  assert.equal(r.decide(session('2001:db8::1', 80, null, 'socks')).outbound.name, 'direct');
  assert.equal(deny(r, session('203.0.113.7', 80, null, 'http')), 'E_POLICY_DENIED');
  assert.equal(deny(r, session('198.51.100.1', 80, null, 'socks')), 'E_POLICY_DENIED');
});

test('the address guard refuses loopback, metadata, private and mapped addresses unless allowed', () => {
  const r = new Router(
    { default: 'direct', allowDestinations: ['10.1.0.0/16', 'intranet.example'], rules: [] },
    outbounds,
  );
  const guard = r.decide(session('203.0.113.1')).guard;
  for (const a of [
    '127.0.0.1',
    '169.254.169.254',
    '10.0.0.1',
    '192.168.1.1',
    '172.16.0.1',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '0.0.0.0',
    '100.64.0.1',
    '224.0.0.1',
  ]) {
    assert.notEqual(guard.check(a), null, `${a} must be refused`);
  }
  assert.equal(guard.check('203.0.113.1'), null);
  assert.equal(guard.check('10.1.2.3'), null, 'allowed CIDR');
  assert.equal(guard.check('10.2.0.1') !== null, true);
  // A domain on the allow list may resolve anywhere.
  assert.equal(r.decide(session('intranet.example')).guard.check('10.9.9.9'), null);
  assert.notEqual(r.decide(session('other.example')).guard.check('10.9.9.9'), null);
});

test('allow_private on a rule exempts its sessions from the guard', () => {
  const r = new Router(
    {
      default: 'direct',
      allowDestinations: [],
      rules: [{ action: 'direct', users: ['admin'], allow_private: true }],
    },
    outbounds,
  );
  assert.equal(r.decide(session('127.0.0.1', 22, 'admin')).guard.check('127.0.0.1'), null);
  assert.notEqual(r.decide(session('127.0.0.1', 22, 'alice')).guard.check('127.0.0.1'), null);
});

test('unknown outbound names are a config error', () => {
  assert.throws(
    () => new Router({ default: 'nope', allowDestinations: [], rules: [] }, outbounds),
    /unknown outbound 'nope'/,
  );
  assert.throws(
    () => new Router({ default: 'direct', allowDestinations: [], rules: [{ action: 'x' }] }, outbounds),
    /rule 1: unknown outbound 'x'/,
  );
});

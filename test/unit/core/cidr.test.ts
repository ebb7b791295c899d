import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet, parseCidr, parseIp, cidrContains } from '../../../src/net/cidr.js';
import { domainMatches, parseDomainPattern } from '../../../src/net/domain-match.js';
import { makeDestination, isValidDomain } from '../../../src/core/session.js';
import { parseListen, isLoopbackHost } from '../../../src/config/listen-address.js';
import { parseDurationMs } from '../../../src/config/duration.js';

test('CIDR parsing masks host bits and rejects bad prefixes', () => {
  assert.deepEqual([...parseCidr('10.1.2.3/8').bytes], [10, 0, 0, 0]);
  assert.equal(parseCidr('2001:db8::1').prefix, 128);
  assert.throws(() => parseCidr('10.0.0.0/33'), /prefix length/);
  assert.throws(() => parseCidr('10.0.0.0/x'), /prefix length/);
  assert.throws(() => parseCidr('nonsense'), /not an IP/);
});

test('CIDR containment against a bit-by-bit reference on random addresses', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
  for (let n = 0; n < 2000; n++) {
    const len = n % 2 ? 4 : 16;
    const a = Uint8Array.from({ length: len }, rnd);
    const b = Uint8Array.from(a);
    const prefix = rnd() % (len * 8 + 1);
    if (rnd() & 1) b[rnd() % len]! ^= 1 << (rnd() % 8);
    const text =
      len === 4
        ? [...a].join('.')
        : [...a].reduce((s, x, i) => s + (i && i % 2 === 0 ? ':' : '') + x.toString(16).padStart(2, '0'), '');
    const c = parseCidr(`${text}/${prefix}`);
    let expect = true;
    for (let bit = 0; bit < prefix; bit++) {
      if (((a[bit >> 3]! >> (7 - (bit & 7))) & 1) !== ((b[bit >> 3]! >> (7 - (bit & 7))) & 1)) expect = false;
    }
    assert.equal(cidrContains(c, b), expect, `${text}/${prefix}`);
  }
});

test('IPv4-mapped IPv6 addresses match IPv4 ranges', () => {
  const s = new CidrSet(['127.0.0.0/8']);
  assert.ok(s.has('::ffff:127.0.0.1'));
  assert.equal(parseIp('::ffff:10.0.0.1')!.length, 4);
});

test('domain patterns', () => {
  const p = (t: string): ReturnType<typeof parseDomainPattern> => parseDomainPattern(t);
  assert.ok(domainMatches(p('example.com'), 'example.com'));
  assert.ok(!domainMatches(p('example.com'), 'a.example.com'));
  assert.ok(domainMatches(p('.example.com'), 'a.example.com'));
  assert.ok(domainMatches(p('.example.com'), 'example.com'));
  assert.ok(!domainMatches(p('.example.com'), 'badexample.com'));
  assert.ok(domainMatches(p('*.example.com'), 'a.b.example.com'));
  assert.ok(!domainMatches(p('*.example.com'), 'example.com'));
  assert.ok(domainMatches(p('*'), 'anything'));
  assert.throws(() => p('a.*.com'), /wildcard/);
});

test('destinations and domain validity', () => {
  assert.deepEqual(makeDestination('[::1]', 80), { host: '::1', port: 80, kind: 'ipv6' });
  assert.deepEqual(makeDestination('Example.COM.', 80), { host: 'example.com', port: 80, kind: 'domain' });
  assert.ok(isValidDomain('a-b.example_x.com'));
  assert.ok(!isValidDomain('a..b'));
  assert.ok(!isValidDomain('-a.com'));
  assert.ok(!isValidDomain('x'.repeat(64) + '.com'));
});

test('listen addresses and durations', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:1080'), { host: '::1', port: 1080 });
  assert.deepEqual(parseListen(':3128'), { host: '127.0.0.1', port: 3128 });
  assert.throws(() => parseListen('8080'), /HOST:PORT/);
  assert.throws(() => parseListen('1.2.3.4:70000'), /port/);
  assert.ok(
    isLoopbackHost('127.0.0.2') &&
      isLoopbackHost('::1') &&
      !isLoopbackHost('0.0.0.0') &&
      !isLoopbackHost('::'),
  );
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs(2), 2000);
  assert.equal(parseDurationMs('5m'), 300_000);
  assert.throws(() => parseDurationMs('soon'), /not a duration/);
});

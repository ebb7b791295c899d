// The answer cache against a fake clock: positive TTLs, RFC 2308 negative caching, TTL countdown in
// served copies, caps and LRU eviction.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsCache } from '../../../src/dns/cache.js';
import { answer, answerData, decode, rcodeOf } from './packets.js';

const ttlsOf = (b: Uint8Array): number[] => {
  const p = decode(b);
  return [...(p.answers ?? []), ...(p.authorities ?? [])].map((r) => (r as { ttl: number }).ttl);
};

describe('DnsCache', () => {
  it('keeps a positive answer for the smallest answer TTL and counts TTLs down', () => {
    const cache = new DnsCache();
    const r = answer('a.example.', [
      { ttl: 300, data: '192.0.2.1' },
      { ttl: 60, data: '192.0.2.2' },
    ]);
    assert.equal(cache.store('k', r, 1_000_000), 60);
    const at0 = cache.lookup('k', 77, 1_000_000)!;
    assert.equal(decode(at0).id, 77);
    assert.deepEqual(ttlsOf(at0), [60, 60], 'no record outlives the entry');
    const at25 = cache.lookup('k', 78, 1_025_900)!;
    assert.deepEqual(ttlsOf(at25), [35, 35], 'whole seconds spent in the cache are subtracted');
    assert.equal(answerData(at25, 1), '192.0.2.2', 'the records themselves are untouched');
    assert.ok(cache.lookup('k', 1, 1_059_999));
    assert.equal(cache.lookup('k', 1, 1_060_000), null, 'gone once the TTL has run out');
    assert.equal(cache.size, 0);
  });

  it('keeps NXDOMAIN for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)', () => {
    const cache = new DnsCache();
    const nx = answer('nope.example.', [], { rcode: 'NXDOMAIN', soa: { ttl: 900, minimum: 120 } });
    assert.equal(cache.store('nx', nx, 0), 120);
    const served = cache.lookup('nx', 5, 50_000)!;
    assert.equal(rcodeOf(served), 'NXDOMAIN');
    assert.deepEqual(ttlsOf(served), [70]);
    assert.equal(cache.lookup('nx', 5, 120_000), null);

    const soaTtlSmaller = answer('nope.example.', [], { rcode: 'NXDOMAIN', soa: { ttl: 30, minimum: 600 } });
    assert.equal(cache.store('nx2', soaTtlSmaller, 0), 30);
  });

  it('keeps NODATA like NXDOMAIN, and neither without an SOA', () => {
    const cache = new DnsCache();
    assert.equal(cache.store('nodata', answer('a.example.', [], { soa: { ttl: 50, minimum: 40 } }), 0), 40);
    assert.equal(cache.store('bare-nx', answer('a.example.', [], { rcode: 'NXDOMAIN' }), 0), 0);
    assert.equal(cache.store('bare-nodata', answer('a.example.', []), 0), 0);
    assert.equal(cache.lookup('bare-nx', 1, 0), null);
  });

  it('does not keep SERVFAIL, REFUSED, truncated or zero-TTL answers', () => {
    const cache = new DnsCache();
    assert.equal(
      cache.store('a', answer('a.example.', [], { rcode: 'SERVFAIL', soa: { ttl: 60, minimum: 60 } }), 0),
      0,
    );
    assert.equal(cache.store('b', answer('a.example.', [], { rcode: 'REFUSED' }), 0), 0);
    assert.equal(
      cache.store('c', answer('a.example.', [{ ttl: 60, data: '192.0.2.1' }], { tc: true }), 0),
      0,
    );
    assert.equal(cache.store('d', answer('a.example.', [{ ttl: 0, data: '192.0.2.1' }]), 0), 0);
    assert.equal(cache.size, 0);
  });

  it('caps positive and negative lifetimes', () => {
    const cache = new DnsCache({ maxTtl: 100, maxNegativeTtl: 10 });
    assert.equal(cache.store('p', answer('a.example.', [{ ttl: 5000, data: '192.0.2.1' }]), 0), 100);
    assert.deepEqual(ttlsOf(cache.lookup('p', 1, 0)!), [100], 'served TTLs are capped too');
    assert.equal(
      cache.store('n', answer('a.example.', [], { rcode: 'NXDOMAIN', soa: { ttl: 900, minimum: 900 } }), 0),
      10,
    );
  });

  it('treats a TTL with the top bit set as zero (RFC 2181 §8)', () => {
    const cache = new DnsCache();
    assert.equal(cache.store('x', answer('a.example.', [{ ttl: 0x80000001, data: '192.0.2.1' }]), 0), 0);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new DnsCache({ maxEntries: 2 });
    const r = answer('a.example.', [{ ttl: 60, data: '192.0.2.1' }]);
    cache.store('one', r, 0);
    cache.store('two', r, 0);
    assert.ok(cache.lookup('one', 1, 0), 'touching "one" makes "two" the oldest');
    cache.store('three', r, 0);
    assert.equal(cache.size, 2);
    assert.equal(cache.lookup('two', 1, 0), null);
    assert.ok(cache.lookup('one', 1, 0));
    assert.ok(cache.lookup('three', 1, 0));
  });

  it('never stores a malformed response and never throws on one', () => {
    const cache = new DnsCache();
    const r = answer('a.example.', [{ ttl: 60, data: '192.0.2.1' }]);
    for (let cut = 0; cut < r.length; cut++) assert.equal(cache.store(`cut${cut}`, r.subarray(0, cut), 0), 0);
    assert.equal(cache.size, 0);
  });

  it('hands out copies: changing one does not change the cache', () => {
    const cache = new DnsCache();
    cache.store('k', answer('a.example.', [{ ttl: 60, data: '192.0.2.1' }]), 0);
    const first = cache.lookup('k', 1, 0)!;
    first.fill(0);
    assert.equal(answerData(cache.lookup('k', 2, 0)!), '192.0.2.1');
  });
});

// Property test of the routing trie against a linear longest-prefix reference, plus unit cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllowedIps } from '../../../src/wireguard/allowed-ips.js';
import { formatIp, maskInPlace, parseCidr, parseIp } from '../../../src/wireguard/ip.js';
import { prng } from './_harness.js';

interface Entry {
  addr: Uint8Array;
  bits: number;
  value: number;
}

function matches(e: Entry, addr: Uint8Array): boolean {
  if (e.addr.length !== addr.length) return false;
  const m = Uint8Array.from(addr);
  maskInPlace(m, e.bits);
  return m.every((x, i) => x === e.addr[i]);
}

class Linear {
  entries: Entry[] = [];
  insert(addr: Uint8Array, bits: number, value: number): void {
    const a = Uint8Array.from(addr);
    maskInPlace(a, bits);
    this.remove(a, bits);
    this.entries.push({ addr: a, bits, value });
  }
  remove(addr: Uint8Array, bits: number): void {
    const a = Uint8Array.from(addr);
    maskInPlace(a, bits);
    this.entries = this.entries.filter(
      (e) => !(e.bits === bits && e.addr.length === a.length && e.addr.every((x, i) => x === a[i])),
    );
  }
  removeValue(v: number): void {
    this.entries = this.entries.filter((e) => e.value !== v);
  }
  lookup(addr: Uint8Array): number | null {
    let best: Entry | null = null;
    for (const e of this.entries) if (matches(e, addr) && (best === null || e.bits > best.bits)) best = e;
    return best ? best.value : null;
  }
}

function randomAddr(rnd: () => number, len: number, pool: Uint8Array[]): Uint8Array {
  // Mostly near existing prefixes so that nesting and divergence are exercised.
  if (pool.length > 0 && rnd() < 0.7) {
    const a = Uint8Array.from(pool[Math.floor(rnd() * pool.length)]!);
    const flips = Math.floor(rnd() * 3);
    for (let i = 0; i < flips; i++) {
      const bit = Math.floor(rnd() * len * 8);
      a[bit >> 3]! ^= 0x80 >> (bit & 7);
    }
    return a;
  }
  return Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256));
}

for (const len of [4, 16]) {
  test(`trie equals a linear reference on random prefixes (IPv${len === 4 ? 4 : 6})`, () => {
    const rnd = prng(len * 1000 + 1);
    for (let round = 0; round < 10; round++) {
      const trie = new AllowedIps<number>();
      const ref = new Linear();
      const pool: Uint8Array[] = [];
      for (let op = 0; op < 600; op++) {
        const r = rnd();
        const addr = randomAddr(rnd, len, pool);
        const bits = Math.floor(rnd() * (len * 8 + 1));
        if (r < 0.6) {
          const v = Math.floor(rnd() * 8);
          trie.insert(addr, bits, v);
          ref.insert(addr, bits, v);
          pool.push(addr);
        } else if (r < 0.85 && ref.entries.length > 0) {
          const e = ref.entries[Math.floor(rnd() * ref.entries.length)]!;
          trie.remove(e.addr, e.bits);
          ref.remove(e.addr, e.bits);
        } else if (r < 0.9) {
          const v = Math.floor(rnd() * 8);
          trie.removeValue(v);
          ref.removeValue(v);
        } else {
          trie.remove(addr, bits);
          ref.remove(addr, bits);
        }
        for (let q = 0; q < 10; q++) {
          const probe = randomAddr(rnd, len, pool);
          assert.equal(trie.lookup(probe), ref.lookup(probe), `round ${round} op ${op}`);
        }
      }
      for (let v = 0; v < 8; v++) {
        const got = trie
          .entriesOf(v)
          .map((e) => `${formatIp(e.addr)}/${e.bits}`)
          .sort();
        const want = ref.entries
          .filter((e) => e.value === v)
          .map((e) => `${formatIp(e.addr)}/${e.bits}`)
          .sort();
        assert.deepEqual(got, want);
      }
    }
  });
}

test('longest prefix wins; families are separate; host bits are masked', () => {
  const t = new AllowedIps<string>();
  t.insertCidr('0.0.0.0/0', 'default');
  t.insertCidr('10.0.0.0/8', 'ten');
  t.insertCidr('10.1.2.3/24', 'ten-one-two');
  t.insertCidr('10.1.2.3/32', 'host');
  t.insertCidr('::/0', 'v6default');
  t.insertCidr('2001:db8::/32', 'doc');
  assert.equal(t.lookup(parseIp('10.1.2.3')), 'host');
  assert.equal(t.lookup(parseIp('10.1.2.4')), 'ten-one-two');
  assert.equal(t.lookup(parseIp('10.9.9.9')), 'ten');
  assert.equal(t.lookup(parseIp('192.168.1.1')), 'default');
  assert.equal(t.lookup(parseIp('2001:db8::1')), 'doc');
  assert.equal(t.lookup(parseIp('::ffff:10.1.2.3')), 'v6default');
  assert.deepEqual(t.cidrsOf('ten-one-two'), ['10.1.2.0/24']);
  t.removeCidr('10.1.2.0/24', 'someone-else');
  assert.equal(t.lookup(parseIp('10.1.2.4')), 'ten-one-two', 'remove with another owner is a no-op');
  t.removeCidr('10.1.2.0/24');
  assert.equal(t.lookup(parseIp('10.1.2.4')), 'ten');
  t.removeValue('default');
  assert.equal(t.lookup(parseIp('192.168.1.1')), null);
  assert.equal(t.lookup(new Uint8Array(5)), null);
  assert.throws(() => t.insert(new Uint8Array(4), 33, 'x'));
});

test('CIDR parsing is strict and canonical', () => {
  assert.deepEqual(parseCidr('192.168.1.77/26'), { addr: Uint8Array.of(192, 168, 1, 64), bits: 26 });
  assert.equal(parseCidr('fd00::1').bits, 128);
  assert.equal(formatIp(parseCidr('2001:DB8:0:0:1:0:0:1/128').addr), '2001:db8::1:0:0:1');
  for (const bad of [
    '10.0.0/8',
    '10.0.0.256/8',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '::/129',
    'x',
    '1.2.3.4/8/8',
    '0x0a.0.0.1',
  ]) {
    assert.throws(() => parseCidr(bad), bad);
  }
});

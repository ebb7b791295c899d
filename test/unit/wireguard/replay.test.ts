// Replay window edge cases, checked against a naive reference (a Set of seen counters plus the rule
// "reject anything WINDOW or more behind the greatest seen").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayFilter } from '../../../src/wireguard/replay.js';
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from '../../../src/wireguard/constants.js';
import { prng } from './_harness.js';

const W = BigInt(REPLAY_WINDOW_SIZE);

test('window is at least 8128 packets wide (wireguard-go: 8192 - 64)', () => {
  assert.ok(REPLAY_WINDOW_SIZE >= 8128);
});

test('in order, duplicates, out of order within the window', () => {
  const f = new ReplayFilter();
  assert.equal(f.updateBig(0n), true);
  assert.equal(f.updateBig(0n), false);
  assert.equal(f.updateBig(1n), true);
  assert.equal(f.updateBig(5n), true);
  assert.equal(f.updateBig(3n), true);
  assert.equal(f.updateBig(3n), false);
  assert.equal(f.updateBig(2n), true);
  assert.equal(f.updateBig(4n), true);
  assert.equal(f.updateBig(5n), false);
  assert.equal(f.checkBig(6n), true);
  assert.equal(f.checkBig(4n), false);
});

test('too old: exactly WINDOW behind is rejected, WINDOW - 1 behind accepted', () => {
  const f = new ReplayFilter();
  const top = 100_000n;
  assert.equal(f.updateBig(top), true);
  assert.equal(f.updateBig(top - W), false);
  assert.equal(f.updateBig(top - W + 1n), true);
  assert.equal(f.updateBig(top - W + 1n), false);
  assert.equal(f.updateBig(top - 1n), true);
});

test('window slides: a big jump forgets old bits, ring reuse does not alias', () => {
  const f = new ReplayFilter();
  for (let i = 0n; i < 64n; i++) assert.equal(f.updateBig(i), true);
  // Jump exactly one ring ahead: counters at the same ring positions must be accepted once.
  const ring = W + 32n;
  for (let i = 0n; i < 64n; i++) assert.equal(f.updateBig(ring + i), true, `ring+${i}`);
  for (let i = 0n; i < 64n; i++) assert.equal(f.updateBig(ring + i), false);
  for (let i = 0n; i < 64n; i++) assert.equal(f.updateBig(i), false, 'old counters too old now');
  // Huge jump.
  assert.equal(f.updateBig(1n << 40n), true);
  assert.equal(f.updateBig((1n << 40n) - 1n), true);
  assert.equal(f.updateBig(ring + 1n), false);
});

test('64-bit bounds: crossing 2^32, near 2^64, REJECT_AFTER_MESSAGES', () => {
  const f = new ReplayFilter();
  assert.equal(f.updateBig(0xffff_fffen), true);
  assert.equal(f.updateBig(0x1_0000_0001n), true);
  assert.equal(f.updateBig(0xffff_ffffn), true);
  assert.equal(f.updateBig(0x1_0000_0000n), true);
  assert.equal(f.updateBig(0x1_0000_0000n), false);

  const g = new ReplayFilter();
  const last = REJECT_AFTER_MESSAGES - 1n; // the greatest acceptable counter
  assert.equal(g.updateBig(REJECT_AFTER_MESSAGES), false);
  assert.equal(g.updateBig(REJECT_AFTER_MESSAGES + 1n), false);
  assert.equal(g.updateBig(2n ** 64n - 1n), false);
  assert.equal(g.updateBig(last), true);
  assert.equal(g.updateBig(last), false);
  assert.equal(g.updateBig(last - 1n), true);
  assert.equal(g.updateBig(last - W), false);
  assert.equal(g.updateBig(last - W + 1n), true);
  assert.equal(g.checkBig(REJECT_AFTER_MESSAGES), false);
  // A rejected counter must not have moved the window.
  const h = new ReplayFilter();
  h.updateBig(10n);
  h.updateBig(REJECT_AFTER_MESSAGES);
  assert.equal(h.updateBig(9n), true);
});

test('randomised against a naive reference', () => {
  const rnd = prng(7);
  for (let round = 0; round < 20; round++) {
    const f = new ReplayFilter();
    const seen = new Set<bigint>();
    let max = -1n;
    let base = BigInt(Math.floor(rnd() * 2 ** 40));
    for (let i = 0; i < 5000; i++) {
      const r = rnd();
      let c: bigint;
      if (r < 0.05) base += BigInt(Math.floor(rnd() * 20_000));
      if (r < 0.5) c = base + BigInt(i);
      else c = base + BigInt(i) - BigInt(Math.floor(rnd() * 9000));
      if (c < 0n) c = 0n;
      const expected = !seen.has(c) && (c > max || max - c < W);
      const check = f.checkBig(c);
      const got = f.updateBig(c);
      assert.equal(check, got, 'check() predicts update()');
      assert.equal(got, expected, `round ${round} i ${i} c ${c} max ${max}`);
      if (got) {
        seen.add(c);
        if (c > max) max = c;
      }
    }
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../../src/net/token-bucket.js';

test('a bucket passes the burst at once, then the rate, and says how long to wait', () => {
  let now = 0;
  const b = new TokenBucket(1_000_000, 100_000, () => now);
  assert.equal(b.take(100_000), 0, 'burst passes');
  assert.equal(b.take(50_000), 50, '50 KB of debt at 1 MB/s is 50 ms');
  now = 50;
  assert.equal(b.take(0), 0, 'debt repaid after the wait');
  // Simulate a reader that honours the waits for 10 s: throughput converges to the rate.
  let moved = 0;
  now = 1000;
  const start = now;
  while (now - start < 10_000) {
    const wait = b.take(65536);
    moved += 65536;
    now += wait;
  }
  const rate = (moved - 100_000) / ((now - start) / 1000);
  assert.ok(Math.abs(rate - 1_000_000) / 1_000_000 < 0.02, `rate ${rate}`);
});

test('idle time never accumulates more than the burst', () => {
  let now = 0;
  const b = new TokenBucket(1000, 2000, () => now);
  b.take(2000);
  now = 1_000_000;
  assert.equal(b.take(2000), 0);
  assert.ok(b.take(1) > 0, 'only one burst after a long idle');
});

test('setRate takes effect at once', () => {
  const now = 0;
  const b = new TokenBucket(1000, 1000, () => now);
  b.take(1000);
  b.setRate(10_000, 1000);
  assert.equal(b.take(1000), 100);
});

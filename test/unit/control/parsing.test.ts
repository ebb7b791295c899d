// Pure parts of the control plane: sizes, expiries, quota periods, secrets, the usage batcher.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dayOf, periodStart } from '../../../src/control/quota.js';
import { parseSize, resolveExpiry } from '../../../src/control/service/schemas.js';
import {
  generatePassword,
  generateToken,
  hashToken,
  TOKEN_PATTERN,
} from '../../../src/control/service/secrets.js';

describe('parseSize', () => {
  it('takes binary suffixes, bytes, and unlimited', () => {
    assert.equal(parseSize('10M'), 10 * 2 ** 20);
    assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
    assert.equal(parseSize('512k'), 512 * 1024);
    assert.equal(parseSize('100GiB'), 100 * 2 ** 30);
    assert.equal(parseSize('10MB/s'), 10 * 2 ** 20);
    assert.equal(parseSize('1234'), 1234);
    assert.equal(parseSize(42), 42);
    assert.equal(parseSize('unlimited'), null);
    assert.equal(parseSize(null), null);
  });
  it('refuses the rest', () => {
    for (const bad of ['fast', '-1', '10X', '', '1e3'])
      assert.throws(() => parseSize(bad), /not a size/, bad);
    assert.throws(() => parseSize(-5), /not a byte count/);
    assert.throws(() => parseSize('99999999999T'), /too large/);
  });
});

describe('resolveExpiry', () => {
  const now = Date.UTC(2030, 0, 1, 12);
  it('reads durations from now, dates as UTC, and never', () => {
    assert.equal(resolveExpiry('30d', now), now + 30 * 86_400_000);
    assert.equal(resolveExpiry('12h', now), now + 12 * 3_600_000);
    assert.equal(resolveExpiry('2027-01-01', now), Date.UTC(2027, 0, 1));
    assert.equal(resolveExpiry('2027-01-01T10:00:00', now), Date.UTC(2027, 0, 1, 10));
    assert.equal(resolveExpiry('2027-01-01T10:00:00+02:00', now), Date.UTC(2027, 0, 1, 8));
    assert.equal(resolveExpiry('never', now), null);
    assert.equal(resolveExpiry(undefined, now), null);
  });
  it('refuses what is not a time', () => {
    for (const bad of ['soon', '30', '2027-13-45', '30 days'])
      assert.throws(() => resolveExpiry(bad, now), /not an expiry/, bad);
  });
});

describe('quota periods', () => {
  it('month starts on the 1st (UTC); rolling30 covers today and the 29 days before', () => {
    const now = Date.UTC(2030, 2, 31, 23, 59);
    assert.equal(periodStart('month', now), Date.UTC(2030, 2, 1));
    assert.equal(periodStart('rolling30', now), Date.UTC(2030, 2, 2));
    assert.equal(dayOf(now), Date.UTC(2030, 2, 31));
  });
});

describe('secrets', () => {
  it('tokens are fy_ + 43 base64url characters and hash to hex SHA-256', () => {
    const t = generateToken();
    assert.match(t, TOKEN_PATTERN);
    assert.notEqual(generateToken(), t);
    assert.match(hashToken(t), /^[0-9a-f]{64}$/);
    assert.match(generatePassword(), /^[A-Za-z0-9_-]{32}$/);
  });
});

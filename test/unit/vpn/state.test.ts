import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCidr } from '../../../src/net/cidr.js';
import {
  generateUlaPrefix,
  loadOrCreatePrivateKey,
  loadOrCreateUlaPrefix,
  readPublicProfile,
} from '../../../src/vpn/state.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-vpnstate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('VPN server state in the data directory', () => {
  it('ULA prefixes are RFC 4193 /64s with a random global ID', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = generateUlaPrefix();
      const c = parseCidr(p);
      assert.equal(c.family, 6);
      assert.equal(c.prefix, 64);
      assert.equal(c.bytes[0], 0xfd, p); // fd00::/8: L = 1, locally assigned
      assert.deepEqual([...c.bytes.subarray(6, 8)], [0, 0], 'subnet ID 0');
      seen.add(p);
    }
    assert.ok(seen.size >= 49, 'random global IDs');
  });

  it('the private key and the ULA prefix are made once (mode 0600) and then kept', () => {
    const k1 = loadOrCreatePrivateKey(dir, 'ferry0');
    const k2 = loadOrCreatePrivateKey(dir, 'ferry0');
    assert.deepEqual(k1, k2);
    assert.equal(statSync(join(dir, 'vpn/ferry0.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'vpn')).mode & 0o777, 0o700);
    assert.notDeepEqual(loadOrCreatePrivateKey(dir, 'ferry1'), k1, 'one key per interface');
    assert.equal(loadOrCreateUlaPrefix(dir, 'ferry0'), loadOrCreateUlaPrefix(dir, 'ferry0'));
  });

  it('a damaged key file is an error naming the file, not a new key', () => {
    writeFileSync(join(dir, 'vpn/bad0.key'), 'not a key\n');
    assert.throws(() => loadOrCreatePrivateKey(dir, 'bad0'), /bad0\.key: a key is 44 characters/);
  });

  it('no profile is read from a directory without one', () => {
    assert.equal(readPublicProfile(join(dir, 'nothing-here')), null);
  });
});

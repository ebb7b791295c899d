import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatClientConfig, PRIVATE_KEY_PLACEHOLDER } from '../../../src/vpn/client-config.js';
import { parseWgConfig, encodeKey } from '../../../src/wireguard/io/wg-config.js';
import { generatePresharedKey, generatePrivateKey, publicKeyOf } from '../../../src/wireguard/io/keys.js';
import type { PublicProfile } from '../../../src/vpn/state.js';

const serverKey = encodeKey(publicKeyOf(generatePrivateKey()));
const profile: PublicProfile = {
  interface: 'ferry0',
  publicKey: serverKey,
  listenPort: 51820,
  endpoint: 'vpn.example.com:51820',
  poolV4: '10.66.0.0/24',
  poolV6: 'fd66:1::/64',
  mtu: 1380,
  dns: ['10.66.0.1'],
  routes: [],
  keepalive: 25,
};
const priv = generatePrivateKey();
const base = {
  profile,
  serverAddresses: { v4: '10.66.0.1', v6: 'fd66:1::1' },
  privateKey: encodeKey(priv),
  publicKey: encodeKey(publicKeyOf(priv)),
  presharedKey: encodeKey(generatePresharedKey()),
  addressV4: '10.66.0.2',
  addressV6: 'fd66:1::2',
  endpoint: 'vpn.example.com:51820',
  split: [],
  label: 'device phone of alice',
};

describe('client config (wg-quick)', () => {
  it('is a full tunnel that the wg-quick parser reads back', () => {
    const text = formatClientConfig(base);
    const cfg = parseWgConfig(text);
    assert.equal(encodeKey(cfg.privateKey!), base.privateKey);
    assert.deepEqual(cfg.addresses, ['10.66.0.2/32', 'fd66:1::2/128']);
    assert.equal(cfg.mtu, 1380);
    assert.deepEqual(cfg.ignored, ['dns']); // wg-quick's key, not wg(8)'s: present
    assert.match(text, /^DNS = 10\.66\.0\.1$/m);
    assert.equal(cfg.peers.length, 1);
    const p = cfg.peers[0]!;
    assert.equal(encodeKey(p.publicKey), serverKey);
    assert.equal(encodeKey(p.presharedKey!), base.presharedKey);
    assert.equal(p.endpoint, 'vpn.example.com:51820');
    assert.deepEqual(p.allowedIps, ['0.0.0.0/0', '::/0']);
    assert.equal(p.persistentKeepalive, 25);
  });

  it('split tunnel routes the chosen networks plus the server itself', () => {
    const cfg = parseWgConfig(formatClientConfig({ ...base, split: ['192.168.10.0/24'], dns: ['9.9.9.9'] }));
    assert.deepEqual(cfg.peers[0]!.allowedIps, ['192.168.10.0/24', '10.66.0.1/32', 'fd66:1::1/128']);
  });

  it('with a device-made key: a placeholder that no parser accepts, and a note naming the public key', () => {
    const text = formatClientConfig({ ...base, privateKey: null, presharedKey: null });
    assert.match(text, new RegExp(`^PrivateKey = ${PRIVATE_KEY_PLACEHOLDER}$`, 'm'));
    assert.ok(text.includes(base.publicKey));
    assert.ok(!/PresharedKey/.test(text));
    assert.throws(() => parseWgConfig(text), /privatekey/i);
  });

  it('an IPv4-only device still sends ::/0 into the tunnel (no IPv6 leak)', () => {
    const cfg = parseWgConfig(formatClientConfig({ ...base, addressV6: null }));
    assert.deepEqual(cfg.addresses, ['10.66.0.2/32']);
    assert.deepEqual(cfg.peers[0]!.allowedIps, ['0.0.0.0/0', '::/0']);
  });
});

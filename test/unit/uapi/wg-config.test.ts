// wg(8) config files, key encoding, and `ferry wg show` formatting.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { configToUapi, decodeKey, encodeKey, parseWgConfig } from '../../../src/wireguard/io/wg-config.js';
import { generatePrivateKey, publicKeyOf } from '../../../src/wireguard/io/keys.js';
import { formatShow, ago, bytes } from '../../../src/cli/wg.js';
import { toHex } from '../../../src/wireguard/uapi/protocol.js';

// From the example in wg(8); `echo $K1 | wg pubkey` prints PUB1.
const K1 = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PUB1 = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';
const P1 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const K2 = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';

describe('wg config files', () => {
  it('parses [Interface] and [Peer] sections case-insensitively, with comments', () => {
    const cfg = parseWgConfig(`
# comment
[Interface]
PrivateKey = ${K1}
ListenPort = 51820
fwmark = 0x10   # trailing comment
Address = 10.0.0.1/24, fd00::1/64
MTU = 1380
DNS = 10.0.0.53

[Peer]
PublicKey = ${P1}
PresharedKey = ${K2}
AllowedIPs = 10.0.0.2/32, fd00::2/128
AllowedIPs = 10.9.0.0/16
Endpoint = [2001:db8::1]:51820
PersistentKeepalive = 25

[peer]
publickey = ${K2}
endpoint = vpn.example.com:51820
persistentkeepalive = off
`);
    assert.deepEqual(cfg.privateKey, decodeKey(K1));
    assert.equal(cfg.listenPort, 51820);
    assert.equal(cfg.fwmark, 16);
    assert.deepEqual(cfg.addresses, ['10.0.0.1/24', 'fd00::1/64']);
    assert.equal(cfg.mtu, 1380);
    assert.deepEqual(cfg.ignored, ['dns']);
    assert.equal(cfg.peers.length, 2);
    assert.deepEqual(cfg.peers[0]!.allowedIps, ['10.0.0.2/32', 'fd00::2/128', '10.9.0.0/16']);
    assert.equal(cfg.peers[0]!.endpoint, '[2001:db8::1]:51820');
    assert.equal(cfg.peers[0]!.persistentKeepalive, 25);
    assert.equal(cfg.peers[1]!.endpoint, 'vpn.example.com:51820');
    assert.equal(cfg.peers[1]!.persistentKeepalive, 0);
  });

  it('reports errors with line numbers', () => {
    assert.throws(() => parseWgConfig('[Interface]\nPrivateKey = short'), /line 2: privatekey/);
    assert.throws(() => parseWgConfig('[Interface]\nBogus = 1'), /line 2: unknown \[Interface\] key 'Bogus'/);
    assert.throws(
      () => parseWgConfig('[Peer]\nAllowedIPs = 10.0.0.1/32'),
      /line 1: \[Peer\] section without PublicKey/,
    );
    assert.throws(() => parseWgConfig('ListenPort = 1'), /outside/);
    assert.throws(
      () => parseWgConfig(`[Peer]\nPublicKey = ${P1}\nAllowedIPs = 10.0.0.1`),
      /invalid allowed IP/,
    );
    assert.throws(() => parseWgConfig('[Interface]\nListenPort = 70000'), /invalid ListenPort/);
  });

  it('converts to UAPI set lines the way `wg setconf` does', () => {
    const cfg = parseWgConfig(
      `[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${P1}\nEndpoint = h:1\nAllowedIPs = 10.0.0.9/24\n`,
    );
    assert.deepEqual(configToUapi(cfg, new Map([['h:1', '192.0.2.1:1']])), [
      `private_key=${toHex(decodeKey(K1))}`,
      'replace_peers=true',
      `public_key=${toHex(decodeKey(P1))}`,
      `preshared_key=${'0'.repeat(64)}`,
      'endpoint=192.0.2.1:1',
      'persistent_keepalive_interval=0',
      'replace_allowed_ips=true',
      'allowed_ip=10.0.0.0/24',
    ]);
  });
});

describe('keys', () => {
  it('derives the public key of the wg(8) documentation example', () => {
    assert.equal(encodeKey(publicKeyOf(decodeKey(K1))), PUB1);
  });

  it('generates clamped keys whose public key matches `wg pubkey`', (t) => {
    const priv = generatePrivateKey();
    assert.equal(priv[0]! & 7, 0);
    assert.equal(priv[31]! & 0xc0, 0x40);
    const r = spawnSync('wg', ['pubkey'], { input: encodeKey(priv) + '\n', encoding: 'utf8' });
    if (r.error) return t.skip('wg(8) not installed');
    assert.equal(r.stdout.trim(), encodeKey(publicKeyOf(priv)));
  });

  it('rejects malformed base64 keys', () => {
    for (const bad of ['', 'abc', K1.slice(0, 43), K1 + 'A', K1.replace('=', 'A')])
      assert.throws(() => decodeKey(bad));
  });
});

describe('ferry wg show formatting', () => {
  it('formats durations and sizes like wg(8)', () => {
    assert.equal(ago(0), 'Now');
    assert.equal(ago(61_000), '1 minute, 1 second ago');
    assert.equal(ago(2 * 3600_000 + 5000), '2 hours, 5 seconds ago');
    assert.equal(bytes(512), '512 B');
    assert.equal(bytes(1536), '1.50 KiB');
  });

  it('prints interface and peers', () => {
    const out = formatShow(
      'wg0',
      {
        privateKey: decodeKey(K1),
        listenPort: 51820,
        fwmark: 0,
        peers: [
          {
            publicKey: decodeKey(K2),
            presharedKey: null,
            endpoint: { address: '192.0.2.1', port: 1 },
            persistentKeepalive: 25,
            allowedIps: ['10.0.0.2/32'],
            lastHandshakeWallMs: 1000,
            rxBytes: 2048,
            txBytes: 100,
          },
        ],
      },
      11_000,
    );
    assert.match(out, new RegExp(`public key: ${PUB1.replace(/[+/]/g, '\\$&')}`));
    assert.match(out, /listening port: 51820/);
    assert.match(out, /endpoint: 192\.0\.2\.1:1/);
    assert.match(out, /latest handshake: 10 seconds ago/);
    assert.match(out, /transfer: 2\.00 KiB received, 100 B sent/);
    assert.match(out, /persistent keepalive: every 25 seconds/);
  });
});

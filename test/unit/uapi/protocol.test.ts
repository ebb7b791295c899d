// UAPI parser/serialiser against the semantics of the reference implementation (wireguard-go's
// device/uapi.go) and the spec at https://www.wireguard.com/xplatform/#configuration-protocol.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applySet,
  formatIPv6,
  parseAllowedIp,
  parseEndpoint,
  parseGetReply,
  parseIPv6,
  parseKey,
  serializeGet,
  toHex,
  UAPI_ERRNO,
  type UapiDeviceState,
  type UapiPeerChange,
  type UapiTarget,
} from '../../../src/wireguard/uapi/protocol.js';

const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const hex = (b: number): string => toHex(key(b));

interface FakePeer {
  psk: Uint8Array | null;
  endpoint: { address: string; port: number } | null;
  keepalive: number;
  ips: string[];
}

class FakeTarget implements UapiTarget {
  priv: Uint8Array | null = null;
  pub: Uint8Array | null = null;
  port = 0;
  mark = 0;
  peers = new Map<string, FakePeer>();
  log: string[] = [];
  portInUse = new Set<number>();
  publicKey(): Uint8Array | null {
    return this.pub;
  }
  setPrivateKey(k: Uint8Array | null): void {
    this.priv = k;
    this.pub = k ? k.map((x) => x ^ 0xff) : null; // stand-in derivation
    this.log.push(`priv ${k ? toHex(k).slice(0, 4) : 'null'}`);
  }
  async setListenPort(p: number): Promise<void> {
    if (this.portInUse.has(p)) throw new Error('EADDRINUSE');
    this.port = p;
    this.log.push(`port ${p}`);
  }
  setFwmark(m: number): void {
    this.mark = m;
  }
  removeAllPeers(): void {
    this.peers.clear();
    this.log.push('removeAll');
  }
  hasPeer(pk: Uint8Array): boolean {
    return this.peers.has(toHex(pk));
  }
  createPeer(pk: Uint8Array): void {
    this.peers.set(toHex(pk), { psk: null, endpoint: null, keepalive: 0, ips: [] });
    this.log.push(`create ${toHex(pk).slice(0, 2)}`);
  }
  removePeer(pk: Uint8Array): void {
    this.peers.delete(toHex(pk));
    this.log.push(`remove ${toHex(pk).slice(0, 2)}`);
  }
  updatePeer(pk: Uint8Array, c: UapiPeerChange): void {
    const p = this.peers.get(toHex(pk))!;
    if ('presharedKey' in c) p.psk = c.presharedKey ?? null;
    if (c.endpoint) p.endpoint = c.endpoint;
    if (c.persistentKeepalive !== undefined) p.keepalive = c.persistentKeepalive;
  }
  clearAllowedIps(pk: Uint8Array): void {
    this.peers.get(toHex(pk))!.ips = [];
  }
  addAllowedIp(pk: Uint8Array, cidr: string): void {
    this.peers.get(toHex(pk))!.ips.push(cidr);
  }
  persistentKeepaliveOf(pk: Uint8Array): number {
    return this.peers.get(toHex(pk))?.keepalive ?? 0;
  }
  configured: { pk: string; created: boolean; keepaliveEnabled: boolean }[] = [];
  peerConfigured(pk: Uint8Array, info: { created: boolean; keepaliveEnabled: boolean }): void {
    this.configured.push({ pk: toHex(pk).slice(0, 2), ...info });
  }
}

const set = (t: UapiTarget, lines: string[]): Promise<{ errno: number }> =>
  applySet(t, lines.join('\n') + '\n\n');

describe('UAPI values', () => {
  it('parses keys as exactly 64 hex digits in either case', () => {
    assert.deepEqual(parseKey('AB'.repeat(32)), new Uint8Array(32).fill(0xab));
    for (const bad of ['ab'.repeat(31), 'ab'.repeat(33), 'zz'.repeat(32), '']) {
      assert.throws(
        () => parseKey(bad),
        (e: { errno: number }) => e.errno === UAPI_ERRNO.INVALID,
      );
    }
  });

  it('parses endpoints with IPv4, bracketed IPv6 and zones; rejects names and bad ports', () => {
    assert.deepEqual(parseEndpoint('192.0.2.1:51820'), { address: '192.0.2.1', port: 51820 });
    assert.deepEqual(parseEndpoint('[2001:db8::1]:1'), { address: '2001:db8::1', port: 1 });
    assert.deepEqual(parseEndpoint('[fe80::1%eth0]:5'), { address: 'fe80::1%eth0', port: 5 });
    for (const bad of [
      'example.com:51820',
      '192.0.2.1',
      '192.0.2.1:65536',
      '2001:db8::1:5',
      '[2001:db8::1]',
      '01.2.3.4:5',
    ]) {
      assert.throws(() => parseEndpoint(bad), /invalid endpoint/, bad);
    }
  });

  it('canonicalises allowed IPs and clears host bits', () => {
    assert.equal(parseAllowedIp('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(parseAllowedIp('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(parseAllowedIp('2001:DB8:0:0:1::1/64'), '2001:db8::/64');
    assert.equal(parseAllowedIp('::/0'), '::/0');
    assert.equal(parseAllowedIp('fd00::1/128'), 'fd00::1/128');
    for (const bad of [
      '10.0.0.1',
      '10.0.0.1/33',
      '::1/129',
      '10.0.0.1/08',
      'fe80::1%eth0/64',
      '1.2.3/8',
      'x/1',
    ]) {
      assert.throws(() => parseAllowedIp(bad), /invalid allowed IP/, bad);
    }
  });

  it('formats IPv6 per RFC 5952', () => {
    const f = (s: string): string => formatIPv6(parseIPv6(s)!);
    assert.equal(f('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(f('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
    assert.equal(f('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // first of equal runs
    assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single 0 is not compressed
    assert.equal(f('::'), '::');
    assert.equal(f('::ffff:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(parseIPv6('1::2::3'), null);
    assert.equal(parseIPv6('1:2:3:4:5:6:7:8:9'), null);
  });
});

describe('UAPI get', () => {
  const state: UapiDeviceState = {
    privateKey: key(1),
    listenPort: 51820,
    fwmark: 0,
    peers: [
      {
        publicKey: key(2),
        presharedKey: null,
        endpoint: { address: '2001:db8::1', port: 7 },
        persistentKeepalive: 25,
        allowedIps: ['10.0.0.2/32', 'fd00::2/128'],
        lastHandshakeWallMs: 1_700_000_000_123,
        rxBytes: 10,
        txBytes: 20,
      },
    ],
  };

  it('serialises in the reference order, omitting zero device values', () => {
    assert.equal(
      serializeGet(state),
      [
        `private_key=${hex(1)}`,
        'listen_port=51820',
        `public_key=${hex(2)}`,
        `preshared_key=${hex(0)}`,
        'protocol_version=1',
        'endpoint=[2001:db8::1]:7',
        'last_handshake_time_sec=1700000000',
        'last_handshake_time_nsec=123000000',
        'tx_bytes=20',
        'rx_bytes=10',
        'persistent_keepalive_interval=25',
        'allowed_ip=10.0.0.2/32',
        'allowed_ip=fd00::2/128',
        '',
      ].join('\n'),
    );
    assert.equal(serializeGet({ privateKey: null, listenPort: 0, fwmark: 0, peers: [] }), '');
  });

  it('round-trips through the client parser', () => {
    const back = parseGetReply(serializeGet(state) + 'errno=0\n\n');
    assert.deepEqual(back, state);
    assert.throws(
      () => parseGetReply('errno=-22\n\n'),
      (e: { errno: number }) => e.errno === -22,
    );
  });
});

describe('UAPI set', () => {
  it('applies device and peer keys', async () => {
    const t = new FakeTarget();
    const r = await set(t, [
      `private_key=${hex(7)}`,
      'listen_port=12345',
      'fwmark=42',
      'replace_peers=true',
      `public_key=${hex(2)}`,
      `preshared_key=${hex(3)}`,
      'endpoint=192.0.2.1:51820',
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      'allowed_ip=10.0.0.0/24',
      'allowed_ip=fd00::/64',
      'protocol_version=1',
    ]);
    assert.equal(r.errno, 0);
    assert.equal(t.port, 12345);
    assert.equal(t.mark, 42);
    const p = t.peers.get(hex(2))!;
    assert.deepEqual(p.psk, key(3));
    assert.deepEqual(p.endpoint, { address: '192.0.2.1', port: 51820 });
    assert.equal(p.keepalive, 25);
    assert.deepEqual(p.ips, ['10.0.0.0/24', 'fd00::/64']);
    assert.deepEqual(t.configured, [{ pk: '02', created: true, keepaliveEnabled: true }]);
  });

  it('a zero private key clears it; a zero preshared key means none', async () => {
    const t = new FakeTarget();
    await set(t, [`private_key=${hex(7)}`, `public_key=${hex(2)}`, `preshared_key=${hex(3)}`]);
    assert.equal(
      (await set(t, [`private_key=${hex(0)}`, `public_key=${hex(2)}`, `preshared_key=${hex(0)}`])).errno,
      0,
    );
    assert.equal(t.priv, null);
    assert.equal(t.peers.get(hex(2))!.psk, null);
  });

  it('replace_allowed_ips then allowed_ip replaces; allowed_ip alone appends', async () => {
    const t = new FakeTarget();
    await set(t, [`public_key=${hex(2)}`, 'allowed_ip=10.0.0.1/32']);
    await set(t, [`public_key=${hex(2)}`, 'allowed_ip=10.0.0.2/32']);
    assert.deepEqual(t.peers.get(hex(2))!.ips, ['10.0.0.1/32', '10.0.0.2/32']);
    await set(t, [`public_key=${hex(2)}`, 'replace_allowed_ips=true', 'allowed_ip=10.0.0.3/32']);
    assert.deepEqual(t.peers.get(hex(2))!.ips, ['10.0.0.3/32']);
  });

  it('remove=true removes the peer and ignores its further lines', async () => {
    const t = new FakeTarget();
    await set(t, [`public_key=${hex(2)}`, `public_key=${hex(3)}`]);
    assert.equal(
      (await set(t, [`public_key=${hex(2)}`, 'remove=true', 'allowed_ip=10.0.0.1/32', 'endpoint=1.2.3.4:5']))
        .errno,
      0,
    );
    assert.deepEqual([...t.peers.keys()], [hex(3)]);
  });

  it('update_only=true does not create a missing peer but updates an existing one', async () => {
    const t = new FakeTarget();
    assert.equal(
      (await set(t, [`public_key=${hex(2)}`, 'update_only=true', 'allowed_ip=10.0.0.1/32'])).errno,
      0,
    );
    assert.equal(t.peers.size, 0);
    await set(t, [`public_key=${hex(2)}`]);
    await set(t, [`public_key=${hex(2)}`, 'update_only=true', 'allowed_ip=10.0.0.1/32']);
    assert.deepEqual(t.peers.get(hex(2))!.ips, ['10.0.0.1/32']);
  });

  it("ignores a peer whose key is the device's own public key", async () => {
    const t = new FakeTarget();
    await set(t, [`private_key=${hex(7)}`]);
    const own = toHex(t.pub!);
    assert.equal((await set(t, [`public_key=${own}`, 'allowed_ip=10.0.0.1/32'])).errno, 0);
    assert.equal(t.peers.size, 0);
  });

  it('signals a keepalive only when persistent keepalive turns on', async () => {
    const t = new FakeTarget();
    await set(t, [`public_key=${hex(2)}`, 'persistent_keepalive_interval=25']);
    await set(t, [`public_key=${hex(2)}`, 'persistent_keepalive_interval=30']);
    await set(t, [`public_key=${hex(2)}`, 'persistent_keepalive_interval=0']);
    assert.deepEqual(
      t.configured.map((c) => c.keepaliveEnabled),
      [true, false, false],
    );
  });

  it('replies with negative errno values like wireguard-go', async () => {
    const cases: [string[], number][] = [
      [['no_equals_sign'], UAPI_ERRNO.PROTOCOL],
      [['bogus=1'], UAPI_ERRNO.INVALID],
      [['listen_port=65536'], UAPI_ERRNO.INVALID],
      [['listen_port=-1'], UAPI_ERRNO.INVALID],
      [['fwmark=4294967296'], UAPI_ERRNO.INVALID],
      [['replace_peers=1'], UAPI_ERRNO.INVALID],
      [['private_key=00'], UAPI_ERRNO.INVALID],
      [['public_key=xyz'], UAPI_ERRNO.INVALID],
      [[`public_key=${hex(2)}`, 'bogus=1'], UAPI_ERRNO.INVALID],
      [[`public_key=${hex(2)}`, 'protocol_version=2'], UAPI_ERRNO.INVALID],
      [[`public_key=${hex(2)}`, 'endpoint=host.example:1'], UAPI_ERRNO.INVALID],
      [[`public_key=${hex(2)}`, 'allowed_ip=10.0.0.1'], UAPI_ERRNO.INVALID],
      [[`public_key=${hex(2)}`, 'remove=yes'], UAPI_ERRNO.INVALID],
      [[`public_key=${hex(2)}`, 'persistent_keepalive_interval=70000'], UAPI_ERRNO.INVALID],
      [['listen_port=999'], UAPI_ERRNO.PORT_IN_USE],
    ];
    for (const [lines, errno] of cases) {
      const t = new FakeTarget();
      t.portInUse.add(999);
      assert.equal((await set(t, lines)).errno, errno, lines.join(' | '));
    }
  });

  it('keeps lines applied before an error (no transaction), as the reference does', async () => {
    const t = new FakeTarget();
    const r = await set(t, [
      'listen_port=1000',
      `public_key=${hex(2)}`,
      'allowed_ip=10.0.0.1/32',
      'allowed_ip=bad',
    ]);
    assert.equal(r.errno, UAPI_ERRNO.INVALID);
    assert.equal(t.port, 1000);
    assert.deepEqual(t.peers.get(hex(2))!.ips, ['10.0.0.1/32']);
  });

  it('device keys after the first public_key are peer keys (and so invalid)', async () => {
    const t = new FakeTarget();
    assert.equal((await set(t, [`public_key=${hex(2)}`, 'listen_port=1'])).errno, UAPI_ERRNO.INVALID);
  });
});

// `ferry peer ...` as an administrator runs it: the real CLI against a data directory and a config
// with a `vpn:` section (no server running, no root needed). Concurrent `peer add` from separate
// processes must never share an address: allocation happens inside the store's write transaction.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAsync } from '../../helpers/proc.js';
import { FERRY_MAIN } from '../../helpers/ferry.js';
import { parseWgConfig, encodeKey } from '../../../src/wireguard/io/wg-config.js';
import { generatePrivateKey, publicKeyOf } from '../../../src/wireguard/io/keys.js';
import { localPrincipal } from '../../../src/control/service/principal.js';
import { startHarness } from '../api/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-peercli-'));
const cfg = join(dir, 'ferry.yaml');

function ferry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAsync(process.execPath, [FERRY_MAIN, ...args], { timeoutMs: 60_000 });
}
async function ok(args: string[]): Promise<string> {
  const r = await ferry(args);
  assert.equal(r.code, 0, `ferry ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  writeFileSync(
    cfg,
    [
      `data_dir: ${join(dir, 'data')}`,
      'inbounds: [{ name: http, type: http, listen: "127.0.0.1:0" }]',
      'vpn:',
      '  endpoint: "vpn.example.com:51820"',
      '  address_v4: 10.66.0.0/24',
      '  dns: [tunnel, 9.9.9.9]',
      '  dns_forwarder: { upstreams: ["udp://9.9.9.9"] }',
      '',
    ].join('\n'),
  );
  await ok(['user', 'add', 'alice', '-c', cfg]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('ferry peer', () => {
  it('add prints a config that wg-quick reads: fresh keys, pool addresses, tunnel DNS, full tunnel', async () => {
    const text = await ok(['peer', 'add', 'alice', 'phone', '-c', cfg]);
    const c = parseWgConfig(text);
    assert.equal(existsSync(join(dir, 'data/vpn/server.json')), false, 'written by ferry serve only');
    // The server key was made in the data directory, owner-only, and is the config's peer.
    const keyFile = join(dir, 'data/vpn/ferry0.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const serverKey = publicKeyOf(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64'));
    assert.equal(encodeKey(c.peers[0]!.publicKey), encodeKey(serverKey));
    assert.equal(c.addresses[0], '10.66.0.2/32');
    assert.match(c.addresses[1]!, /^fd[0-9a-f:]+::2\/128$/, 'the generated ULA prefix');
    assert.match(text, /^DNS = 10\.66\.0\.1, fd[0-9a-f:]+::1, 9\.9\.9\.9$/m);
    assert.deepEqual(c.peers[0]!.allowedIps, ['0.0.0.0/0', '::/0']);
    assert.equal(c.peers[0]!.endpoint, 'vpn.example.com:51820');
    assert.ok(c.peers[0]!.presharedKey);
    // The store has the device's public key, never its private key.
    const list = JSON.parse(await ok(['peer', 'list', 'alice', '-c', cfg, '--json'])) as {
      publicKey: string;
    }[];
    assert.equal(list[0]!.publicKey, encodeKey(publicKeyOf(c.privateKey!)));
    const db = readFileSync(join(dir, 'data/ferry.db'));
    assert.ok(!db.includes(encodeKey(c.privateKey!)), 'the private key is not stored');
  });

  it('concurrent adds from separate processes get distinct addresses', async () => {
    const n = 6;
    const outs = await Promise.all(
      Array.from({ length: n }, (_, i) => ok(['peer', 'add', 'alice', `d${i}`, '-c', cfg, '--no-psk'])),
    );
    const addrs = outs.map((t) => parseWgConfig(t).addresses[0]);
    assert.equal(new Set(addrs).size, n, addrs.join(' '));
    assert.deepEqual(
      addrs.map((a) => Number(a!.split('.')[3]!.split('/')[0])).sort((a, b) => a - b),
      [3, 4, 5, 6, 7, 8],
    );
  });

  it('takes a device-made public key, writes QR files, split tunnel and --endpoint', async () => {
    const pub = encodeKey(publicKeyOf(generatePrivateKey()));
    const png = join(dir, 'tab.png');
    const svg = join(dir, 'tab.svg');
    const text = await ok([
      'peer',
      'add',
      'alice',
      'tablet',
      '-c',
      cfg,
      '--public-key',
      pub,
      '--split',
      '192.168.10.0/24',
      '--endpoint',
      '[2001:db8::1]:51820',
      '--qr-file',
      png,
    ]);
    assert.match(text, /^PrivateKey = REPLACE_WITH_THIS_DEVICE_PRIVATE_KEY$/m);
    assert.ok(text.includes(pub));
    assert.match(text, /^Endpoint = \[2001:db8::1\]:51820$/m);
    assert.match(text, /^AllowedIPs = 192\.168\.10\.0\/24, 10\.66\.0\.1\/32, fd[0-9a-f:]+::1\/128$/m);
    assert.deepEqual([...readFileSync(png).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    await ok(['peer', 'rotate', 'alice', 'tablet', '-c', cfg, '--qr-file', svg]);
    assert.match(readFileSync(svg, 'utf8'), /^<svg/);
  });

  it('rotate gives new keys and keeps the addresses; show and remove', async () => {
    const before = JSON.parse(await ok(['peer', 'show', 'alice', 'phone', '-c', cfg, '--json'])) as {
      publicKey: string;
      addressV4: string;
      addressV6: string;
    };
    const text = await ok(['peer', 'rotate', 'alice', 'phone', '-c', cfg]);
    const c = parseWgConfig(text);
    const after = JSON.parse(
      await ok(['peer', 'show', 'alice', 'phone', '-c', cfg, '--json']),
    ) as typeof before;
    assert.notEqual(after.publicKey, before.publicKey);
    assert.equal(after.publicKey, encodeKey(publicKeyOf(c.privateKey!)));
    assert.deepEqual([after.addressV4, after.addressV6], [before.addressV4, before.addressV6]);
    assert.deepEqual(c.addresses, [`${before.addressV4}/32`, `${before.addressV6}/128`]);
    await ok(['peer', 'remove', 'alice', 'phone', '-c', cfg]);
    const r = await ferry(['peer', 'show', 'alice', 'phone', '-c', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has no device 'phone'/);
  });

  it('says what is missing instead of printing a config that cannot work', async () => {
    const noEndpoint = join(dir, 'noendpoint.yaml');
    writeFileSync(noEndpoint, `data_dir: ${join(dir, 'data')}\nvpn: {}\n`);
    let r = await ferry(['peer', 'add', 'alice', 'x', '-c', noEndpoint]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give --endpoint host:port or set vpn\.endpoint/);
    r = await ferry(['peer', 'add', 'alice', 'x', '--data-dir', join(dir, 'empty')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no VPN server found: pass -c <config> with a vpn: section/);
    r = await ferry(['peer', 'add', 'alice', 'x', '-c', cfg, '--split', '10.0.0.0/33']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--split: .*invalid prefix length/);
    r = await ferry(['peer', 'add', 'nobody', 'x', '-c', cfg]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nobody/);
  });
});

describe('ferry peer --api', () => {
  it('allocates and rotates through the REST API, with the server profile from --profile', async () => {
    const h = await startHarness({}, 'ferry-peer-api-');
    try {
      const local = h.service.as(localPrincipal('test'));
      await local.users.add({ name: 'carol' });
      const profile = join(dir, 'remote-server.json');
      const serverKey = encodeKey(publicKeyOf(generatePrivateKey()));
      writeFileSync(
        profile,
        JSON.stringify({
          interface: 'ferry0',
          publicKey: serverKey,
          listenPort: 51820,
          endpoint: 'vpn.remote.example:51820',
          poolV4: '10.70.0.0/24',
          poolV6: 'fd70::/64',
          mtu: 1420,
          dns: [],
          routes: [],
          keepalive: 25,
        }),
      );
      const api = ['--api', h.server.url, '--token', h.adminToken];
      // Without the profile the CLI says what it needs rather than guessing.
      const r = await ferry(['peer', 'add', 'carol', 'phone', ...api]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /with --api, pass --profile/);
      const c1 = parseWgConfig(await ok(['peer', 'add', 'carol', 'phone', ...api, '--profile', profile]));
      const c2 = parseWgConfig(await ok(['peer', 'add', 'carol', 'tablet', ...api, '--profile', profile]));
      assert.deepEqual(c1.addresses, ['10.70.0.2/32', 'fd70::2/128']);
      assert.deepEqual(c2.addresses, ['10.70.0.3/32', 'fd70::3/128']);
      assert.equal(encodeKey(c1.peers[0]!.publicKey), serverKey);
      const rotated = parseWgConfig(
        await ok(['peer', 'rotate', 'carol', 'phone', ...api, '--profile', profile]),
      );
      assert.deepEqual(rotated.addresses, c1.addresses);
      const stored = (await h.store.listPeers()).find((p) => p.name === 'phone')!;
      assert.equal(stored.publicKey, encodeKey(publicKeyOf(rotated.privateKey!)));
      assert.equal(stored.presharedKey, encodeKey(rotated.peers[0]!.presharedKey!));
    } finally {
      await h.close();
    }
  });
});

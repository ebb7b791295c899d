// `ferry wg` (keys, up, show) and the ferry-wg process life cycle: daemonising like wireguard-go,
// and exiting cleanly - socket and interface gone - on SIGTERM and when the interface is deleted.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason, requirePrereqs } from '../../helpers/prereq.js';
import { run, start } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { Netns, veth } from '../../helpers/netns.js';
import {
  FERRY_WG,
  REPO,
  Scratch,
  WG_NEEDS,
  genkey,
  ifname,
  pingUntil,
  runAsync,
  startImpl,
} from './harness.js';

const DRIVER = join(REPO, 'dist/test/integration/wireguard/wg-cli-driver.js');
const ferry = (args: string[], input?: string): string =>
  run(process.execPath, [DRIVER, ...args], input === undefined ? {} : { input });
const skip = skipReason(WG_NEEDS);

describe('ferry wg keys', () => {
  it('genkey/pubkey/genpsk agree with wg(8)', (t) => {
    if (!requirePrereqs(t, { tools: ['wg'] })) return;
    const priv = ferry(['wg', 'genkey']);
    assert.match(priv, /^[A-Za-z0-9+/]{43}=\n$/);
    assert.equal(ferry(['wg', 'pubkey'], priv), run('wg', ['pubkey'], { input: priv }));
    const wgPriv = run('wg', ['genkey']);
    assert.equal(ferry(['wg', 'pubkey'], wgPriv), run('wg', ['pubkey'], { input: wgPriv }));
    assert.match(ferry(['wg', 'genpsk']), /^[A-Za-z0-9+/]{43}=\n$/);
    const bad = run(process.execPath, [DRIVER, 'wg', 'pubkey'], { input: 'not a key\n', allowFail: true });
    assert.match(bad, /not the correct length or format/);
  });
});

describe('ferry-wg life cycle', { skip, timeout: 120_000 }, () => {
  const spaces: Netns[] = [];
  after(() => spaces.forEach((n) => n.destroy()));

  it('daemonises, and exits removing its socket when the interface is deleted', async () => {
    requirePrereqs(undefined, WG_NEEDS);
    const ns = new Netns('d');
    spaces.push(ns);
    const name = ifname('d');
    // Without -f: returns once the UAPI socket exists, leaving the daemon running.
    const r = await runAsync('ip', ns.wrap(['node', FERRY_WG, name]), { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(`/var/run/wireguard/${name}.sock`));
    assert.ok(run('ip', ['netns', 'pids', ns.name]).trim(), 'daemon running');
    ns.ip(['link', 'del', name]);
    await waitFor('daemon to exit', () => !run('ip', ['netns', 'pids', ns.name]).trim());
    assert.ok(!existsSync(`/var/run/wireguard/${name}.sock`), 'socket removed');
  });

  it('SIGTERM removes socket and interface', async () => {
    requirePrereqs(undefined, WG_NEEDS);
    const ns = new Netns('s');
    spaces.push(ns);
    const name = ifname('s');
    const proc = await startImpl(ns, 'ferry', name);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
    assert.ok(!existsSync(`/var/run/wireguard/${name}.sock`), 'socket removed');
    assert.notEqual(
      (await runAsync('ip', ['-n', ns.name, 'link', 'show', name])).code,
      0,
      'interface removed',
    );
  });

  it('refuses a second daemon on the same interface name', async () => {
    requirePrereqs(undefined, WG_NEEDS);
    const ns = new Netns('x');
    spaces.push(ns);
    const name = ifname('x');
    const first = await startImpl(ns, 'ferry', name);
    const second = await runAsync('ip', ns.wrap(['node', FERRY_WG, '-f', name]));
    assert.notEqual(second.code, 0);
    assert.ok(existsSync(`/var/run/wireguard/${name}.sock`), 'the first one keeps its socket');
    await first.kill();
  });
});

describe('ferry wg up / show', { skip, timeout: 120_000 }, () => {
  const scratch = new Scratch();
  const spaces: Netns[] = [];
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops) await s();
    spaces.forEach((n) => n.destroy());
    scratch.remove();
  });

  it('runs an interface from a wg-quick style file and shows it', async () => {
    requirePrereqs(undefined, WG_NEEDS);
    const a = new Netns('ua');
    const b = new Netns('ub');
    spaces.push(a, b);
    veth(a, '10.77.70.1/24', b, '10.77.70.2/24');
    const ka = genkey();
    const kb = genkey();
    const nameB = ifname('g');
    const procB = await startImpl(b, 'wggo', nameB);
    stops.push(() => procB.kill());
    b.exec([
      'wg',
      'set',
      nameB,
      'private-key',
      scratch.file('b.key', kb.priv),
      'listen-port',
      '51002',
      'peer',
      ka.pub,
      'allowed-ips',
      '10.78.70.1/32',
    ]);
    b.ip(['addr', 'add', '10.78.70.2/24', 'dev', nameB]);
    b.ip(['link', 'set', nameB, 'up']);

    const nameA = ifname('u');
    const conf = scratch.file(
      `${nameA}.conf`,
      `[Interface]\nPrivateKey = ${ka.priv}\nListenPort = 51001\nAddress = 10.78.70.1/24\nDNS = 10.78.70.53\n\n` +
        `[Peer]\nPublicKey = ${kb.pub}\nEndpoint = 10.77.70.2:51002\nAllowedIPs = 10.78.70.2/32, 10.99.0.0/16\n`,
    );
    const up = start('ip', a.wrap([process.execPath, DRIVER, 'wg', 'up', conf]));
    stops.push(() => up.kill());
    await waitFor('ferry wg up to create its socket', () => {
      if (up.child.exitCode !== null) throw new Error(up.output());
      return existsSync(`/var/run/wireguard/${nameA}.sock`);
    });
    await pingUntil(a, '10.78.70.2');
    assert.match(up.output(), /ignoring wg-quick key 'dns'/);
    // The route for the extra allowed IP went to the interface.
    assert.match(a.exec(['ip', 'route', 'show', '10.99.0.0/16']), new RegExp(`dev ${nameA}`));
    const show = (await runAsync('ip', a.wrap([process.execPath, DRIVER, 'wg', 'show', nameA]))).stdout;
    assert.match(show, new RegExp(`interface: ${nameA}`));
    assert.match(show, /listening port: 51001/);
    assert.match(show, /endpoint: 10\.77\.70\.2:51002/);
    assert.match(show, /latest handshake: (Now|\d+ seconds? ago)/);
    assert.match(show, /transfer: .* received, .* sent/);
    // wg(8) sees the same interface.
    assert.equal(a.exec(['wg', 'show', nameA, 'public-key']).trim(), ka.pub);
    up.child.kill('SIGINT');
    await up.exited;
    assert.ok(!existsSync(`/var/run/wireguard/${nameA}.sock`));
  });
});

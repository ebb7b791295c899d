// ferry-wg driven by the stock tools: wg show/set/showconf/setconf/syncconf over the UAPI socket,
// wg-quick up/down with WG_QUICK_USERSPACE_IMPLEMENTATION, and hostile datagrams (random, truncated,
// oversized, replayed) after which the tunnel still works and the drops are counted.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { skipReason, requirePrereqs } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { run, start } from '../../helpers/proc.js';
import { Netns, veth } from '../../helpers/netns.js';
import {
  FERRY_WG,
  Pair,
  Scratch,
  WG_NEEDS,
  ferryStats,
  genkey,
  ifname,
  ping,
  pingUntil,
  runAsync,
  startImpl,
  wgShow,
} from './harness.js';

const skip = skipReason(WG_NEEDS);

/** Parses `wg showconf` output into sections of key -> value (values of repeated keys joined). */
function showconf(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('[')) out.push({ section: line });
    else if (line.includes('=')) {
      const [k, ...v] = line.split('=');
      const key = k!.trim();
      const val = v.join('=').trim();
      const cur = out[out.length - 1]!;
      cur[key] = cur[key] ? `${cur[key]}, ${val}` : val;
    }
  }
  return out;
}

describe('wg(8) driving ferry-wg', { skip, timeout: 120_000 }, () => {
  let ns: Netns | undefined;
  const scratch = new Scratch();
  let name = '';
  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    requirePrereqs(undefined, WG_NEEDS);
    ns = new Netns('t');
    name = ifname('f');
    const proc = await startImpl(ns, 'ferry', name);
    stop = () => proc.kill();
  });
  after(async () => {
    await stop?.();
    ns?.destroy();
    scratch.remove();
  });

  it('wg set / show / showconf round-trip every field', () => {
    const n = ns!;
    const me = genkey();
    const p1 = genkey();
    const psk = run('wg', ['genpsk']).trim();
    n.exec([
      'wg',
      'set',
      name,
      'private-key',
      scratch.file('me.key', me.priv),
      'listen-port',
      '51100',
      'fwmark',
      '0x42',
      'peer',
      p1.pub,
      'preshared-key',
      scratch.file('psk', psk),
      'endpoint',
      '[fd77:99::9]:51820',
      'persistent-keepalive',
      '25',
      'allowed-ips',
      '10.0.0.0/24,fd00::/64',
    ]);
    const conf = showconf(n.exec(['wg', 'showconf', name]));
    assert.deepEqual(conf[0], {
      section: '[Interface]',
      ListenPort: '51100',
      FwMark: '0x42',
      PrivateKey: me.priv,
    });
    assert.deepEqual(conf[1], {
      section: '[Peer]',
      PublicKey: p1.pub,
      PresharedKey: psk,
      AllowedIPs: '10.0.0.0/24, fd00::/64',
      Endpoint: '[fd77:99::9]:51820',
      PersistentKeepalive: '25',
    });
    assert.equal(n.exec(['wg', 'show', name, 'public-key']).trim(), me.pub);
    assert.match(n.exec(['wg', 'show', name]), /persistent keepalive: every 25 seconds/);
    // Removing an allowed IP: wg(8) replaces the list.
    n.exec(['wg', 'set', name, 'peer', p1.pub, 'allowed-ips', '10.0.0.0/24']);
    assert.equal(n.exec(['wg', 'show', name, 'allowed-ips']).trim(), `${p1.pub}\t10.0.0.0/24`);
    n.exec(['wg', 'set', name, 'peer', p1.pub, 'remove']);
    assert.equal(n.exec(['wg', 'show', name, 'peers']).trim(), '');
  });

  it('wg setconf and syncconf replace and reconcile peers', () => {
    const n = ns!;
    const me = genkey();
    const [p1, p2, p3] = [genkey(), genkey(), genkey()];
    const conf1 = scratch.file(
      'c1.conf',
      `[Interface]\nPrivateKey = ${me.priv}\nListenPort = 51101\n\n[Peer]\nPublicKey = ${p1.pub}\nAllowedIPs = 10.1.0.1/32\n\n` +
        `[Peer]\nPublicKey = ${p2.pub}\nAllowedIPs = 10.1.0.2/32\nEndpoint = 10.9.9.9:1\n`,
    );
    n.exec(['wg', 'setconf', name, conf1]);
    assert.deepEqual(
      n.exec(['wg', 'show', name, 'peers']).trim().split('\n').sort(),
      [p1.pub, p2.pub].sort(),
    );
    const conf2 = scratch.file(
      'c2.conf',
      `[Interface]\nPrivateKey = ${me.priv}\nListenPort = 51101\n\n[Peer]\nPublicKey = ${p2.pub}\nAllowedIPs = 10.1.0.22/32\nEndpoint = 10.9.9.9:1\n\n` +
        `[Peer]\nPublicKey = ${p3.pub}\nAllowedIPs = 10.1.0.3/32\n`,
    );
    n.exec(['wg', 'syncconf', name, conf2]);
    const ips = n.exec(['wg', 'show', name, 'allowed-ips']).trim().split('\n').sort();
    assert.deepEqual(ips, [`${p2.pub}\t10.1.0.22/32`, `${p3.pub}\t10.1.0.3/32`].sort());
    assert.equal(n.exec(['wg', 'show', name, 'listen-port']).trim(), '51101');
  });

  it('rejects bad input with the errno wireguard-go would return', async () => {
    const n = ns!;
    // Hold a UDP port in the namespace, then ask ferry-wg to move there: EADDRINUSE.
    const holder = start(
      'ip',
      n.wrap([
        'node',
        '-e',
        "require('dgram').createSocket('udp4').bind(51999); setTimeout(() => {}, 30000)",
      ]),
    );
    try {
      await waitFor('port 51999 held', async () =>
        (await runAsync('ip', n.wrap(['ss', '-Hlun', 'sport = :51999']))).stdout.includes('51999'),
      );
      const r = await runAsync('ip', n.wrap(['wg', 'set', name, 'listen-port', '51999']));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Address already in use/);
    } finally {
      await holder.kill('SIGKILL');
    }
    // A raw protocol error straight on the socket.
    const reply = await runAsync(
      'ip',
      n.wrap([
        'node',
        '-e',
        `
      const s = require('net').createConnection('/var/run/wireguard/${name}.sock');
      s.on('connect', () => s.write('set=1\\nlisten_port=notanumber\\n\\n'));
      s.on('data', (d) => { process.stdout.write(d); s.end(); });`,
      ]),
    );
    assert.equal(reply.stdout, 'errno=-22\n\n');
    assert.ok(n.exec(['wg', 'show', name, 'listen-port']).trim().length > 0, 'still answering');
  });
});

describe('wg-quick with ferry-wg', { skip, timeout: 120_000 }, () => {
  let a: Netns | undefined;
  let b: Netns | undefined;
  const scratch = new Scratch();
  let stopA: (() => Promise<void>) | undefined;
  before(() => requirePrereqs(undefined, WG_NEEDS));
  after(async () => {
    await stopA?.();
    a?.destroy();
    b?.destroy();
    scratch.remove();
  });

  it('wg-quick up brings a tunnel up and wg-quick down removes it', async () => {
    a = new Netns('qa');
    b = new Netns('qb');
    veth(a, '10.77.30.1/24', b, '10.77.30.2/24');
    const ka = genkey();
    const kb = genkey();
    const nameA = ifname('g');
    const procA = await startImpl(a, 'wggo', nameA);
    stopA = () => procA.kill();
    a.exec([
      'wg',
      'set',
      nameA,
      'private-key',
      scratch.file('a.key', ka.priv),
      'listen-port',
      '51001',
      'peer',
      kb.pub,
      'allowed-ips',
      '10.78.30.2/32',
    ]);
    a.ip(['addr', 'add', '10.78.30.1/24', 'dev', nameA]);
    a.ip(['link', 'set', nameA, 'up']);

    // wg-quick runs `$WG_QUICK_USERSPACE_IMPLEMENTATION <ifname>` (after `command -v`), exactly as it
    // runs wireguard-go; this wrapper stands in for the installed `ferry-wg` bin.
    const impl = scratch.file('ferry-wg', `#!/bin/sh\nexec ${process.execPath} ${FERRY_WG} "$@"\n`);
    chmodSync(impl, 0o755);
    const nameB = ifname('q');
    const conf = scratch.file(
      `${nameB}.conf`,
      `[Interface]\nPrivateKey = ${kb.priv}\nListenPort = 51002\nAddress = 10.78.30.2/24\n\n` +
        `[Peer]\nPublicKey = ${ka.pub}\nEndpoint = 10.77.30.1:51001\nAllowedIPs = 10.78.30.1/32\nPersistentKeepalive = 25\n`,
    );
    const env = ['env', `WG_QUICK_USERSPACE_IMPLEMENTATION=${impl}`];
    const up = await runAsync('ip', b.wrap([...env, 'wg-quick', 'up', conf]), { timeoutMs: 30_000 });
    assert.equal(up.code, 0, `wg-quick up failed:\n${up.stderr}`);
    assert.ok(existsSync(`/var/run/wireguard/${nameB}.sock`));
    await pingUntil(b, '10.78.30.1');
    // The keepalive made a handshake without any traffic from a; a's view agrees.
    assert.match(a.exec(['wg', 'show', nameA, 'endpoints']), /10\.77\.30\.2:51002/);

    const down = await runAsync('ip', b.wrap([...env, 'wg-quick', 'down', conf]), { timeoutMs: 30_000 });
    assert.equal(down.code, 0, `wg-quick down failed:\n${down.stderr}`);
    await waitFor('ferry-wg to remove the interface after wg-quick down', async () => {
      const r = await runAsync('ip', ['-n', b!.name, 'link', 'show', nameB]);
      return r.code !== 0;
    });
    await waitFor(
      'ferry-wg to exit',
      async () => !(await runAsync('ip', ['netns', 'pids', b!.name])).stdout.trim(),
    );
  });
});

/** Extracts the UDP payloads of an Ethernet pcap (tcpdump -w) whose first byte is `type`. */
function pcapPayloads(file: string, type: number): Buffer[] {
  const buf = readFileSync(file);
  const out: Buffer[] = [];
  let off = 24; // global header
  while (off + 16 <= buf.length) {
    const incl = buf.readUInt32LE(off + 8);
    const pkt = buf.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (pkt.readUInt16BE(12) !== 0x0800) continue; // IPv4 only
    const ihl = (pkt[14]! & 15) * 4;
    if (pkt[14 + 9] !== 17) continue;
    const payload = pkt.subarray(14 + ihl + 8);
    if (payload[0] === type) out.push(Buffer.from(payload));
  }
  return out;
}

describe('hostile datagrams', { skip, timeout: 120_000 }, () => {
  let pair: Pair | undefined;
  before(async () => {
    requirePrereqs(undefined, { ...WG_NEEDS, tools: [...WG_NEEDS.tools, 'tcpdump'] });
    pair = await Pair.create('ferry', 'wggo', 40);
    pair.configure();
  });
  after(async () => {
    await pair?.destroy();
  });

  it('survives random, truncated, oversized and replayed datagrams and counts the drops', async () => {
    const p = pair!;
    await pingUntil(p.b.ns, p.a.inner4);

    // Capture some of b's transport-data messages to a (type 4) to replay them later.
    const pcap = `${p.scratch.dir}/cap.pcap`;
    const vethA = p.a.ns.exec(['ip', '-o', 'addr', 'show', 'to', p.a.outer4]).split(/\s+/)[1]!;
    const cap = start(
      'ip',
      p.a.ns.wrap([
        'tcpdump',
        '-U',
        '-i',
        vethA,
        '-w',
        pcap,
        '-c',
        '10',
        'udp',
        'and',
        'dst',
        'port',
        String(p.a.port),
      ]),
    );
    await waitFor('tcpdump to start', () => cap.output().includes('listening on'));
    assert.ok(await ping(p.b.ns, p.a.inner4, { count: 5 }));
    // tcpdump -U writes each packet as it comes; a record still being written is cut short by the
    // parser, so poll the file until three data messages are in it.
    await waitFor('three data messages captured', () => pcapPayloads(pcap, 4).length >= 3);
    await cap.kill('SIGINT');
    const data = pcapPayloads(pcap, 4);
    assert.ok(data.length >= 3, `captured ${data.length} data messages`);

    const before = await ferryStats(p.a);
    // From b's namespace, at a's port: garbage of every size, each message type truncated and
    // padded, a 60 KiB datagram, then the captured data messages again (replays).
    const script = `
      const d = require('dgram').createSocket('udp4');
      const crypto = require('crypto');
      const msgs = [];
      for (let i = 0; i < 300; i++) msgs.push(crypto.randomBytes(i * 5 % 1500));
      for (const t of [1, 2, 3, 4]) for (const len of [1, 4, 16, 31, 32, 63, 64, 91, 92, 147, 148, 149, 500]) {
        const m = crypto.randomBytes(len); m[0] = t; if (len > 3) m[1] = m[2] = m[3] = 0; msgs.push(m);
      }
      msgs.push(crypto.randomBytes(60000));
      for (const hex of ${JSON.stringify(data.map((b) => b.toString('hex')))}) msgs.push(Buffer.from(hex, 'hex'));
      let i = 0;
      const next = () => i < msgs.length ? d.send(msgs[i++], ${p.a.port}, '${p.a.outer4}', next) : d.close();
      next();`;
    const r = await runAsync('ip', p.b.ns.wrap(['node', '-e', script]));
    assert.equal(r.code, 0, r.stderr);

    const afterStats = await waitFor('drops to be counted', async () => {
      const s = await ferryStats(p.a);
      return s.device.droppedReplay! - before.device.droppedReplay! >= data.length ? s : null;
    });
    const d = (k: string): number => afterStats.device[k]! - before.device[k]!;
    assert.ok(
      d('droppedInvalid') + d('droppedNoPeer') >= 300,
      `invalid/no-peer drops: ${JSON.stringify(afterStats.device)}`,
    );
    assert.equal(d('droppedReplay'), data.length);
    // Replays came from another source port but must not have moved the endpoint.
    assert.equal(wgShow(p.a, 'endpoints').split(/\s+/)[1], `${p.b.outer4}:${p.b.port}`);
    // And the tunnel still works both ways.
    assert.ok(await ping(p.a.ns, p.b.inner4, { count: 3 }));
    assert.ok(await ping(p.b.ns, p.a.inner4, { count: 3 }));
    assert.ok(run('ip', ['netns', 'pids', p.a.ns.name]).trim().length > 0);
  });

  it('answers a flood of initiations with cookie replies (under load) and stays up', async () => {
    const p = pair!;
    await pingUntil(p.b.ns, p.a.inner4);
    // Initiations that pass the mac1 check (whitepaper §5.4.4: mac1 = MAC(HASH("mac1----" ||
    // Spub_responder), msg[0..116])) but carry garbage, sent in one burst: enough pending at once to
    // put a under load, where it must reply with cookies (§5.4.7) instead of doing Diffie-Hellman.
    const mac1Key = blake2s(Buffer.concat([Buffer.from('mac1----'), Buffer.from(p.a.key.pub, 'base64')]));
    const msgs: string[] = [];
    for (let i = 0; i < 600; i++) {
      const m = randomBytes(148);
      m.writeUInt32LE(1, 0);
      m.set(blake2s(m.subarray(0, 116), { key: mac1Key, dkLen: 16 }), 116);
      m.fill(0, 132);
      msgs.push(m.toString('hex'));
    }
    const file = p.scratch.file('flood.txt', msgs.join('\n'));
    const before = await ferryStats(p.a);
    const script = `
      const d = require('dgram').createSocket('udp4');
      const lines = require('fs').readFileSync('${file}', 'utf8').split('\\n');
      let left = lines.length;
      for (const l of lines) d.send(Buffer.from(l, 'hex'), ${p.a.port}, '${p.a.outer4}', () => --left || d.close());`;
    const r = await runAsync('ip', p.b.ns.wrap(['node', '-e', script]));
    assert.equal(r.code, 0, r.stderr);
    const s = await waitFor('cookie replies', async () => {
      const st = await ferryStats(p.a);
      return st.device.cookieRepliesSent! > before.device.cookieRepliesSent! ? st : null;
    });
    assert.equal(
      s.device.handshakesCompleted,
      before.device.handshakesCompleted,
      'no garbage handshake completed',
    );
    assert.ok(await ping(p.b.ns, p.a.inner4, { count: 2 }), 'the established session is unaffected');
  });

  it('rebinds on `wg set listen-port` and the peer follows; a port in use leaves it where it was', async () => {
    const p = pair!;
    await pingUntil(p.a.ns, p.b.inner4);
    p.a.ns.exec(['wg', 'set', p.a.ifname, 'listen-port', '51111']);
    assert.equal(wgShow(p.a, 'listen-port'), '51111');
    // a speaks first from its new port; b learns it from the authenticated packet (roaming).
    await pingUntil(p.a.ns, p.b.inner4);
    assert.equal(wgShow(p.b, 'endpoints').split(/\s+/)[1], `${p.a.outer4}:51111`);
    // Asking for a port that is taken fails with EADDRINUSE and keeps the tunnel on 51111.
    const holder = start(
      'ip',
      p.a.ns.wrap([
        'node',
        '-e',
        "require('dgram').createSocket('udp4').bind(51112); setTimeout(() => {}, 30000)",
      ]),
    );
    try {
      await waitFor('port 51112 held', async () =>
        (await runAsync('ip', p.a.ns.wrap(['ss', '-Hlun', 'sport = :51112']))).stdout.includes('51112'),
      );
      const r = await runAsync('ip', p.a.ns.wrap(['wg', 'set', p.a.ifname, 'listen-port', '51112']));
      assert.notEqual(r.code, 0);
    } finally {
      await holder.kill('SIGKILL');
    }
    assert.equal(wgShow(p.a, 'listen-port'), '51111');
    assert.ok(await ping(p.b.ns, p.a.inner4, { count: 2 }), 'still reachable on the old port');
  });

  it('follows the link: down stops the device, up restarts it with a new handshake', async () => {
    const p = pair!;
    await pingUntil(p.b.ns, p.a.inner4);
    const before = await ferryStats(p.a);
    p.a.ns.ip(['link', 'set', p.a.ifname, 'down']);
    // Down: b's packets find no session on a (the device dropped its keys with the link).
    assert.equal(await ping(p.b.ns, p.a.inner4, { count: 1, timeoutS: 1 }), false);
    p.a.ns.ip(['link', 'set', p.a.ifname, 'up']);
    p.a.ns.ip(['route', 'replace', `${p.a.inner4.replace(/\.\d+$/, '.0')}/24`, 'dev', p.a.ifname]);
    await pingUntil(p.a.ns, p.b.inner4);
    const after = await ferryStats(p.a);
    assert.ok(
      after.device.handshakesCompleted! > before.device.handshakesCompleted!,
      'a new handshake after up',
    );
  });
});

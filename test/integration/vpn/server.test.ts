// The VPN server role end to end, against the official client: `ferry serve` with a `vpn:` section
// in the server namespace of a small internet, devices provisioned with `ferry peer add`, and
// `wg-quick` + `wireguard-go` in client namespaces using the printed configs unchanged.
//
//   client A ─┐
//             ├── isp ── server (ferry serve, vpn) ── internet (origin: GET /ip)
//   client B ─┘                     └── office 192.168.77.0/24 (internal network, routed, no NAT)
//
// Proves: full tunnel exits through the server (the origin sees the server, not the client), over
// IPv4 and IPv6; the ISP link carries nothing but UDP to the server's WireGuard port and never the
// plaintext of a request; an internal network is reached without NAT (its origin sees the tunnel
// address); devices added and removed while traffic flows (a removed device cannot send, the others
// carry on); a server restart keeps every device and its address; stopping removes the nft table.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { skipReason, requirePrereqs } from '../../helpers/prereq.js';
import { Netns, veth } from '../../helpers/netns.js';
import { runAsync, start, run, type Proc } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { FERRY_MAIN } from '../../helpers/ferry.js';
import { buildSmallInternet, type SmallInternet } from '../../helpers/small-internet.js';

const NEEDS = { root: true, tools: ['wg', 'wg-quick', 'wireguard-go', 'nft', 'tcpdump', 'curl'] };
const skip = skipReason(NEEDS);

const here = dirname(fileURLToPath(import.meta.url));
const SERVICES = join(here, '../../helpers/small-internet-services.js');

const tag = String(process.pid % 100000);
const SERVER_IF = `fys${tag}`;
const PORT = 51820;
const POOL4 = '10.66.0.0/24';
const POOL6 = 'fd66:1::/64';
const OFFICE = '192.168.77.0/24';
const OFFICE_ORIGIN = 'http://192.168.77.2/ip';

interface Client {
  ns: Netns;
  ifname: string;
  confFile: string;
  config: string;
}

function ferry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAsync(process.execPath, [FERRY_MAIN, ...args], { timeoutMs: 30_000 });
}

async function ferryOk(args: string[]): Promise<string> {
  const r = await ferry(args);
  if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** curl inside a namespace; null when it fails (timeout, refused, no route). */
async function curl(ns: Netns, url: string, extra: string[] = [], maxTime = 5): Promise<string | null> {
  const r = await runAsync('ip', ns.wrap(['curl', '-sS', '--max-time', String(maxTime), ...extra, url]), {
    timeoutMs: (maxTime + 5) * 1000,
  });
  return r.code === 0 ? r.stdout.trim() : null;
}

/**
 * A stand-in for resolvconf(8), first on wg-quick's PATH: wg-quick hands it the config's DNS servers
 * (`resolvconf -a <if> -m 0 -x`, nameserver lines on stdin), and it writes them to `<dir>/dns-<if>`
 * instead of changing the resolver of the machine the tests run on.
 */
function fakeResolvconf(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'resolvconf'),
    `#!/bin/sh\nif [ "$1" = -a ]; then cat > "${dir}/dns-$2"; else cat > /dev/null; fi\nexit 0\n`,
    { mode: 0o755 },
  );
  return bin;
}
let resolvconfBin = '';

function wgQuick(c: Client, verb: 'up' | 'down', allowFail = false): string {
  return run(
    'ip',
    c.ns.wrap([
      'env',
      `PATH=${resolvconfBin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      'WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go',
      'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1',
      'wg-quick',
      verb,
      c.confFile,
    ]),
    { allowFail, timeoutMs: 20_000 },
  );
}

/** Public keys of the peers the server's interface has (through its UAPI socket, as `wg` sees it). */
function serverPeers(server: Netns): Map<string, string> {
  const out = server.exec(['wg', 'show', SERVER_IF, 'allowed-ips']);
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [key, ...ips] = l.split(/\s+/);
        return [key!, ips.join(' ')];
      }),
  );
}

function publicKeyOfConfig(config: string): string {
  const priv = /^PrivateKey = (\S+)$/m.exec(config)![1]!;
  return run('wg', ['pubkey'], { input: priv + '\n' }).trim();
}

describe(
  'VPN server: ferry serve vpn + ferry peer add + wg-quick/wireguard-go clients',
  { skip, timeout: 180_000 },
  () => {
    let net: SmallInternet | undefined;
    let office: Netns | undefined;
    let clientB: Netns | undefined;
    let officeOrigin: Proc | undefined;
    let server: Proc | undefined;
    let dir = '';
    let cfgFile = '';
    const clients: Client[] = [];

    const startServer = async (): Promise<Proc> => {
      const p = start('ip', net!.server.wrap([process.execPath, FERRY_MAIN, 'serve', '-c', cfgFile]));
      await waitFor(
        'ferry serve to bring up the vpn interface',
        () => {
          if (p.child.exitCode !== null) throw new Error(`ferry serve exited: ${p.output()}`);
          return /\(vpn\)/.test(p.output());
        },
        { timeoutMs: 30_000 },
      );
      return p;
    };

    const addDevice = async (
      ns: Netns,
      user: string,
      device: string,
      ifname: string,
      extra: string[] = [],
    ): Promise<Client> => {
      const config = await ferryOk(['peer', 'add', user, device, '-c', cfgFile, '--no-qr', ...extra]);
      const confFile = join(dir, `${ifname}.conf`);
      writeFileSync(confFile, config, { mode: 0o600 });
      const c = { ns, ifname, confFile, config };
      clients.push(c);
      return c;
    };

    before(async () => {
      requirePrereqs(undefined, NEEDS);
      dir = mkdtempSync(join(tmpdir(), 'ferry-vpn-'));
      resolvconfBin = fakeResolvconf(dir);
      net = await buildSmallInternet();
      // A second device on its own access link behind the same ISP.
      clientB = new Netns('b');
      veth(clientB, '10.94.0.2/24', net.isp, '10.94.0.1/24');
      clientB.ip(['-4', 'route', 'add', 'default', 'via', '10.94.0.1']);
      // The internal network behind the server; its router knows the pool is reached via the server.
      office = new Netns('o');
      veth(net.server, '192.168.77.1/24', office, '192.168.77.2/24');
      office.ip(['-4', 'route', 'add', POOL4, 'via', '192.168.77.1']);
      officeOrigin = start('ip', office.wrap([process.execPath, SERVICES, '--http', '80', '--dns', '5353']));
      const oo = officeOrigin;
      await waitFor('office origin', () => {
        if (oo.child.exitCode !== null) throw new Error(`office origin exited: ${oo.output()}`);
        return /^ready$/m.test(oo.output());
      });

      cfgFile = join(dir, 'ferry.yaml');
      writeFileSync(
        cfgFile,
        [
          `data_dir: ${join(dir, 'data')}`,
          'inbounds: [{ name: http, type: http, listen: "127.0.0.1:0" }]',
          'vpn:',
          `  interface: ${SERVER_IF}`,
          `  listen_port: ${PORT}`,
          `  endpoint: "${net.addrs.server4}:${PORT}"`,
          `  address_v4: ${POOL4}`,
          `  address_v6: "${POOL6}"`,
          '  nat: true',
          `  routes: [${OFFICE}]`,
          '  poll_interval_ms: 500',
          '  dns: [tunnel]',
          `  dns_forwarder: { upstreams: ["udp://${net.dns.v4}"] }`,
          '',
        ].join('\n'),
      );
      await ferryOk(['user', 'add', 'alice', '-c', cfgFile]);
      await ferryOk(['user', 'add', 'bob', '-c', cfgFile]);
      server = await startServer();
    });

    after(async () => {
      for (const c of clients) wgQuick(c, 'down', true);
      await server?.kill();
      await officeOrigin?.kill();
      // Whatever happened, no table and no namespace outlive the suite.
      net?.server.exec(['nft', 'delete', 'table', 'inet', `ferry-${SERVER_IF}`], { allowFail: true });
      office?.destroy();
      clientB?.destroy();
      await net?.cleanup();
      for (const n of [SERVER_IF, ...clients.map((c) => c.ifname)])
        rmSync(`/var/run/wireguard/${n}.sock`, { force: true });
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('full tunnel with the official client: the origin sees the server; the ISP sees only UDP to the WireGuard port', async (t) => {
      const n = net!;
      const a = await addDevice(n.client, 'alice', 'phone', `fyca${tag}`);
      assert.match(a.config, /^AllowedIPs = 0\.0\.0\.0\/0, ::\/0$/m);
      assert.match(a.config, new RegExp(`^Endpoint = ${n.addrs.server4}:${PORT}$`, 'm'));
      assert.match(a.config, /^Address = 10\.66\.0\.2\/32, fd66:1::2\/128$/m);
      // Without the tunnel the origin sees the client's own address: the baseline the tunnel changes.
      assert.equal(await curl(n.client, n.origin.url4), n.addrs.client4);

      await waitFor('the server to install alice/phone', () => serverPeers(n.server).size === 1, {
        timeoutMs: 10_000,
      });
      wgQuick(a, 'up');

      const marker = `ferry-marker-${randomBytes(8).toString('hex')}`;
      const ispPcap = join(dir, 'isp.pcap');
      const exitPcap = join(dir, 'exit.pcap');
      const capture = (ns: Netns, ifname: string, file: string): Proc =>
        start('ip', ns.wrap(['tcpdump', '-i', ifname, '-nn', '--immediate-mode', '-U', '-w', file]));
      const ispCap = capture(n.isp, n.links.ispClient, ispPcap);
      const exitCap = capture(n.server, n.links.serverInternet, exitPcap);
      // Stopped below before the captures are read; this only catches a failure before that
      // (kill is a no-op once tcpdump has exited).
      t.after(async () => {
        await ispCap.kill('SIGINT');
        await exitCap.kill('SIGINT');
      });
      for (const c of [ispCap, exitCap])
        await waitFor('tcpdump to listen', () => /listening on/.test(c.output()), { timeoutMs: 10_000 });

      const seen4 = await waitFor('a request through the tunnel', () =>
        curl(n.client, `${n.origin.url4}?m=${marker}`, ['-H', `X-Marker: ${marker}`]),
      );
      assert.equal(seen4, n.addrs.serverExit4, 'the origin sees the server, not the client');
      const seen6 = await curl(n.client, `${n.origin.url6}?m=${marker}`, ['-H', `X-Marker: ${marker}`]);
      assert.equal(
        seen6,
        n.addrs.serverExit6,
        'IPv6 leaves through the tunnel as well (NAT66 on the ULA pool)',
      );
      // DNS: wg-quick gave the system the tunnel resolver from the config, and a question to it is
      // answered by the internet's resolver, which was asked by the server - not by the client.
      const dnsGiven = readFileSync(join(dir, `dns-${a.ifname}`), 'utf8');
      assert.match(dnsGiven, /^nameserver 10\.66\.0\.1$/m);
      assert.match(dnsGiven, /^nameserver fd66:1::1$/m);
      for (const [server, transport] of [
        ['10.66.0.1', '+notcp'],
        ['fd66:1::1', '+tcp'],
      ] as const) {
        const name = `${marker}-${transport.slice(1)}-${server.includes(':') ? 6 : 4}.${n.dns.zone}`;
        const r = await runAsync(
          'ip',
          n.client.wrap(['dig', `@${server}`, transport, '+short', '+time=3', 'TXT', name]),
        );
        assert.equal(r.stdout.trim(), `"${n.addrs.serverExit4}"`, `dig @${server} ${transport}: ${r.stderr}`);
        assert.deepEqual(
          n.dns
            .queries()
            .filter((q) => q.q === name)
            .map((q) => q.from),
          [n.addrs.serverExit4],
          'the resolver heard the question from the server only',
        );
      }
      // The marker showing up behind the server means the captures have been written that far.
      await waitFor('the exit capture to hold the request', () => readFileSync(exitPcap).includes(marker));
      await ispCap.kill('SIGINT');
      await exitCap.kill('SIGINT');

      const packets = run('tcpdump', ['-r', ispPcap, '-nn'], { allowFail: true })
        .split('\n')
        .filter((l) => /^\d/.test(l));
      const wg = new RegExp(
        String.raw`IP (${n.addrs.client4}\.\d+ > ${n.addrs.server4}\.${PORT}|${n.addrs.server4}\.${PORT} > ${n.addrs.client4}\.\d+): UDP`,
      );
      // Link-local control traffic of the access link itself (ARP, IPv6 neighbour/router discovery,
      // MLD) is not traffic of the device leaving through the ISP, and never carries payload.
      const linkLocal = /ARP,|ICMP6, (neighbor|router) (solicitation|advertisement)|multicast listener/;
      const other = packets.filter((l) => !wg.test(l) && !linkLocal.test(l));
      assert.deepEqual(other, [], 'the ISP link carries nothing but WireGuard');
      assert.ok(packets.filter((l) => wg.test(l)).length >= 4, `tunnel packets captured: ${packets.length}`);
      assert.ok(!readFileSync(ispPcap).includes(marker), 'no plaintext of the request on the ISP link');
      // Control: the same capture method does see the marker where the request is in clear.
      assert.ok(readFileSync(exitPcap).includes(marker), 'the marker is visible behind the server');
    });

    it('routes an internal network without NAT: the office origin sees the tunnel address', async () => {
      const a = clients[0]!;
      assert.equal(await curl(a.ns, OFFICE_ORIGIN), '10.66.0.2');
    });

    it('adds and removes devices while traffic flows; a removed device cannot send', async () => {
      const n = net!;
      const a = clients[0]!;
      // Continuous traffic from A while B is added.
      let flowing = true;
      const results: { who: string; ok: boolean }[] = [];
      const loop = async (who: string, c: Client, until: () => boolean): Promise<void> => {
        while (until()) results.push({ who, ok: (await curl(c.ns, n.origin.url4)) === n.addrs.serverExit4 });
      };
      const aLoop = loop('A', a, () => flowing);
      const b = await addDevice(clientB!, 'bob', 'laptop', `fycb${tag}`);
      assert.match(b.config, /^Address = 10\.66\.0\.3\/32, fd66:1::3\/128$/m);
      await waitFor('the server to install bob/laptop', () => serverPeers(n.server).size === 2, {
        timeoutMs: 10_000,
      });
      wgQuick(b, 'up');
      assert.equal(
        await waitFor('B through the tunnel', () => curl(b.ns, n.origin.url4)),
        n.addrs.serverExit4,
      );
      assert.equal(await curl(b.ns, OFFICE_ORIGIN), '10.66.0.3');
      // `peer show` reads the running interface: B has shaken hands, from its ISP-side address.
      const shown = JSON.parse(await ferryOk(['peer', 'show', 'bob', 'laptop', '-c', cfgFile, '--json'])) as {
        live?: { latestHandshake: string | null; endpoint: string | null; rxBytes: number };
      };
      assert.ok(shown.live?.latestHandshake, JSON.stringify(shown));
      assert.match(shown.live.endpoint ?? '', /^10\.94\.0\.2:\d+$/);
      assert.ok(shown.live.rxBytes > 0);
      flowing = false;
      await aLoop;
      assert.ok(
        results.length > 0 && results.every((r) => r.ok),
        `A kept working: ${JSON.stringify(results)}`,
      );

      // Now remove A while B's traffic flows.
      results.length = 0;
      let bFlowing = true;
      const bLoop = loop('B', b, () => bFlowing);
      const aKey = publicKeyOfConfig(a.config);
      await ferryOk(['peer', 'remove', 'alice', 'phone', '-c', cfgFile]);
      await waitFor('the server to drop alice/phone', () => !serverPeers(n.server).has(aKey), {
        timeoutMs: 10_000,
      });
      assert.equal(await curl(a.ns, n.origin.url4, [], 3), null, 'a removed device cannot send');
      assert.equal(await curl(a.ns, OFFICE_ORIGIN, [], 3), null, 'nor reach the internal network');
      bFlowing = false;
      await bLoop;
      assert.ok(
        results.length > 0 && results.every((r) => r.ok),
        `B kept working: ${JSON.stringify(results)}`,
      );
    });

    it('split tunnel (--split): only the chosen network goes through the tunnel', async () => {
      const n = net!;
      const b = clients[1]!;
      wgQuick(b, 'down');
      const s = await addDevice(clientB!, 'bob', 'split', `fycs${tag}`, ['--split', '192.168.77.0/24']);
      assert.match(s.config, /^AllowedIPs = 192\.168\.77\.0\/24, 10\.66\.0\.1\/32, fd66:1::1\/128$/m);
      // The lowest free address: alice/phone's, released when it was removed.
      assert.match(s.config, /^Address = 10\.66\.0\.2\/32, fd66:1::2\/128$/m);
      await waitFor('the server to install bob/split', () => serverPeers(n.server).size === 2, {
        timeoutMs: 10_000,
      });
      wgQuick(s, 'up');
      assert.equal(
        await waitFor('the office through the tunnel', () => curl(s.ns, OFFICE_ORIGIN)),
        '10.66.0.2',
      );
      assert.equal(await curl(s.ns, n.origin.url4), '10.94.0.2', 'the internet is reached directly');
      wgQuick(s, 'down');
      wgQuick(b, 'up');
    });

    it('a server restart keeps every device and its address; stopping removes the nft table', async () => {
      const n = net!;
      const b = clients[1]!;
      const before = serverPeers(n.server);
      await server!.kill();
      assert.equal(await server!.exited, 0);
      const tables = n.server.exec(['nft', 'list', 'tables']);
      assert.ok(!tables.includes(`ferry-${SERVER_IF}`), `table removed at stop: ${tables}`);
      assert.equal(
        n.server.exec(['ip', 'link', 'show', SERVER_IF], { allowFail: true }).includes('state'),
        false,
      );

      server = await startServer();
      assert.deepEqual(serverPeers(n.server), before, 'same peers, same allowed IPs');
      // The device reconnects with the config it was given at `peer add`, and keeps its address.
      wgQuick(b, 'down');
      wgQuick(b, 'up');
      assert.equal(await waitFor('B after the restart', () => curl(b.ns, OFFICE_ORIGIN)), '10.66.0.3');
      assert.equal(await curl(b.ns, n.origin.url4), n.addrs.serverExit4);
    });
  },
);

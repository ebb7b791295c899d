// A small internet in four network namespaces, for VPN tests (issue #5):
//
//   client ──── isp ──── server ──── internet
//   .91.2   .91.1  .92.1   .92.2  .93.1   .93.2        (10.x.y.z/24; IPv6 fdXX::N/64 alike)
//
// - client: the device under test; default routes (v4 and v6) via the ISP. Its /etc/resolv.conf (as
//   seen by `ip netns exec`, which bind-mounts /etc/netns/<ns>/resolv.conf) points at the internet's
//   resolver, 10.93.0.53, reached directly - i.e. *around* any tunnel unless something routes it in.
// - isp: a router between client and server; `links.client` (the client's end of that link) is where
//   a capture sees what the ISP or the café Wi-Fi would see.
// - server: a router too (forwarding on, no NAT): the test puts a VPN server here and adds NAT for
//   the tunnel's pool, so the internet sees tunnelled traffic from 10.93.0.1 and leaked traffic from
//   the client's own 10.91.0.2 - which tells an origin which path a packet took.
// - internet: the check origin on 10.93.0.2 / fd93::2 port 80 (GET /ip = the client address it sees)
//   and a whoami DNS responder on 10.93.0.53 / fd93::53 port 53 answering every name under `dns.zone` with the address of whoever asked.
//
// cleanup() kills everything running in the four namespaces, deletes them and the client's
// /etc/netns directory; call it from after()/t.after() so it runs on failure too.
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns, veth } from './netns.js';
import { start, runAsync, type Proc } from './proc.js';
import { waitFor } from './wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVICES = join(here, 'small-internet-services.js');

export interface DnsQuery {
  q: string;
  type: string;
  from: string;
}

export interface SmallInternet {
  client: Netns;
  isp: Netns;
  server: Netns;
  internet: Netns;
  /** Interface names, each inside the namespace its key starts with. */
  links: {
    /** client side of client–ISP: capture here to see what leaves the device. */
    client: string;
    ispClient: string;
    ispServer: string;
    /** server side of ISP–server: the server's "public" interface (endpoint address server4/6). */
    server: string;
    /** server side of server–internet: masquerade tunnelled traffic out of this one. */
    serverInternet: string;
    internet: string;
  };
  addrs: {
    client4: string;
    client6: string;
    isp4: string;
    isp6: string;
    /** The server's address as the client reaches it (where a WireGuard endpoint listens). */
    server4: string;
    server6: string;
    /** The server's address on the internet side: what an origin sees for NATed tunnel traffic. */
    serverExit4: string;
    serverExit6: string;
    internet4: string;
    internet6: string;
  };
  origin: { port: number; url4: string; url6: string };
  dns: { v4: string; v6: string; port: number; zone: string; queries(): DnsQuery[] };
  /** The file `ip netns exec <client>` shows as /etc/resolv.conf. */
  clientResolvConf: string;
  services: Proc | null;
  cleanup(): Promise<void>;
}

export interface SmallInternetOptions {
  /** Start the origin and DNS responder in the internet namespace (default true). */
  services?: boolean;
  zone?: string;
}

function sysctl(ns: Netns, settings: string[]): void {
  ns.exec(['sysctl', '-q', '-w', ...settings]);
}

export async function buildSmallInternet(opts: SmallInternetOptions = {}): Promise<SmallInternet> {
  const made: Netns[] = [];
  let services: Proc | null = null;
  let netnsDir: string | null = null;
  const cleanup = async (): Promise<void> => {
    await services?.kill();
    for (const ns of made.reverse()) ns.destroy();
    if (netnsDir) rmSync(netnsDir, { recursive: true, force: true });
  };
  try {
    const client = new Netns('c');
    made.push(client);
    const isp = new Netns('i');
    made.push(isp);
    const server = new Netns('s');
    made.push(server);
    const internet = new Netns('n');
    made.push(internet);

    const ci = veth(client, ['10.91.0.2/24', 'fd91::2/64'], isp, ['10.91.0.1/24', 'fd91::1/64']);
    const is = veth(isp, ['10.92.0.1/24', 'fd92::1/64'], server, ['10.92.0.2/24', 'fd92::2/64']);
    // The resolver has addresses of its own (.53), apart from the origin's, so a test can route DNS
    // around a tunnel without touching the origin's path.
    const sn = veth(server, ['10.93.0.1/24', 'fd93::1/64'], internet, [
      '10.93.0.2/24',
      'fd93::2/64',
      '10.93.0.53/24',
      'fd93::53/64',
    ]);

    for (const r of [isp, server]) sysctl(r, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    client.ip(['-4', 'route', 'add', 'default', 'via', '10.91.0.1']);
    client.ip(['-6', 'route', 'add', 'default', 'via', 'fd91::1']);
    isp.ip(['-4', 'route', 'add', '10.93.0.0/24', 'via', '10.92.0.2']);
    isp.ip(['-6', 'route', 'add', 'fd93::/64', 'via', 'fd92::2']);
    server.ip(['-4', 'route', 'add', 'default', 'via', '10.92.0.1']);
    server.ip(['-6', 'route', 'add', 'default', 'via', 'fd92::1']);
    internet.ip(['-4', 'route', 'add', 'default', 'via', '10.93.0.1']);
    internet.ip(['-6', 'route', 'add', 'default', 'via', 'fd93::1']);

    // `ip netns exec` bind-mounts every file of /etc/netns/<ns>/ over /etc/ - but only files that
    // exist, so the client's resolv.conf must be there before anything runs in the namespace.
    netnsDir = join('/etc/netns', client.name);
    mkdirSync(netnsDir, { recursive: true });
    const clientResolvConf = join(netnsDir, 'resolv.conf');
    writeFileSync(clientResolvConf, 'nameserver 10.93.0.53\n');

    const zone = opts.zone ?? 'whoami.test';
    if (opts.services !== false) {
      services = start(
        'ip',
        internet.wrap([
          process.execPath,
          SERVICES,
          '--http',
          '80',
          '--dns',
          '53',
          '--dns-addr',
          '10.93.0.53,fd93::53',
          '--zone',
          zone,
        ]),
      );
      const svc = services;
      await waitFor('small-internet services to listen', () => {
        if (svc.child.exitCode !== null) throw new Error(`services exited: ${svc.output()}`);
        return /^ready$/m.test(svc.output());
      });
    }
    const svc = services;
    return {
      client,
      isp,
      server,
      internet,
      links: {
        client: ci.aIf,
        ispClient: ci.bIf,
        ispServer: is.aIf,
        server: is.bIf,
        serverInternet: sn.aIf,
        internet: sn.bIf,
      },
      addrs: {
        client4: '10.91.0.2',
        client6: 'fd91::2',
        isp4: '10.91.0.1',
        isp6: 'fd91::1',
        server4: '10.92.0.2',
        server6: 'fd92::2',
        serverExit4: '10.93.0.1',
        serverExit6: 'fd93::1',
        internet4: '10.93.0.2',
        internet6: 'fd93::2',
      },
      origin: { port: 80, url4: 'http://10.93.0.2/ip', url6: 'http://[fd93::2]/ip' },
      dns: {
        v4: '10.93.0.53',
        v6: 'fd93::53',
        port: 53,
        zone,
        queries: () =>
          (svc?.output() ?? '')
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as DnsQuery),
      },
      clientResolvConf,
      services,
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** The client's resolv.conf as the namespace sees it (for asserting on DNS set/restore). */
export function readClientResolvConf(net: SmallInternet): string {
  return readFileSync(net.clientResolvConf, 'utf8');
}

// Resolves TXT through the namespace's own resolv.conf with Node's resolver (c-ares reads
// /etc/resolv.conf, which `ip netns exec` bind-mounts), so tests need no dig.
const RESOLVE_TXT = `
const { Resolver } = require('node:dns').promises;
new Resolver({ timeout: 3000, tries: 2 }).resolveTxt(process.argv[1]).then(
  (r) => console.log(r.map((t) => t.join('')).join('\\n')),
  (e) => { console.error(e.code || e.message); process.exit(1); });
`;

/** TXT answers for `name` as a program in `ns` gets them from the system resolver; null on failure. */
export async function resolveTxtIn(ns: Netns, name: string): Promise<string[] | null> {
  const r = await runAsync('ip', ns.wrap([process.execPath, '-e', RESOLVE_TXT, name]), { timeoutMs: 15_000 });
  return r.code === 0 ? r.stdout.trim().split('\n').filter(Boolean) : null;
}

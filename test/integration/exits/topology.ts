// A small internet in network namespaces for the exit tests:
//
//   gw (Ferry under test, curl) ──10.50.i.0/24── exit i (squid | tinyproxy | danted | Ferry) ──10.60.i.0/24──┐
//   gw ──10.70.0.0/24, fd00:70::/64────────────────────────────────────────────────────────────────── wan (router)
//   origin 10.99.0.2, fd00:99::2 (check origin: echoes the client address) ──10.99.0.0/24, fd00:99::/64── wan
//
// Exits have no route to gw's other links, so the origin sees exit i as 10.60.i.2; gw's own traffic
// (direct outbounds, the IPv6 prefix fd00:77::/64 routed to gw) reaches the origin through wan.
// Every process runs inside a namespace; destroy() kills them and deletes the namespaces.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns, veth } from '../../helpers/netns.js';
import { start, type Proc } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { run, runAsync } from '../../helpers/proc.js';

export { runAsync } from '../../helpers/proc.js';

export const FERRY = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
export const CHECK_ORIGIN_JS = fileURLToPath(new URL('../../../src/audit/check-origin.js', import.meta.url));
export const ORIGIN = '10.99.0.2';
export const ORIGIN6 = 'fd00:99::2';
export const PREFIX6 = 'fd00:77::/64';
export const UP_USER = 'hop';
export const UP_PASS = 'hop-secret';

/** The zone the origin's DNS server answers for (opts.dns): every name in it is ORIGIN. */
export const DNS_ZONE = 'audit.ferry.test';

export type ExitKind = 'squid' | 'tinyproxy' | 'danted' | 'ferry';

/** All four kinds of exit, in the order the suites build them (the i-th at 10.50.<i+1>.2). */
export const ALL_EXITS: ExitKind[] = ['squid', 'tinyproxy', 'danted', 'ferry'];

/** The prerequisites of a suite over these exits: root and ip (namespaces), the exits' daemons, `extra`. */
export function exitNeeds(kinds: ExitKind[], extra: string[] = []): { root: true; tools: string[] } {
  const daemons = kinds.filter((k) => k !== 'ferry');
  return { root: true, tools: [...extra, ...daemons, 'ip'] };
}

/** The port each kind of exit's proxy listens on (a Ferry exit: one mixed HTTP/SOCKS5 inbound). */
export function exitPort(kind: ExitKind): number {
  return kind === 'squid' ? 3128 : kind === 'tinyproxy' ? 8888 : 1080;
}

/** The address Ferry (in gw) reaches the i-th exit (0-based) of buildTopology(kinds) at. */
export function exitServer(kind: ExitKind, index: number): string {
  return `10.50.${index + 1}.2:${exitPort(kind)}`;
}

/**
 * The gateway's outbounds for the exits of buildTopology(kinds), named by `names` (same order):
 * squid and tinyproxy over HTTP, danted over SOCKS5, Ferry with UP_USER's login over `ferryType`.
 */
export function exitOutbounds(
  kinds: ExitKind[],
  names: string[],
  ferryType: 'http' | 'socks5' = 'socks5',
): Record<string, unknown>[] {
  return kinds.map((kind, i) => {
    const server = exitServer(kind, i);
    const name = names[i]!;
    if (kind === 'ferry') return { name, type: ferryType, server, username: UP_USER, password: UP_PASS };
    return { name, type: kind === 'danted' ? 'socks5' : 'http', server };
  });
}

export interface ExitHost {
  kind: ExitKind;
  ns: Netns;
  /** Address Ferry (in gw) uses to reach the exit's proxy. */
  server: string;
  port: number;
  /** Address the origin sees for this exit. */
  egress: string;
  proc: Proc | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Topology {
  dir: string;
  gw: Netns;
  wan: Netns;
  origin: Netns;
  exits: ExitHost[];
  procs: Proc[];
  /** Runs a command in gw. */
  inGw(args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Starts a long-running process in a namespace; killed by destroy(). */
  spawn(ns: Netns, args: string[]): Proc;
  destroy(): Promise<void>;
}

/** The HTTP status code curl (in gw) gets for `url` through `proxy` (a proxy URL with credentials). */
export async function statusVia(topo: Topology, proxy: string, url: string): Promise<string> {
  const r = await topo.inGw([
    'curl',
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--max-time',
    '20',
    '-x',
    proxy,
    url,
  ]);
  return r.stdout;
}

function sh(ns: Netns, cmd: string): void {
  ns.exec(['sh', '-c', cmd]);
}

export async function buildTopology(
  kinds: ExitKind[],
  /**
   * dns: the origin also serves DNS for DNS_ZONE, and gw and every exit use it as their resolver
   * (/etc/netns/NAME/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf; squid is told
   * directly).
   */
  opts: { variants?: Record<string, string>; dns?: boolean } = {},
): Promise<Topology> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-exits-'));
  chmodSync(dir, 0o777); // squid and tinyproxy drop privileges and write their pid files here
  const made: Netns[] = [];
  const procs: Proc[] = [];
  const mk = (label: string): Netns => {
    const n = new Netns(label);
    made.push(n);
    return n;
  };
  const spawn = (ns: Netns, args: string[]): Proc => {
    const p = start('ip', ns.wrap(args));
    procs.push(p);
    return p;
  };
  const topo: Topology = {
    dir,
    gw: null as unknown as Netns,
    wan: null as unknown as Netns,
    origin: null as unknown as Netns,
    exits: [],
    procs,
    inGw: (args, timeoutMs = 30_000) => runAsync('ip', topo.gw.wrap(args), { timeoutMs }),
    spawn,
    async destroy() {
      await Promise.all(procs.map((p) => p.kill('SIGKILL')));
      for (const n of made) {
        n.destroy();
        rmSync(join('/etc/netns', n.name), { recursive: true, force: true });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const gw = (topo.gw = mk('gw'));
    const wan = (topo.wan = mk('wan'));
    const origin = (topo.origin = mk('org'));
    sh(wan, 'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1');
    veth(gw, ['10.70.0.1/24', 'fd00:70::1/64'], wan, ['10.70.0.2/24', 'fd00:70::2/64']);
    veth(origin, [`${ORIGIN}/24`, `${ORIGIN6}/64`], wan, ['10.99.0.1/24', 'fd00:99::1/64']);
    gw.ip(['route', 'add', 'default', 'via', '10.70.0.2']);
    gw.ip(['-6', 'route', 'add', 'default', 'via', 'fd00:70::2']);
    origin.ip(['route', 'add', 'default', 'via', '10.99.0.1']);
    origin.ip(['-6', 'route', 'add', 'default', 'via', 'fd00:99::1']);
    wan.ip(['-6', 'route', 'add', PREFIX6, 'via', 'fd00:70::1']);

    const useOriginDns = (ns: Netns): void => {
      if (!opts.dns) return;
      mkdirSync(join('/etc/netns', ns.name), { recursive: true });
      writeFileSync(join('/etc/netns', ns.name, 'resolv.conf'), `nameserver ${ORIGIN}\n`);
    };
    useOriginDns(gw);
    kinds.forEach((kind, idx) => {
      const i = idx + 1;
      const ns = mk(`e${i}`);
      useOriginDns(ns);
      veth(gw, `10.50.${i}.1/24`, ns, `10.50.${i}.2/24`);
      veth(ns, `10.60.${i}.2/24`, wan, `10.60.${i}.1/24`);
      ns.ip(['route', 'add', 'default', 'via', `10.60.${i}.1`]);
      const port = exitPort(kind);
      const server = `10.50.${i}.2`;
      const exit: ExitHost = {
        kind,
        ns,
        server,
        port,
        egress: `10.60.${i}.2`,
        proc: null,
        async start() {
          exit.proc = spawn(ns, exitCommand(kind, dir, i, server, port, opts.dns === true));
          await waitFor(
            `${kind} in ${ns.name} to listen on ${server}:${port}`,
            async () => {
              const r = await runAsync(
                'ip',
                ns.wrap(['sh', '-c', `ss -ltnH 'sport = :${port}' | grep -q .`]),
                { timeoutMs: 5000 },
              );
              if (exit.proc!.child.exitCode !== null)
                throw new Error(`${kind} exited: ${exit.proc!.output()}`);
              return r.code === 0;
            },
            { timeoutMs: 20_000, intervalMs: 50 },
          );
        },
        async stop() {
          await exit.proc?.kill('SIGKILL');
          exit.proc = null;
          // danted forks helpers and squid kids: nothing of the exit may keep listening.
          for (const pid of run('ip', ['netns', 'pids', ns.name], { allowFail: true }).split(/\s+/)) {
            if (/^\d+$/.test(pid)) {
              try {
                process.kill(Number(pid), 'SIGKILL');
              } catch {
                /* gone */
              }
            }
          }
        },
      };
      topo.exits.push(exit);
    });

    // The origin: the check origin, with per-client variants of /known for `ferry check`.
    const script = join(dir, 'origin.mjs');
    writeFileSync(
      script,
      `import { startCheckOrigin } from ${JSON.stringify(CHECK_ORIGIN_JS)};\n` +
        `const variants = new Map(Object.entries(${JSON.stringify(opts.variants ?? {})}).map(([k, v]) => [k, Buffer.from(v)]));\n` +
        `const dns = ${opts.dns ? JSON.stringify({ port: 53, zone: DNS_ZONE, ipv4: ORIGIN }) : 'undefined'};\n` +
        `const o = await startCheckOrigin({ host: '::', port: 80, tlsPort: 443, variants, dns });\n` +
        `console.log('ready', o.port, o.tlsPort);\n`,
    );
    const op = spawn(origin, ['node', script]);
    await waitFor(
      'the check origin',
      () =>
        op.output().includes('ready') ||
        (op.child.exitCode !== null ? Promise.reject(new Error(op.output())) : false),
      { timeoutMs: 15_000 },
    );
    await Promise.all(topo.exits.map((e) => e.start()));
    return topo;
  } catch (e) {
    await topo.destroy();
    throw e;
  }
}

/** Where squid and tinyproxy exit i log the requests they get. */
export function accessLogPath(dir: string, kind: 'squid' | 'tinyproxy', i: number): string {
  return join(dir, `${kind}${i}-access.log`);
}

function exitCommand(
  kind: ExitKind,
  dir: string,
  i: number,
  server: string,
  port: number,
  originDns: boolean,
): string[] {
  switch (kind) {
    case 'squid': {
      const conf = join(dir, `squid${i}.conf`);
      writeFileSync(
        conf,
        [
          `http_port ${server}:${port}`,
          'visible_hostname exit-squid',
          'http_access allow all', // CONNECT to any port too: the test network is ours
          'forwarded_for on',
          'cache deny all',
          'cache_mem 0 MB',
          // Client address:port, method and URL of every request: tests read how requests arrive.
          'logformat ferrytest %>a:%>p %rm %ru',
          'strip_query_terms off',
          `access_log stdio:${accessLogPath(dir, 'squid', i)} ferrytest`,
          'cache_store_log none',
          `cache_log ${join(dir, `squid${i}.log`)}`,
          `pid_filename ${join(dir, `squid${i}.pid`)}`,
          `coredump_dir ${dir}`,
          'pinger_enable off',
          `dns_nameservers ${originDns ? ORIGIN : '127.0.0.1'}`,
          'shutdown_lifetime 0 seconds',
          '',
        ].join('\n'),
      );
      return ['squid', '-N', '-f', conf];
    }
    case 'tinyproxy': {
      const conf = join(dir, `tinyproxy${i}.conf`);
      writeFileSync(
        conf,
        [
          'User nobody',
          'Group nogroup',
          `Port ${port}`,
          `Listen ${server}`,
          'Timeout 60',
          'MaxClients 256',
          'LogLevel Connect', // logs each request line (tests read how requests arrive)
          `LogFile "${accessLogPath(dir, 'tinyproxy', i)}"`,
          `PidFile "${join(dir, `tinyproxy${i}.pid`)}"`,
          'DisableViaHeader Yes',
          '',
        ].join('\n'),
      );
      return ['tinyproxy', '-d', '-c', conf];
    }
    case 'danted': {
      const conf = join(dir, `danted${i}.conf`);
      writeFileSync(
        conf,
        [
          `logoutput: ${join(dir, `danted${i}.log`)}`,
          `internal: ${server} port = ${port}`,
          `external: 10.60.${i}.2`,
          'socksmethod: none',
          'clientmethod: none',
          'user.privileged: root',
          'user.unprivileged: nobody',
          'client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }',
          'socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate udpreply }',
          '',
        ].join('\n'),
      );
      return ['danted', '-f', conf, '-p', join(dir, `danted${i}.pid`)];
    }
    case 'ferry': {
      // A Ferry upstream: one mixed listener (HTTP and SOCKS5) with a user, private destinations allowed.
      const conf = join(dir, `ferry-exit${i}.json`);
      writeFileSync(
        conf,
        JSON.stringify({
          data_dir: join(dir, `ferry-exit${i}`),
          log: { level: 'warn' },
          users: [{ name: UP_USER, password: UP_PASS }],
          inbounds: [{ name: 'm', type: 'mixed', listen: `${server}:${port}`, auth: true }],
          router: { default: 'direct', allow_destinations: ['10.99.0.0/24', 'fd00:99::/64'] },
        }),
      );
      return ['node', FERRY, 'serve', '-c', conf];
    }
  }
}

/** Writes a gateway config (JSON is YAML) and starts `ferry serve` in gw; resolves once it listens. */
export async function startGateway(
  topo: Topology,
  config: object,
  name = 'gw',
): Promise<{ proc: Proc; dataDir: string; config: string }> {
  const dataDir = join(topo.dir, `${name}-data`);
  const file = join(topo.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ data_dir: dataDir, ...config }));
  const proc = topo.spawn(topo.gw, ['node', FERRY, 'serve', '-c', file]);
  await waitFor(
    'ferry serve in gw',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`ferry serve exited: ${proc.output()}`);
      return proc.output().includes('gateway running');
    },
    { timeoutMs: 15_000 },
  );
  return { proc, dataDir, config: file };
}

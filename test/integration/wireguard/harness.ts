// Shared set-up for the WireGuard interop tests: two (or more) network namespaces on a veth link,
// a WireGuard implementation in each (ferry-wg or wireguard-go), configured through wg(8) exactly as
// a user would, and helpers to measure what crosses the tunnel.
//
// Addresses (all inside namespaces these tests create):
//   outer  10.77.<n>.1/24 .2/24   fd77:<n>::1/64 ::2/64   (veth)
//   inner  10.78.<n>.1/24 .2/24   fd78:<n>::1/64 ::2/64   (tunnel)
// UAPI sockets live in /var/run/wireguard, which is shared by all namespaces, so interface names
// carry the test process id to stay unique.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { Netns, veth } from '../../helpers/netns.js';
import { start, run, runAsync, type Proc } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';

export const REPO = resolve(new URL('.', import.meta.url).pathname, '../../../..');
export const FERRY_WG = join(REPO, 'dist/src/cli/ferry-wg.js');
export const WG_NEEDS = { root: true, tools: ['wireguard-go', 'wg', 'wg-quick', 'ip', 'ping', 'iperf3'] };

export type Impl = 'ferry' | 'wggo';

let ifSeq = 0;
export function ifname(tag: string): string {
  return `fw${process.pid % 10000}${tag}${ifSeq++}`.slice(0, 15);
}

export function genkey(): { priv: string; pub: string } {
  const priv = run('wg', ['genkey']).trim();
  const pub = run('wg', ['pubkey'], { input: priv + '\n' }).trim();
  return { priv, pub };
}

export { runAsync } from '../../helpers/proc.js';

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'ferry-wg-'));
  file(name: string, text: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Node {
  ns: Netns;
  impl: Impl;
  ifname: string;
  key: { priv: string; pub: string };
  port: number;
  outer4: string;
  outer6: string;
  inner4: string;
  inner6: string;
  proc: Proc;
}

/** Starts an implementation in `ns` and waits for its UAPI socket. */
export async function startImpl(ns: Netns, impl: Impl, name: string, env: string[] = []): Promise<Proc> {
  const cmd =
    impl === 'ferry'
      ? ['env', ...env, 'node', FERRY_WG, '-f', name]
      : [
          'env',
          'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1',
          'LOG_LEVEL=error',
          'wireguard-go',
          '-f',
          name,
        ];
  const proc = start('ip', ns.wrap(cmd));
  try {
    await waitFor(
      `${impl} to create /var/run/wireguard/${name}.sock`,
      () => {
        if (proc.child.exitCode !== null) throw new Error(`${impl} exited: ${proc.output()}`);
        return existsSync(`/var/run/wireguard/${name}.sock`);
      },
      { timeoutMs: 15_000 },
    );
  } catch (e) {
    // Never leave a half-started process behind: it would keep the test runner alive.
    await proc.kill('SIGKILL');
    throw e;
  }
  return proc;
}

export class Pair {
  readonly a: Node;
  readonly b: Node;
  readonly scratch = new Scratch();
  private constructor(a: Node, b: Node) {
    this.a = a;
    this.b = b;
  }

  /** Two namespaces joined by veth, an implementation on each side, not yet configured. */
  /** `envA` is extra environment for side A (e.g. FERRY_WG_BIND=dgram). */
  static async create(implA: Impl, implB: Impl, subnet: number, envA: string[] = []): Promise<Pair> {
    const nsA = new Netns('a');
    const nsB = new Netns('b');
    const o = (h: number, v6: boolean): string => (v6 ? `fd77:${subnet}::${h}` : `10.77.${subnet}.${h}`);
    const i = (h: number, v6: boolean): string => (v6 ? `fd78:${subnet}::${h}` : `10.78.${subnet}.${h}`);
    veth(nsA, [`${o(1, false)}/24`, `${o(1, true)}/64`], nsB, [`${o(2, false)}/24`, `${o(2, true)}/64`]);
    const mk = (ns: Netns, impl: Impl, h: number): Omit<Node, 'proc'> => ({
      ns,
      impl,
      ifname: ifname(impl === 'ferry' ? 'f' : 'g'),
      key: genkey(),
      port: 51000 + h,
      outer4: o(h, false),
      outer6: o(h, true),
      inner4: i(h, false),
      inner6: i(h, true),
    });
    const a0 = mk(nsA, implA, 1);
    const b0 = mk(nsB, implB, 2);
    // Until the pair is returned nobody else can tear it down: on any failure, do it here.
    const started = await Promise.allSettled([
      startImpl(nsA, implA, a0.ifname, envA),
      startImpl(nsB, implB, b0.ifname),
    ]);
    try {
      const [pa, pb] = started.map((r) => {
        if (r.status === 'rejected') throw r.reason;
        return r.value;
      }) as [Proc, Proc];
      const pair = new Pair({ ...a0, proc: pa }, { ...b0, proc: pb });
      for (const n of [pair.a, pair.b]) {
        n.ns.ip(['addr', 'add', `${n.inner4}/24`, 'dev', n.ifname]);
        n.ns.ip(['addr', 'add', `${n.inner6}/64`, 'dev', n.ifname, 'nodad']);
        n.ns.ip(['link', 'set', n.ifname, 'mtu', '1420', 'up']);
      }
      return pair;
    } catch (e) {
      for (const r of started) if (r.status === 'fulfilled') await r.value.kill('SIGKILL');
      nsA.destroy();
      nsB.destroy();
      throw e;
    }
  }

  /** Configures both sides as each other's peer with `wg set`. `v6Outer` uses the IPv6 veth addresses. */
  configure(opts: { v6Outer?: boolean; keepalive?: number } = {}): void {
    for (const [self, other] of [
      [this.a, this.b],
      [this.b, this.a],
    ] as const) {
      const keyFile = this.scratch.file(`${self.ifname}.key`, self.key.priv + '\n');
      const ep = opts.v6Outer ? `[${other.outer6}]:${other.port}` : `${other.outer4}:${other.port}`;
      self.ns.exec([
        'wg',
        'set',
        self.ifname,
        'private-key',
        keyFile,
        'listen-port',
        String(self.port),
        'peer',
        other.key.pub,
        'endpoint',
        ep,
        'allowed-ips',
        `${other.inner4}/32,${other.inner6}/128`,
        ...(opts.keepalive ? ['persistent-keepalive', String(opts.keepalive)] : []),
      ]);
    }
  }

  async destroy(): Promise<void> {
    await Promise.all([this.a.proc.kill(), this.b.proc.kill()]);
    this.a.ns.destroy();
    this.b.ns.destroy();
    this.scratch.remove();
  }
}

/** ping from `from` to `to` (v4 or v6 literal); resolves true when at least one reply came back. */
export async function ping(
  from: Netns,
  to: string,
  opts: { count?: number; timeoutS?: number } = {},
): Promise<boolean> {
  const r = await runAsync(
    'ip',
    from.wrap(['ping', '-c', String(opts.count ?? 1), '-W', String(opts.timeoutS ?? 2), '-i', '0.2', to]),
    {
      timeoutMs: 20_000,
    },
  );
  return r.code === 0;
}

/** Retries a ping until the first handshake completed (the first packet may be queued behind it). */
export async function pingUntil(from: Netns, to: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(`ping ${to} from ${from.name}`, () => ping(from, to, { timeoutS: 1 }), {
    timeoutMs,
    intervalMs: 100,
  });
}

export interface IperfResult {
  mbps: number;
  lostPercent?: number;
}

/**
 * iperf3 from `client` to `server`'s address (or reverse with `reverse`). TCP by default; `udp` sends
 * at `rate` and reports the loss as well.
 */
export async function iperf(
  server: Netns,
  client: Netns,
  addr: string,
  opts: { seconds?: number; udp?: boolean; rate?: string; reverse?: boolean } = {},
): Promise<IperfResult> {
  const port = String(5201 + Math.floor(Math.random() * 500));
  const srv = start('ip', server.wrap(['iperf3', '-s', '-1', '-p', port, '-B', addr]));
  try {
    await waitFor('iperf3 server', async () => {
      const r = await runAsync('ip', server.wrap(['ss', '-Hltn', `sport = :${port}`]));
      return (
        r.stdout.includes(port) ||
        (opts.udp &&
          r.code === 0 &&
          (await runAsync('ip', server.wrap(['ss', '-Hlun']))).stdout.includes(port))
      );
    });
    const args = ['iperf3', '-c', addr, '-p', port, '-t', String(opts.seconds ?? 2), '-J'];
    if (opts.udp) args.push('-u', '-b', opts.rate ?? '20M');
    if (opts.reverse) args.push('-R');
    const r = await runAsync('ip', client.wrap(args), { timeoutMs: 60_000 });
    const j = JSON.parse(r.stdout) as {
      error?: string;
      end: {
        sum_received?: { bits_per_second: number };
        sum?: { bits_per_second: number; lost_percent: number };
      };
    };
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    if (opts.udp) return { mbps: j.end.sum!.bits_per_second / 1e6, lostPercent: j.end.sum!.lost_percent };
    return { mbps: j.end.sum_received!.bits_per_second / 1e6 };
  } finally {
    await srv.kill('SIGKILL');
  }
}

/** `wg show <if> <field>` inside the namespace. */
export function wgShow(n: Node, field: string): string {
  return n.ns.exec(['wg', 'show', n.ifname, field]).trim();
}

/** Sends SIGUSR1 to a foreground ferry-wg and parses the stats line it writes to stderr. */
export async function ferryStats(
  n: Node,
): Promise<{ device: Record<string, number>; udp: Record<string, number> }> {
  const before = n.proc.output().length;
  // The Proc is `ip netns exec ... env ... node`; ip and env exec in place, so the pid is node's.
  process.kill(n.proc.child.pid!, 'SIGUSR1');
  const line = await waitFor('ferry-wg stats line', () => {
    const m = /stats \S+ (\{.*\})\n/.exec(n.proc.output().slice(before));
    return m ? m[1]! : null;
  });
  return JSON.parse(line) as { device: Record<string, number>; udp: Record<string, number> };
}

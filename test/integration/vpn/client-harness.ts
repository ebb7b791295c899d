// A WireGuard server for the client-role tests: wireguard-go in the small internet's server
// namespace (a real peer, configured with wg(8)), NAT for the tunnel's pool towards the internet,
// and a client config for `ferry up` in a scratch directory. The Ferry server role is tested
// separately (vpnsrv); here the server only has to be a correct WireGuard peer.
//
// Tunnel addresses: server 10.99.0.1 / fd99::1, client 10.99.0.2 / fd99::2.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { run, runAsync, start, type Proc } from '../../helpers/proc.js';
import { after, before, type TestContext } from 'node:test';
import { requirePrereqs } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { FERRY_MAIN } from '../../helpers/ferry.js';
import { buildSmallInternet, type SmallInternet } from '../../helpers/small-internet.js';
import type { Netns } from '../../helpers/netns.js';

export const CLIENT_NEEDS = {
  root: true,
  tools: ['ip', 'nft', 'wg', 'wireguard-go', 'tcpdump', 'curl', 'ping'],
};

/**
 * Registers the suite's before/after hooks that build the small internet (after checking the
 * prerequisites) and tear it down; `use` receives it once built.
 */
export function smallInternetForSuite(use: (net: SmallInternet) => void): void {
  let net: SmallInternet | undefined;
  before(async () => {
    requirePrereqs(undefined, CLIENT_NEEDS);
    net = await buildSmallInternet();
    use(net);
  });
  after(async () => {
    await net?.cleanup();
  });
}

/** A client side and a wireguard-go server that knows its key, both torn down after the test. */
export async function clientWithServer(
  net: SmallInternet,
  t: TestContext,
): Promise<{ c: ClientSide; server: VpnServer }> {
  const c = new ClientSide(net);
  let server: VpnServer | null = null;
  t.after(async () => {
    await c.cleanup();
    await server?.stop();
  });
  server = await startServer(net, c.key);
  return { c, server };
}

let seq = 0;
export function uniqueIf(tag: string): string {
  return `fy${process.pid % 10000}${tag}${seq++}`.slice(0, 15);
}

export function genkey(): { priv: string; pub: string } {
  const priv = run('wg', ['genkey']).trim();
  return { priv, pub: run('wg', ['pubkey'], { input: priv + '\n' }).trim() };
}

export interface VpnServer {
  ifname: string;
  pub: string;
  port: number;
  proc: Proc;
  stop(): Promise<void>;
}

export async function startServer(net: SmallInternet, client: { pub: string }): Promise<VpnServer> {
  const ifname = uniqueIf('s');
  const key = genkey();
  const port = 51820;
  const proc = start(
    'ip',
    net.server.wrap([
      'env',
      'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1',
      'LOG_LEVEL=error',
      'wireguard-go',
      '-f',
      ifname,
    ]),
  );
  const sock = `/var/run/wireguard/${ifname}.sock`;
  try {
    await waitFor(`wireguard-go to create ${sock}`, () => {
      if (proc.child.exitCode !== null) throw new Error(`wireguard-go exited: ${proc.output()}`);
      return existsSync(sock);
    });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-vpn-srv-'));
    try {
      const keyFile = join(dir, 'key');
      writeFileSync(keyFile, key.priv + '\n', { mode: 0o600 });
      net.server.exec([
        'wg',
        'set',
        ifname,
        'listen-port',
        String(port),
        'private-key',
        keyFile,
        'peer',
        client.pub,
        'allowed-ips',
        '10.99.0.2/32,fd99::2/128',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    net.server.ip(['address', 'add', '10.99.0.1/24', 'dev', ifname]);
    net.server.ip(['address', 'add', 'fd99::1/64', 'dev', ifname, 'nodad']);
    net.server.ip(['link', 'set', ifname, 'mtu', '1420', 'up']);
    // Internet exit: tunnelled traffic leaves with the server's own address (RFC 3022 NAPT).
    net.server.exec(['nft', '-f', '-'], {
      input: [
        'table inet vpnnat {',
        '  chain post {',
        '    type nat hook postrouting priority srcnat;',
        `    oifname "${net.links.serverInternet}" ip saddr 10.99.0.0/24 masquerade`,
        `    oifname "${net.links.serverInternet}" ip6 saddr fd99::/64 masquerade`,
        '  }',
        '}',
      ].join('\n'),
    });
  } catch (e) {
    await proc.kill();
    rmSync(sock, { force: true });
    throw e;
  }
  return {
    ifname,
    pub: key.pub,
    port,
    proc,
    async stop() {
      await proc.kill();
      rmSync(sock, { force: true });
    },
  };
}

export interface ClientConfigOptions {
  allowedIps: string;
  dns?: string;
  extra?: string[];
}

export class ClientSide {
  readonly dir = mkdtempSync(join(tmpdir(), 'ferry-vpn-cli-'));
  readonly ifname = uniqueIf('c');
  readonly key = genkey();
  readonly stateDir = join(this.dir, 'state');
  constructor(readonly net: SmallInternet) {}

  writeConfig(server: VpnServer, o: ClientConfigOptions): string {
    const lines = [
      '[Interface]',
      `PrivateKey = ${this.key.priv}`,
      'Address = 10.99.0.2/32, fd99::2/128',
      ...(o.dns ? [`DNS = ${o.dns}`] : []),
      ...(o.extra ?? []),
      '',
      '[Peer]',
      `PublicKey = ${server.pub}`,
      `AllowedIPs = ${o.allowedIps}`,
      `Endpoint = ${this.net.addrs.server4}:${server.port}`,
      '',
    ];
    const path = join(this.dir, `${this.ifname}.conf`);
    writeFileSync(path, lines.join('\n'), { mode: 0o600 });
    return path;
  }

  /** Runs the ferry CLI in the client namespace. */
  ferry(
    args: string[],
    timeoutMs = 60_000,
    env: string[] = [],
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runAsync(
      'ip',
      this.net.client.wrap([
        'env',
        `FERRY_VPN_STATE_DIR=${this.stateDir}`,
        ...env,
        process.execPath,
        FERRY_MAIN,
        ...args,
      ]),
      { timeoutMs },
    );
  }

  async up(config: string, flags: string[] = [], env: string[] = []): Promise<string> {
    const r = await this.ferry(['up', ...flags, config], 60_000, env);
    if (r.code !== 0) throw new Error(`ferry up failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stderr;
  }

  async down(): Promise<string> {
    const r = await this.ferry(['down', this.ifname]);
    if (r.code !== 0) throw new Error(`ferry down failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stderr;
  }

  /** curl in the client namespace; returns the body or null when it failed. */
  async curl(url: string, timeoutS = 5): Promise<string | null> {
    const r = await runAsync(
      'ip',
      this.net.client.wrap(['curl', '-sS', '--max-time', String(timeoutS), url]),
      {
        timeoutMs: (timeoutS + 5) * 1000,
      },
    );
    return r.code === 0 ? r.stdout.trim() : null;
  }

  /** Best-effort teardown for after hooks: ferry down, then whatever a crashed run may have left. */
  async cleanup(): Promise<void> {
    await this.ferry(['down', this.ifname], 20_000);
    rmSync(`/var/run/wireguard/${this.ifname}.sock`, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Capture {
  /**
   * Stops tcpdump and returns the packet lines and how many packets matched the filter: the larger
   * of tcpdump's "captured" and the kernel's "received by filter", so a packet that matched but was
   * not yet printed still counts.
   */
  stop(): Promise<{ lines: string[]; matched: number; output: string }>;
}

/**
 * tcpdump on `ifname` inside `ns`. stop() waits for tcpdump's closing statistics, which it prints only
 * after writing every packet line, so an empty result means nothing matched - not that the output
 * had not arrived yet.
 */
export async function startCapture(
  ns: Netns,
  ifname: string,
  filter: string,
  extra: string[] = [],
): Promise<Capture> {
  // --immediate-mode: without it packets wait in the capture ring for a full block, and whatever is
  // still waiting when tcpdump is stopped is counted ("received by filter") but never printed.
  const cap = start(
    'ip',
    ns.wrap(['tcpdump', '-i', ifname, '-n', '-l', '-p', '--immediate-mode', ...extra, filter]),
  );
  try {
    await waitFor('tcpdump to listen', () => {
      if (cap.child.exitCode !== null) throw new Error(`tcpdump exited: ${cap.output()}`);
      return /listening on/.test(cap.output());
    });
  } catch (e) {
    await cap.kill('SIGKILL');
    throw e;
  }
  return {
    async stop() {
      cap.child.kill('SIGINT');
      let m: RegExpExecArray;
      try {
        m = await waitFor('tcpdump statistics', () =>
          /(\d+) packets? captured\n(\d+) packets? received by filter/.exec(cap.output()),
        );
      } finally {
        await cap.kill('SIGKILL');
      }
      const lines = cap
        .output()
        .split('\n')
        .filter((l) => /^\d\d:\d\d:\d\d/.test(l));
      return { lines, matched: Math.max(Number(m[1]), Number(m[2])), output: cap.output() };
    },
  };
}

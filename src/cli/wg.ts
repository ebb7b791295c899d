// `ferry wg ...`: key tools compatible with wg(8), running an interface from a config file, and
// showing interfaces through their UAPI sockets (so it also shows wireguard-go and ferry-wg ones).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { lookup } from 'node:dns/promises';
import { generatePresharedKey, generatePrivateKey, publicKeyOf } from '../wireguard/io/keys.js';
import {
  decodeKey,
  encodeKey,
  parseWgConfig,
  configToUapi,
  type WgConfig,
} from '../wireguard/io/wg-config.js';
import { runInterface, makeLogger } from '../wireguard/io/daemon.js';
import { applySet, formatEndpoint, type UapiDeviceState } from '../wireguard/uapi/protocol.js';
import { uapiGet, listUapiInterfaces } from '../wireguard/uapi/client.js';
import { addAddress, addRoute, setLinkUp } from '../tun/link.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves host names in Endpoint lines to `ip:port` (wg(8) does the same before talking UAPI). */
async function resolveEndpoints(cfg: WgConfig): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of cfg.peers) {
    if (!p.endpoint) continue;
    const colon = p.endpoint.lastIndexOf(':');
    let host = p.endpoint.slice(0, colon);
    const port = Number(p.endpoint.slice(colon + 1));
    if (host.startsWith('[')) host = host.slice(1, -1);
    const { address } = await lookup(host);
    out.set(p.endpoint, formatEndpoint({ address, port }));
  }
  return out;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

export function ago(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  if (s === 0) return 'Now';
  const parts: string[] = [];
  const units: [number, string][] = [
    [365 * 86400, 'year'],
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  for (const [size, name] of units) {
    if (s >= size) {
      parts.push(plural(Math.floor(s / size), name));
      s %= size;
    }
  }
  return `${parts.join(', ')} ago`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

/** Human-readable status in the layout of `wg show`. */
export function formatShow(ifname: string, st: UapiDeviceState, now = Date.now()): string {
  const out: string[] = [`interface: ${ifname}`];
  if (st.privateKey) {
    out.push(`  public key: ${encodeKey(publicKeyOf(st.privateKey))}`);
    out.push('  private key: (hidden)');
  }
  if (st.listenPort) out.push(`  listening port: ${st.listenPort}`);
  if (st.fwmark) out.push(`  fwmark: 0x${st.fwmark.toString(16)}`);
  // Most recent handshake first, as wg(8) sorts.
  const peers = [...st.peers].sort((a, b) => b.lastHandshakeWallMs - a.lastHandshakeWallMs);
  for (const p of peers) {
    out.push('', `peer: ${encodeKey(p.publicKey)}`);
    if (p.presharedKey) out.push('  preshared key: (hidden)');
    if (p.endpoint) out.push(`  endpoint: ${formatEndpoint(p.endpoint)}`);
    out.push(`  allowed ips: ${p.allowedIps.length ? p.allowedIps.join(', ') : '(none)'}`);
    if (p.lastHandshakeWallMs) out.push(`  latest handshake: ${ago(now - p.lastHandshakeWallMs)}`);
    if (p.rxBytes || p.txBytes)
      out.push(`  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`);
    if (p.persistentKeepalive)
      out.push(`  persistent keepalive: every ${plural(p.persistentKeepalive, 'second')}`);
  }
  return out.join('\n') + '\n';
}

export function registerWgCommands(program: Command): void {
  const wg = program.command('wg').description('WireGuard: keys, interfaces, status');

  wg.command('genkey')
    .description('print a new private key (base64), like `wg genkey`')
    .action(() => {
      process.stdout.write(encodeKey(generatePrivateKey()) + '\n');
    });

  wg.command('genpsk')
    .description('print a new preshared key (base64), like `wg genpsk`')
    .action(() => {
      process.stdout.write(encodeKey(generatePresharedKey()) + '\n');
    });

  wg.command('pubkey')
    .description('read a private key on stdin, print its public key, like `wg pubkey`')
    .action(async () => {
      let key: Uint8Array;
      try {
        key = decodeKey(await readStdin());
      } catch {
        process.stderr.write('ferry wg pubkey: Key is not the correct length or format\n');
        process.exit(1);
      }
      process.stdout.write(encodeKey(publicKeyOf(key)) + '\n');
    });

  wg.command('show')
    .description('show interfaces (all with a UAPI socket, or one) like `wg show`')
    .argument('[ifname]', 'interface name')
    .action(async (ifname?: string) => {
      const names = ifname ? [ifname] : listUapiInterfaces();
      const parts: string[] = [];
      for (const n of names) parts.push(formatShow(n, await uapiGet(n)));
      process.stdout.write(parts.join('\n'));
    });

  wg.command('up')
    .description('run an interface in the foreground from a wg(8)/wg-quick(8) config file (Ctrl-C stops it)')
    .argument('<config>', 'path to a .conf file')
    .option('--ifname <name>', 'interface name (default: the file name without .conf)')
    .option('--log-level <level>', 'verbose|info|error|silent', 'info')
    .action(async (configPath: string, opts: { ifname?: string; logLevel: string }) => {
      const cfg = parseWgConfig(readFileSync(configPath, 'utf8'));
      const ifname = opts.ifname ?? basename(configPath).replace(/\.conf$/, '');
      const levels = ['verbose', 'info', 'error', 'silent'] as const;
      const level = levels.find((l) => l === opts.logLevel);
      if (!level) throw new Error(`--log-level must be one of ${levels.join(', ')}`);
      const log = makeLogger(`ferry wg(${ifname})`, level);
      for (const k of new Set(cfg.ignored))
        log(
          'info',
          `ignoring wg-quick key '${k}' (ferry wg up runs the interface only; ferry up handles it)`,
        );
      const endpoints = await resolveEndpoints(cfg);
      const running = await runInterface(ifname, log);
      const res = await applySet(
        running.iface.uapiTarget(),
        configToUapi(cfg, endpoints).join('\n') + '\n\n',
      );
      if (res.errno !== 0) {
        await running.stop('configuration rejected');
        throw new Error(`configuration rejected (errno=${res.errno}): ${res.message ?? ''}`);
      }
      for (const a of cfg.addresses) addAddress(ifname, a);
      setLinkUp(ifname, cfg.mtu ?? 1420);
      for (const p of cfg.peers) {
        for (const cidr of p.allowedIps) {
          if (cidr.endsWith('/0')) {
            log(
              'info',
              `not routing ${cidr}: a default route through the tunnel needs policy routing (use wg-quick)`,
            );
            continue;
          }
          try {
            addRoute(ifname, cidr);
          } catch (e) {
            log('error', (e as Error).message);
          }
        }
      }
      const reason = await running.stopped;
      log('info', `stopped: ${reason}`);
    });
}

// What the VPN server keeps in the data directory (<data_dir>/vpn/):
//   <ifname>.key   the interface's private key (base64, mode 0600), made on first start
//   <ifname>.ula   the IPv6 ULA /64 used when address_v6 is "auto", made on first start
//   server.json    the public profile (public key, port, pool, DNS, MTU) for `ferry peer add`
//                  run without the config file; rewritten at every start
// Files that must stay stable are created with O_EXCL, so a server and a CLI that both find them
// missing cannot end up with two different keys: the loser reads the winner's file.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FerryError } from '../core/errors.js';
import { generatePrivateKey } from '../wireguard/io/keys.js';
import { decodeKey, encodeKey } from '../wireguard/io/wg-config.js';

export function vpnDir(dataDir: string): string {
  const dir = join(dataDir, 'vpn');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Reads `file`, or creates it with `make()` (mode 0600) if it does not exist yet. */
function readOrCreate(file: string, make: () => string): string {
  try {
    writeFileSync(file, make(), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new FerryError('E_CONFIG', `cannot create ${file}: ${(e as Error).message}`);
  }
  return readFileSync(file, 'utf8').trim();
}

export function loadOrCreatePrivateKey(dataDir: string, ifname: string): Uint8Array {
  const file = join(vpnDir(dataDir), `${ifname}.key`);
  const text = readOrCreate(file, () => encodeKey(generatePrivateKey()) + '\n');
  try {
    return decodeKey(text);
  } catch (e) {
    throw new FerryError('E_CONFIG', `${file}: ${(e as Error).message}`);
  }
}

/**
 * RFC 4193 §3.2: fd00::/8, a 40-bit pseudo-random Global ID, then a 16-bit Subnet ID (0 here),
 * giving a /64. Random bytes stand in for the SHA-1 construction of §3.2.2, which only exists to
 * produce random bits on systems without a good generator.
 */
export function generateUlaPrefix(): string {
  const g = randomBytes(5);
  const hex = (a: number, b: number): string => ((a << 8) | b).toString(16);
  return `fd${g[0]!.toString(16).padStart(2, '0')}:${hex(g[1]!, g[2]!)}:${hex(g[3]!, g[4]!)}::/64`;
}

export function loadOrCreateUlaPrefix(dataDir: string, ifname: string): string {
  return readOrCreate(join(vpnDir(dataDir), `${ifname}.ula`), () => generateUlaPrefix() + '\n');
}

/** What a client config needs to know about the server; no secrets. */
export interface PublicProfile {
  interface: string;
  publicKey: string;
  listenPort: number;
  endpoint: string | null;
  poolV4: string | null;
  poolV6: string | null;
  mtu: number;
  /** Resolvers for clients, already resolved ("tunnel" replaced by addresses). */
  dns: string[];
  /** Networks reachable through the tunnel besides the pool: the split-tunnel default. */
  routes: string[];
  keepalive: number;
}

export function writePublicProfile(dataDir: string, p: PublicProfile): void {
  const file = join(vpnDir(dataDir), 'server.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(p, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

export function readPublicProfile(dataDir: string): PublicProfile | null {
  const file = join(dataDir, 'vpn', 'server.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as PublicProfile;
  } catch (e) {
    throw new FerryError('E_CONFIG', `${file}: ${(e as Error).message}`);
  }
}

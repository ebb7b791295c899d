// What `ferry up` changed, written to /run/ferry/vpn/<ifname>.json after every step so that
// `ferry down` - or `ferry down` after a crash half-way through `ferry up` - undoes exactly that, and
// `ferry leaktest` knows the tunnel's DNS servers and endpoints. /run is a tmpfs: a reboot forgets the
// state together with everything it describes (routes, rules, nft tables, the daemon).
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DnsUndo } from './dns.js';
import type { EndpointAddr } from './kill-switch.js';
import type { Family } from './plan.js';

export type Undo =
  | { kind: 'ip'; args: string[] }
  | { kind: 'nft-table'; family: string; table: string; killSwitch: boolean }
  | { kind: 'dns'; dns: DnsUndo }
  /** The interface and the daemon that runs it. */
  | { kind: 'link'; pid: number | null };

export interface UpState {
  version: 1;
  ifname: string;
  config: string;
  killSwitch: boolean;
  allowLan: boolean;
  fwmark: number | null;
  tunnelled: Family[];
  blocked: Family[];
  /** The tunnel's DNS servers (DNS = in the config). */
  dns: string[];
  endpoints: EndpointAddr[];
  daemonPid: number | null;
  preDown: string[];
  postDown: string[];
  /** In the order done; `ferry down` undoes from the end. */
  undo: Undo[];
}

export function stateDir(): string {
  return process.env.FERRY_VPN_STATE_DIR ?? '/run/ferry/vpn';
}

export function statePath(ifname: string): string {
  return join(stateDir(), `${ifname}.json`);
}

export function logPath(ifname: string): string {
  return join(stateDir(), `${ifname}.log`);
}

export function saveState(s: UpState): void {
  mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
  // Write-then-rename: a crash mid-write must not leave a state file `ferry down` cannot read.
  const tmp = `${statePath(s.ifname)}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, statePath(s.ifname));
}

/**
 * Writes the first state of a tunnel, failing if one exists: the exclusive create is what keeps two
 * `ferry up` runs for the same interface from both going ahead.
 */
export function claimState(s: UpState): void {
  mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(statePath(s.ifname), JSON.stringify(s, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new Error(`${s.ifname} is already up (ferry down ${s.ifname} first)`);
    throw e;
  }
}

export function loadState(ifname: string): UpState | null {
  try {
    return JSON.parse(readFileSync(statePath(ifname), 'utf8')) as UpState;
  } catch {
    return null;
  }
}

export function removeState(ifname: string): void {
  rmSync(statePath(ifname), { force: true });
}

/** Interfaces brought up by `ferry up` (state present). */
export function listStates(): UpState[] {
  let files: string[];
  try {
    files = readdirSync(stateDir()).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => loadState(f.slice(0, -5))).filter((s): s is UpState => s !== null);
}

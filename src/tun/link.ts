// Link configuration through iproute2. These run once at setup, never per packet, so a child process
// is simpler and easier to audit than hand-built rtnetlink messages.
import { execFileSync } from 'node:child_process';

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

export function setLinkUp(ifname: string, mtu?: number): void {
  ip(['link', 'set', 'dev', ifname, ...(mtu ? ['mtu', String(mtu)] : []), 'up']);
}

export function setLinkDown(ifname: string): void {
  ip(['link', 'set', 'dev', ifname, 'down']);
}

export function setMtu(ifname: string, mtu: number): void {
  ip(['link', 'set', 'dev', ifname, 'mtu', String(mtu)]);
}

/** Adds an address in CIDR notation (`10.0.0.1/24`, `fd00::1/64`). IPv6 skips DAD: a point-to-point
 * tunnel has no neighbours to collide with, and DAD would delay the address by a second or more. */
export function addAddress(ifname: string, cidr: string): void {
  ip(['addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : [])]);
}

export function addRoute(ifname: string, cidr: string): void {
  ip([cidr.includes(':') ? '-6' : '-4', 'route', 'replace', cidr, 'dev', ifname]);
}

export function deleteLink(ifname: string): void {
  ip(['link', 'del', 'dev', ifname]);
}

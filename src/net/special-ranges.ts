// Address ranges a proxy must not reach on a client's behalf unless the operator allows it:
// the gateway host itself, the networks behind it, and cloud metadata services. Sources: RFC 6890
// (special-purpose registries), RFC 1918 (private IPv4), RFC 6598 (shared CGN space), RFC 3927
// (IPv4 link-local, which holds 169.254.169.254, the metadata address of most clouds), RFC 4193
// (IPv6 unique local), RFC 4291 (IPv6 loopback, link-local, multicast), RFC 5771 (IPv4 multicast).
import { networkInterfaces } from 'node:os';
import { CidrSet } from './cidr.js';

export const RESTRICTED_CIDRS = [
  '0.0.0.0/8', // "this network" — 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4', // reserved, includes 255.255.255.255 broadcast
  '::/128',
  '::1/128',
  '64:ff9b:1::/48', // local-use NAT64
  'fc00::/7',
  'fe80::/10',
  'fec0::/10', // deprecated site-local, still routed by some stacks
  'ff00::/8',
];

let restricted: CidrSet | null = null;
export function restrictedRanges(): CidrSet {
  restricted ??= new CidrSet(RESTRICTED_CIDRS);
  return restricted;
}

/** The host's own interface addresses (refreshed on demand: interfaces come and go). */
export function ownAddresses(): CidrSet {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.address.split('%')[0]!);
  }
  return new CidrSet(out);
}

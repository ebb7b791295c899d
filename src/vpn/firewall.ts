// Forwarding and NAT for the VPN server, in one nftables table that Ferry owns
// (`table inet ferry-<ifname>`): created whole at start (replacing a stale one left by a crash), and
// deleted whole at stop, so Ferry never edits rules it did not write.
//
// What the rules say:
// - TCP SYNs through the tunnel get their MSS clamped to the path MTU;
// - from the tunnel to anywhere: allowed when `nat` (internet exit), else only to `routes`;
// - into the tunnel: only replies (conntrack established/related): nothing outside may open
//   connections to devices;
// - between devices: only with client_to_client;
// - masquerade (`nat`) of pool sources leaving by another interface, except towards `routes`, which
//   see the devices' own tunnel addresses (their routers route the pool back to this server).
// Another table's drop still wins (nftables: a drop in any base chain is final), so hosts with a
// restrictive forward policy (Docker, firewalld) must allow the interface there too.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseCidr } from '../net/cidr.js';

export interface FirewallSpec {
  ifname: string;
  poolV4: string | null;
  poolV6: string | null;
  nat: boolean;
  routes: string[];
  clientToClient: boolean;
}

export function tableName(ifname: string): string {
  return `ferry-${ifname}`;
}

const q = (s: string): string => `"${s}"`;

/** The table as `nft -f` input. Pure, so the rules can be read and tested without root. */
export function buildRuleset(spec: FirewallSpec): string {
  const ifq = q(spec.ifname);
  const r4 = spec.routes.filter((r) => parseCidr(r).family === 4);
  const r6 = spec.routes.filter((r) => parseCidr(r).family === 6);
  const lines: string[] = [`table inet ${tableName(spec.ifname)} {`];
  if (r4.length)
    lines.push(
      `  set routes4 {`,
      `    type ipv4_addr; flags interval;`,
      `    elements = { ${r4.join(', ')} }`,
      `  }`,
    );
  if (r6.length)
    lines.push(
      `  set routes6 {`,
      `    type ipv6_addr; flags interval;`,
      `    elements = { ${r6.join(', ')} }`,
      `  }`,
    );
  lines.push(
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    // TCP through the tunnel: clamp the MSS of SYNs to the route's MTU, both ways. Without it a
    // connection whose path MTU discovery is broken (ICMP filtered somewhere) stalls on the first
    // full-size segment, because the tunnel MTU (1420) is below the 1500 both ends assume.
    `    iifname ${ifq} tcp flags syn / syn,rst tcp option maxseg size set rt mtu`,
    `    oifname ${ifq} tcp flags syn / syn,rst tcp option maxseg size set rt mtu`,
    `    iifname ${ifq} oifname ${ifq} ${spec.clientToClient ? 'accept' : 'drop'}`,
    `    oifname ${ifq} ct state established,related accept`,
    `    oifname ${ifq} drop`,
  );
  // Sources outside the pool cannot come from an honest device (the WireGuard device already drops
  // packets whose source is not in the sender's allowed IPs); the rule keeps that true if someone
  // adds a wide allowed-ips range by hand.
  if (spec.poolV4) lines.push(`    iifname ${ifq} meta nfproto ipv4 ip saddr != ${spec.poolV4} drop`);
  else lines.push(`    iifname ${ifq} meta nfproto ipv4 drop`);
  if (spec.poolV6) lines.push(`    iifname ${ifq} meta nfproto ipv6 ip6 saddr != ${spec.poolV6} drop`);
  else lines.push(`    iifname ${ifq} meta nfproto ipv6 drop`);
  if (spec.nat) lines.push(`    iifname ${ifq} accept`);
  else {
    if (r4.length) lines.push(`    iifname ${ifq} ip daddr @routes4 accept`);
    if (r6.length) lines.push(`    iifname ${ifq} ip6 daddr @routes6 accept`);
    lines.push(`    iifname ${ifq} drop`);
  }
  lines.push(`  }`);
  if (spec.nat) {
    lines.push(`  chain postrouting {`, `    type nat hook postrouting priority srcnat; policy accept;`);
    if (spec.poolV4)
      lines.push(
        `    oifname != ${ifq} ip saddr ${spec.poolV4}${r4.length ? ' ip daddr != @routes4' : ''} masquerade`,
      );
    if (spec.poolV6)
      lines.push(
        `    oifname != ${ifq} ip6 saddr ${spec.poolV6}${r6.length ? ' ip6 daddr != @routes6' : ''} masquerade`,
      );
    lines.push(`  }`);
  }
  lines.push(`}`);
  return lines.join('\n') + '\n';
}

function nft(input: string): void {
  try {
    execFileSync('nft', ['-f', '-'], { input, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; message: string; code?: string };
    if (err.code === 'ENOENT')
      throw new Error('nft (nftables) is not installed; it is needed for vpn.nat/routes');
    throw new Error(`nft failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** Installs the table atomically, replacing any previous one of the same name (one nft transaction). */
export function installFirewall(spec: FirewallSpec): void {
  const t = `inet ${tableName(spec.ifname)}`;
  // "add table" then "delete table" makes the delete succeed whether or not a stale table exists.
  nft(`add table ${t}\ndelete table ${t}\n${buildRuleset(spec)}`);
}

export function removeFirewall(ifname: string): void {
  const t = `inet ${tableName(ifname)}`;
  nft(`add table ${t}\ndelete table ${t}\n`);
}

const FORWARDING = {
  4: '/proc/sys/net/ipv4/ip_forward',
  6: '/proc/sys/net/ipv6/conf/all/forwarding',
} as const;

/**
 * Turns on IP forwarding for the families given; returns a function that turns off again what this
 * call turned on (a host that already forwarded is left forwarding).
 *
 * Note for IPv6: with forwarding on, Linux ignores router advertisements on interfaces whose
 * accept_ra is 1, so a server that gets its own IPv6 route by SLAAC needs accept_ra=2 on its uplink.
 */
export function enableForwarding(families: (4 | 6)[]): () => void {
  const changed: string[] = [];
  for (const f of families) {
    const path = FORWARDING[f];
    if (readFileSync(path, 'utf8').trim() === '1') continue;
    writeFileSync(path, '1\n');
    changed.push(path);
  }
  return () => {
    for (const p of changed) {
      try {
        writeFileSync(p, '0\n');
      } catch {
        /* best effort at shutdown */
      }
    }
  };
}

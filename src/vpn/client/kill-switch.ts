// The kill switch: one nftables table per tunnel whose output and forward chains drop every packet
// that does not leave through the tunnel, except the tunnel's own UDP to its server endpoint(s), the
// loopback, the link-local housekeeping a host needs to keep its LAN address (neighbour discovery,
// DHCP), and - when asked - the LAN. Its own table (not rules in someone else's) so that it is added
// and removed atomically, never depends on the daemon being alive, and is recognisable by name.
//
// Pure: builds `nft -f` input. up.ts loads it before the interface exists; only `ferry down` deletes it.

export interface EndpointAddr {
  address: string;
  port: number;
}

export interface KillSwitchOptions {
  ifname: string;
  endpoints: EndpointAddr[];
  /** The fwmark the daemon's sockets carry (full tunnel); endpoint traffic must carry it when set. */
  fwmark: number | null;
  allowLan: boolean;
}

/** RFC 1918 private ranges, RFC 3927 link-local, and the multicast/broadcast a LAN uses. */
const LAN4 = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '255.255.255.255',
];
/** RFC 4291 link-local unicast and link-local-scope multicast. */
const LAN6 = ['fe80::/10', 'ff02::/16'];

export function killSwitchTableName(ifname: string): string {
  return `ferry-ks-${ifname}`;
}

/** The named counter of packets the kill switch dropped (read by `ferry leaktest`). */
export const DROP_COUNTER = 'blocked';

export function killSwitchRuleset(o: KillSwitchOptions): string {
  const t = killSwitchTableName(o.ifname);
  const v4 = o.endpoints.filter((e) => !e.address.includes(':'));
  const v6 = o.endpoints.filter((e) => e.address.includes(':'));
  const mark = o.fwmark !== null && o.fwmark !== 0 ? `meta mark ${o.fwmark} ` : '';
  const set = (es: EndpointAddr[]): string => `{ ${es.map((e) => `${e.address} . ${e.port}`).join(', ')} }`;
  const out: string[] = [];
  // `add table` + `delete table` + full definition: loading replaces any stale table of the same name
  // in one transaction instead of failing or merging with it.
  out.push(`table inet ${t} {}`, `delete table inet ${t}`, `table inet ${t} {`);
  out.push(`  counter ${DROP_COUNTER} {}`);
  out.push('  chain output {', '    type filter hook output priority filter; policy drop;');
  out.push('    oifname "lo" accept', `    oifname "${o.ifname}" accept`);
  if (v4.length) out.push(`    ${mark}ip daddr . udp dport ${set(v4)} accept`);
  if (v6.length) out.push(`    ${mark}ip6 daddr . udp dport ${set(v6)} accept`);
  out.push(...housekeeping('    '));
  if (o.allowLan) out.push(...lan('    '));
  out.push(`    counter name ${DROP_COUNTER} drop`, '  }');
  out.push('  chain forward {', '    type filter hook forward priority filter; policy drop;');
  out.push(`    oifname "${o.ifname}" accept`);
  if (o.allowLan) out.push(...lan('    '));
  out.push(`    counter name ${DROP_COUNTER} drop`, '  }', '}');
  return out.join('\n') + '\n';
}

function housekeeping(ind: string): string[] {
  return [
    // IPv6 neighbour and router discovery (RFC 4861): without them the host loses its on-link
    // neighbours, including the gateway the endpoint is reached through.
    `${ind}icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept`,
    // DHCP lease renewals (RFC 2131 ports 68→67, RFC 8415 ports 546→547): losing the lease would
    // take the path to the endpoint down with it.
    `${ind}udp sport 68 udp dport 67 accept`,
    `${ind}udp sport 546 udp dport 547 accept`,
  ];
}

function lan(ind: string): string[] {
  return [`${ind}ip daddr { ${LAN4.join(', ')} } accept`, `${ind}ip6 daddr { ${LAN6.join(', ')} } accept`];
}

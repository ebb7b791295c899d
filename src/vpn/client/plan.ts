// What `ferry up` does to the system, as data: the ordered steps that bring a wg-quick(8) config up.
// Pure - no processes, no files - so the routing and firewall decisions can be read and tested on
// their own; up.ts executes the steps and records how to undo each one.
//
// The order and the commands follow wg-quick(8) (the script's cmd_up: PreUp, add_if, set_config,
// add_addr, set_mtu_up, set_dns, add_route, PostUp), with Ferry's additions: the kill switch goes in
// *before* the interface exists, and a full tunnel that carries only one address family blocks the
// other one (see uncoveredFamilies).
import type { WgConfig } from '../../wireguard/io/wg-config.js';
import { killSwitchRuleset, killSwitchTableName, type EndpointAddr } from './kill-switch.js';

export type Family = 4 | 6;

export type Step =
  | { kind: 'hook'; phase: 'PreUp' | 'PostUp'; command: string }
  | { kind: 'nft'; what: string; script: string; family: string; table: string; keepOnFailure: boolean }
  | { kind: 'daemon' }
  | { kind: 'configure'; fwmark: number | null }
  | { kind: 'address'; cidr: string }
  | { kind: 'mtu'; mtu: number | 'auto' }
  | { kind: 'dns'; nameservers: string[]; search: string[] }
  | { kind: 'sysctl'; key: string; value: string }
  /** `ip route add cidr dev ifname [table t]`, skipped when a route through ifname already covers it. */
  | { kind: 'route'; cidr: string; table: number | null }
  /** An `ip` command whose effect dies with nothing else: undone by `undo`. */
  | { kind: 'ip'; args: string[]; undo: string[] };

export interface PlanOptions {
  ifname: string;
  killSwitch: boolean;
  allowLan: boolean;
  /** Resolved endpoints of all peers. */
  endpoints: EndpointAddr[];
  /** The policy-routing table (= fwmark) to use if a default route goes through the tunnel. */
  freeTable: number;
}

export interface Plan {
  steps: Step[];
  /** The fwmark / table used for a default route, or null (no default route or Table set). */
  fwmark: number | null;
  /** Address families whose default route goes through the tunnel. */
  tunnelled: Family[];
  /** Families blocked because the tunnel carries a default route but not theirs. */
  blocked: Family[];
}

export const familyOf = (cidr: string): Family => (cidr.includes(':') ? 6 : 4);
const prefixLen = (cidr: string): number => Number(cidr.slice(cidr.indexOf('/') + 1));

/** AllowedIPs of all peers, longest prefix first (wg-quick: `sort -nr -k 2 -t /`). */
export function allowedIpsByPrefix(cfg: WgConfig): string[] {
  const all = [...new Set(cfg.peers.flatMap((p) => p.allowedIps))];
  return all.sort((a, b) => prefixLen(b) - prefixLen(a));
}

export function planUp(cfg: WgConfig, opts: PlanOptions): Plan {
  if (cfg.quick.saveConfig)
    throw new Error(
      'SaveConfig is not supported by ferry up: a userspace interface changed at run time has no ' +
        'place to write back to; change the config file instead, or remove SaveConfig',
    );
  const q = cfg.quick;
  const table = q.table ?? 'auto';
  const allowed = allowedIpsByPrefix(cfg);
  const defaults = allowed.filter((c) => prefixLen(c) === 0);
  const policy = table === 'auto' && defaults.length > 0;
  // wg-quick's get_fwmark: a FwMark in the config is also the table; otherwise the first free one.
  const fwmark = policy ? cfg.fwmark || opts.freeTable : null;
  const tunnelled = [...new Set(defaults.map(familyOf))];
  const blocked: Family[] = policy ? ([4, 6] as Family[]).filter((f) => !tunnelled.includes(f)) : [];

  const steps: Step[] = [];
  for (const c of q.preUp) steps.push({ kind: 'hook', phase: 'PreUp', command: c });
  if (opts.killSwitch) {
    steps.push({
      kind: 'nft',
      what: 'kill switch',
      family: 'inet',
      table: killSwitchTableName(opts.ifname),
      script: killSwitchRuleset({
        ifname: opts.ifname,
        endpoints: opts.endpoints,
        fwmark,
        allowLan: opts.allowLan,
      }),
      keepOnFailure: true,
    });
  }
  steps.push({ kind: 'daemon' });
  steps.push({ kind: 'configure', fwmark });
  for (const a of cfg.addresses) steps.push({ kind: 'address', cidr: a });
  steps.push({ kind: 'mtu', mtu: cfg.mtu ?? 'auto' });
  if (q.dns.length > 0) steps.push({ kind: 'dns', nameservers: q.dns, search: q.dnsSearch });

  if (table !== 'off') {
    const fixed = table === 'auto' ? null : Number(table);
    for (const cidr of allowed) {
      if (fixed === null && prefixLen(cidr) === 0) continue; // below, through the policy table
      steps.push({ kind: 'route', cidr, table: fixed });
    }
  }
  if (fwmark !== null) {
    for (const f of [...tunnelled, ...blocked] as Family[])
      steps.push(...policyRouting(opts.ifname, f, fwmark, blocked.includes(f)));
    if (tunnelled.includes(4) || blocked.includes(4))
      steps.push({ kind: 'sysctl', key: 'net.ipv4.conf.all.src_valid_mark', value: '1' });
  }
  for (const c of q.postUp) steps.push({ kind: 'hook', phase: 'PostUp', command: c });
  return { steps, fwmark, tunnelled, blocked };
}

/**
 * wg-quick's add_default for one family: everything not marked with the fwmark is looked up in table
 * M, whose default route is the tunnel; the daemon's own UDP carries the mark and so follows the main
 * table to the endpoint. `suppress_prefixlength 0` lets main's more specific routes (the LAN, the
 * endpoint's on-link network) win over M while ignoring main's default route.
 *
 * When `block` is set the family has no default route in the tunnel: table M gets an unreachable
 * default instead, so that family cannot leave around the tunnel (a full-tunnel config without ::/0
 * would otherwise send IPv6 straight out of the physical link - the classic IPv6 leak). Chosen over a
 * firewall rule because it needs no nftables, fails fast (ENETUNREACH rather than a silent drop) and
 * leaves the LAN reachable exactly as the tunnelled family's does.
 */
function policyRouting(ifname: string, f: Family, mark: number, block: boolean): Step[] {
  const fam = `-${f}`;
  const m = String(mark);
  const route = block ? ['unreachable', 'default', 'table', m] : ['default', 'dev', ifname, 'table', m];
  const steps: Step[] = [
    {
      kind: 'ip',
      args: [fam, 'rule', 'add', 'not', 'fwmark', m, 'table', m],
      undo: [fam, 'rule', 'del', 'not', 'fwmark', m, 'table', m],
    },
    {
      kind: 'ip',
      args: [fam, 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0'],
      undo: [fam, 'rule', 'del', 'table', 'main', 'suppress_prefixlength', '0'],
    },
    { kind: 'ip', args: [fam, 'route', 'add', ...route], undo: [fam, 'route', 'del', ...route] },
  ];
  if (!block) {
    // wg-quick's nft table for the family: drop packets to the tunnel's addresses that arrive on
    // another interface (not local), and carry the fwmark of the daemon's UDP flows over to their
    // replies through conntrack so that rp_filter (src_valid_mark) accepts them.
    const pf = f === 4 ? 'ip' : 'ip6';
    const t = `ferry-wg-${ifname}`;
    steps.push({
      kind: 'nft',
      what: 'wg-quick conntrack marks',
      family: pf,
      table: t,
      script: [
        `table ${pf} ${t} {`,
        '  chain premangle {',
        '    type filter hook prerouting priority mangle;',
        '    meta l4proto udp meta mark set ct mark',
        '  }',
        '  chain postmangle {',
        '    type filter hook postrouting priority mangle;',
        `    meta l4proto udp meta mark ${m} ct mark set meta mark`,
        '  }',
        '}',
      ].join('\n'),
      keepOnFailure: false,
    });
  }
  return steps;
}

/** Applies %i substitution to a hook, as wg-quick's execute_hooks does. */
export function expandHook(command: string, ifname: string): string {
  return command.replaceAll('%i', ifname);
}

/**
 * MTU when the config has none, as wg-quick's set_mtu_up: the largest MTU of the routes to the
 * endpoints (the route's own `mtu`, else its device's), else the default route's, else 1500; minus
 * 80 bytes - the IPv6 (40) + UDP (8) + WireGuard data header (32) overhead, so one size fits both
 * families.
 */
export function autoMtu(routeMtus: number[]): number {
  const best = Math.max(0, ...routeMtus);
  return (best > 0 ? best : 1500) - 80;
}

/** The interface names wg-quick(8) accepts (IFNAMSIZ - 1 bytes, a safe character set). */
export function validIfname(name: string): boolean {
  return /^[a-zA-Z0-9_=+.-]{1,15}$/.test(name);
}

// One routing rule, compiled from its configuration. Fields present must all match (AND); the
// values inside one field are alternatives (OR). A rule with no match fields matches everything.
import { CidrSet, parseIp } from '../net/cidr.js';
import { domainMatches, parseDomainPattern, type DomainPattern } from '../net/domain-match.js';
import type { Session } from '../core/session.js';
import { parsePortRange, type PortRange } from './port-range.js';

export interface RuleConfig {
  name?: string;
  users?: string[];
  inbounds?: string[];
  domains?: string[];
  cidrs?: string[];
  ports?: (string | number)[];
  /** An outbound name, or "reject". */
  action: string;
  /** Shown to the client and logged when the action is reject. */
  reason?: string;
  /** Exempts matching sessions from the restricted-destination guard (loopback, private, ...). */
  allow_private?: boolean;
}

export class Rule {
  readonly name: string;
  readonly action: string;
  readonly reason: string;
  readonly allowPrivate: boolean;
  private readonly users: Set<string> | null;
  private readonly inbounds: Set<string> | null;
  private readonly domains: DomainPattern[] | null;
  private readonly cidrs: CidrSet | null;
  private readonly ports: PortRange[] | null;

  constructor(cfg: RuleConfig, index: number) {
    this.name = cfg.name ?? `rule ${index + 1}`;
    this.action = cfg.action;
    this.reason = cfg.reason ?? `denied by ${this.name}`;
    this.allowPrivate = cfg.allow_private ?? false;
    this.users = cfg.users ? new Set(cfg.users) : null;
    this.inbounds = cfg.inbounds ? new Set(cfg.inbounds) : null;
    this.domains = cfg.domains ? cfg.domains.map(parseDomainPattern) : null;
    this.cidrs = cfg.cidrs ? new CidrSet(cfg.cidrs) : null;
    this.ports = cfg.ports ? cfg.ports.map(parsePortRange) : null;
  }

  matches(s: Session): boolean {
    if (this.users && (s.user === null || !this.users.has(s.user))) return false;
    if (this.inbounds && !this.inbounds.has(s.inbound)) return false;
    if (this.ports) {
      const p = s.dest.port;
      if (!this.ports.some((r) => p >= r.lo && p <= r.hi)) return false;
    }
    if (this.domains || this.cidrs) {
      // A destination field matches by name (domain patterns) or by address (CIDRs); a rule that
      // lists both matches either. CIDRs are tested against IP-literal destinations here; names are
      // resolved later by the outbound, where the address guard applies.
      const d = s.dest;
      let hit = false;
      if (d.kind === 'domain') hit = this.domains?.some((p) => domainMatches(p, d.host)) ?? false;
      else if (this.cidrs) {
        const b = parseIp(d.host);
        hit = b !== null && this.cidrs.has(b);
      }
      if (!hit) return false;
    }
    return true;
  }
}

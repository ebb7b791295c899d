// The router: ordered rules pick an outbound or reject. It knows no protocol; inbounds hand it a
// Session, outbounds get the Decision. Rebuilt as a whole on reload and swapped atomically, so a
// session is always decided by one consistent rule set.
import { applyLoginParams } from '../auth/username-params.js';
import { FerryError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import { CidrSet } from '../net/cidr.js';
import { domainMatches, parseDomainPattern, type DomainPattern } from '../net/domain-match.js';
import { isCidrText } from '../net/cidr.js';
import type { Outbound } from '../outbound/outbound.js';
import { ALLOW_ALL, RestrictedAddressGuard, type AddressGuard } from './address-guard.js';
import { Rule, type RuleConfig } from './rule.js';

export interface RouterConfig {
  rules: RuleConfig[];
  /** Outbound for sessions no rule matches ("reject" to deny by default). */
  default: string;
  /** CIDRs and domain patterns exempt from the restricted-destination guard. */
  allowDestinations: string[];
}

export interface Decision {
  outbound: Outbound;
  rule: string | null;
  guard: AddressGuard;
}

export class Router {
  private readonly rules: Rule[];
  private readonly allowedDomains: DomainPattern[];
  private readonly guard: AddressGuard;

  constructor(
    cfg: RouterConfig,
    private readonly outbounds: ReadonlyMap<string, Outbound>,
  ) {
    this.rules = cfg.rules.map((r, i) => new Rule(r, i));
    for (const r of this.rules) this.resolve(r.action, r.name);
    this.resolve(cfg.default, 'default');
    this.defaultAction = cfg.default;
    const cidrs: string[] = [];
    this.allowedDomains = [];
    for (const a of cfg.allowDestinations) {
      if (isCidrText(a)) cidrs.push(a);
      else this.allowedDomains.push(parseDomainPattern(a));
    }
    this.guard = new RestrictedAddressGuard(new CidrSet(cidrs));
  }

  private readonly defaultAction: string;

  private resolve(action: string, where: string): void {
    if (action === 'reject') return;
    if (!this.outbounds.has(action)) {
      throw new FerryError(
        'E_CONFIG',
        `${where}: unknown outbound '${action}' (known: reject, ${[...this.outbounds.keys()].join(', ')})`,
      );
    }
  }

  decide(s: Session): Decision {
    // "alice-country-us-session-x" logins: rules see the user "alice"; the parameters go to pools.
    applyLoginParams(s);
    let action = this.defaultAction;
    let ruleName: string | null = null;
    let allowPrivate = false;
    let reason = 'denied by the default policy';
    for (const r of this.rules) {
      if (r.matches(s)) {
        action = r.action;
        ruleName = r.name;
        allowPrivate = r.allowPrivate;
        reason = r.reason;
        break;
      }
    }
    if (action === 'reject') throw new FerryError('E_POLICY_DENIED', reason);
    const outbound = this.outbounds.get(action)!;
    let guard = this.guard;
    if (
      allowPrivate ||
      (s.dest.kind === 'domain' && this.allowedDomains.some((p) => domainMatches(p, s.dest.host)))
    ) {
      guard = ALLOW_ALL;
    }
    return { outbound, rule: ruleName, guard };
  }
}

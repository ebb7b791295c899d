// The last check before a socket is opened: is this resolved address one the gateway may reach on a
// client's behalf? It runs on every address a name resolves to, so a name that resolves to
// 127.0.0.1 (DNS rebinding) is refused like the literal.
import { CidrSet, parseIp } from '../net/cidr.js';
import { ownAddresses, restrictedRanges } from '../net/special-ranges.js';

export interface AddressGuard {
  /** null when allowed, else a reason. */
  check(address: string): string | null;
}

export const ALLOW_ALL: AddressGuard = { check: () => null };

export class RestrictedAddressGuard implements AddressGuard {
  private own: CidrSet;
  private ownAt = 0;
  constructor(private readonly allowed: CidrSet) {
    this.own = ownAddresses();
    this.ownAt = Date.now();
  }
  check(address: string): string | null {
    const b = parseIp(address);
    if (!b) return `'${address}' is not an IP address`;
    if (this.allowed.size > 0 && this.allowed.has(b)) return null;
    if (restrictedRanges().has(b))
      return `${address} is in a restricted range (loopback, link-local, private or reserved)`;
    // Interface addresses change rarely; refresh at most every 10 s.
    const now = Date.now();
    if (now - this.ownAt > 10_000) {
      this.own = ownAddresses();
      this.ownAt = now;
    }
    if (this.own.has(b)) return `${address} is an address of this gateway`;
    return null;
  }
}

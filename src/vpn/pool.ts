// The tunnel address pool: an IPv4 prefix and/or an IPv6 prefix. Host index i maps to the i-th
// address of each prefix, so a device gets matching addresses in both families (10.66.0.7 and
// fd…::7), which keeps them easy to read side by side. Index 1 is the server's; the network address
// (index 0) and the IPv4 broadcast address are never handed out.
import ipaddr from 'ipaddr.js';
import { parseCidr, type Cidr } from '../net/cidr.js';

export interface Allocation {
  v4: string | null;
  v6: string | null;
}

const SERVER_INDEX = 1n;

function toBig(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBig(n: bigint, len: number): string {
  const out = new Array<number>(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return ipaddr.fromByteArray(out).toString();
}

class Prefix {
  readonly base: bigint;
  readonly len: number;
  /** Highest usable host index. */
  readonly maxIndex: bigint;
  constructor(readonly cidr: Cidr) {
    this.len = cidr.bytes.length;
    this.base = toBig(cidr.bytes);
    const size = 1n << BigInt(this.len * 8 - cidr.prefix);
    // IPv4: the last address is the broadcast address. IPv6 has none, but the all-ones interface
    // identifier is avoided all the same (RFC 2526 reserves the top 128 for anycast in /64s).
    this.maxIndex = cidr.family === 4 ? size - 2n : size - 129n > 1n ? size - 129n : size - 1n;
  }
  at(index: bigint): string {
    return fromBig(this.base + index, this.len);
  }
  indexOf(address: string): bigint | null {
    let a;
    try {
      a = ipaddr.parse(address);
    } catch {
      return null;
    }
    const bytes = a.toByteArray();
    if (bytes.length !== this.len) return null;
    const n = toBig(Uint8Array.from(bytes));
    const i = n - this.base;
    return i >= 0n && i <= this.maxIndex ? i : null;
  }
  get prefixLength(): number {
    return this.cidr.prefix;
  }
}

export class AddressPool {
  private readonly p4: Prefix | null;
  private readonly p6: Prefix | null;

  /** `v4`/`v6`: prefixes in CIDR notation, or null when the tunnel carries no such family. */
  constructor(v4: string | null, v6: string | null) {
    this.p4 = v4 === null ? null : new Prefix(parseCidr(v4));
    this.p6 = v6 === null ? null : new Prefix(parseCidr(v6));
    if (this.p4 && this.p4.cidr.family !== 4) throw new Error(`${v4} is not an IPv4 prefix`);
    if (this.p6 && this.p6.cidr.family !== 6) throw new Error(`${v6} is not an IPv6 prefix`);
    if (!this.p4 && !this.p6) throw new Error('the address pool needs an IPv4 or an IPv6 prefix');
  }

  get prefixV4(): string | null {
    return this.p4 ? `${this.p4.at(0n)}/${this.p4.prefixLength}` : null;
  }
  get prefixV6(): string | null {
    return this.p6 ? `${this.p6.at(0n)}/${this.p6.prefixLength}` : null;
  }

  /** The server's own addresses, in CIDR notation with the pool's prefix length (for `ip addr`). */
  serverInterfaceAddresses(): string[] {
    const out: string[] = [];
    if (this.p4) out.push(`${this.p4.at(SERVER_INDEX)}/${this.p4.prefixLength}`);
    if (this.p6) out.push(`${this.p6.at(SERVER_INDEX)}/${this.p6.prefixLength}`);
    return out;
  }

  serverAddresses(): Allocation {
    return {
      v4: this.p4 ? this.p4.at(SERVER_INDEX) : null,
      v6: this.p6 ? this.p6.at(SERVER_INDEX) : null,
    };
  }

  /** Whether `address` lies in the part of the pool handed to devices. */
  contains(address: string): boolean {
    for (const p of [this.p4, this.p6]) {
      const i = p?.indexOf(address) ?? null;
      if (i !== null && i > SERVER_INDEX) return true;
    }
    return false;
  }

  /**
   * The lowest index free in both families, given the addresses already taken (any family; text
   * form need not be canonical). Throws when the pool is full.
   */
  allocate(taken: Iterable<string>): Allocation {
    const used = new Set<bigint>();
    for (const t of taken) {
      for (const p of [this.p4, this.p6]) {
        const i = p?.indexOf(t) ?? null;
        if (i !== null) used.add(i);
      }
    }
    const limits = [this.p4, this.p6].filter((p): p is Prefix => p !== null).map((p) => p.maxIndex);
    const max = limits.reduce((a, b) => (a < b ? a : b));
    for (let i = SERVER_INDEX + 1n; i <= max; i++) {
      if (used.has(i)) continue;
      return { v4: this.p4 ? this.p4.at(i) : null, v6: this.p6 ? this.p6.at(i) : null };
    }
    throw new Error(`the address pool ${[this.prefixV4, this.prefixV6].filter(Boolean).join(' + ')} is full`);
  }
}

/** Canonical text of an address (so "fd00:0::2" and "fd00::2" compare equal). */
export function canonicalAddress(address: string): string {
  return ipaddr.parse(address).toString();
}

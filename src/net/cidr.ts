// CIDR parsing and matching on address bytes. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// matched as the IPv4 address they carry, so a filter on 127.0.0.0/8 also covers ::ffff:127.0.0.1.
import ipaddr from 'ipaddr.js';

export interface Cidr {
  family: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
  text: string;
}

export function parseIp(text: string): Uint8Array | null {
  if (!ipaddr.isValid(text)) return null;
  let a = ipaddr.parse(text);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  return Uint8Array.from(a.toByteArray());
}

export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  if (!ipaddr.isValid(addrText)) throw new Error(`'${text}' is not an IP address or CIDR`);
  const parsed = ipaddr.parse(addrText);
  const bytes = Uint8Array.from(parsed.toByteArray());
  const max = bytes.length * 8;
  const prefix = slash < 0 ? max : Number(text.slice(slash + 1));
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))
  ) {
    throw new Error(`'${text}' has an invalid prefix length (0..${max})`);
  }
  return { family: bytes.length === 4 ? 4 : 6, bytes: maskBytes(bytes, prefix), prefix, text };
}

function maskBytes(b: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

export function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  if (addr.length !== c.bytes.length) return false;
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== c.bytes[i]) return false;
  const rem = c.prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (addr[full]! & mask) === c.bytes[full];
}

/** A set of CIDRs; linear scan is fine for the tens of entries a policy holds. */
export class CidrSet {
  private readonly list: Cidr[];
  constructor(cidrs: Iterable<string | Cidr>) {
    this.list = [...cidrs].map((c) => (typeof c === 'string' ? parseCidr(c) : c));
  }
  get size(): number {
    return this.list.length;
  }
  has(addr: Uint8Array | string): boolean {
    const b = typeof addr === 'string' ? parseIp(addr) : addr;
    if (!b) return false;
    for (const c of this.list) if (cidrContains(c, b)) return true;
    return false;
  }
}

export function isCidrText(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

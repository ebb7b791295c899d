// Textual IP addresses and CIDR prefixes <-> bytes, for configuration and status (not the data path,
// which reads addresses straight out of packet headers).

import ipaddr from 'ipaddr.js';

export interface Prefix {
  /** 4 or 16 bytes, with the bits past `bits` cleared. */
  addr: Uint8Array;
  bits: number;
}

/** Parses a textual IPv4 (dotted quad only) or IPv6 address; throws on anything else. */
export function parseIp(text: string): Uint8Array {
  const s = text.trim();
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return Uint8Array.from(ipaddr.IPv4.parse(s).toByteArray());
  if (s.includes(':') && ipaddr.IPv6.isValid(s)) {
    return Uint8Array.from(ipaddr.IPv6.parse(s).toByteArray());
  }
  throw new Error(`invalid IP address: ${JSON.stringify(text)}`);
}

/** Parses "addr/bits" (a bare address means a host prefix) and masks the host bits, like `wg` does. */
export function parseCidr(text: string): Prefix {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addr = parseIp(slash < 0 ? s : s.slice(0, slash));
  const max = addr.length * 8;
  let bits = max;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max)
      throw new Error(`invalid CIDR prefix length: ${JSON.stringify(text)}`);
    bits = Number(b);
  }
  maskInPlace(addr, bits);
  return { addr, bits };
}

export function maskInPlace(addr: Uint8Array, bits: number): void {
  for (let i = 0; i < addr.length; i++) {
    const keep = bits - i * 8;
    if (keep >= 8) continue;
    addr[i] = keep <= 0 ? 0 : addr[i]! & (0xff << (8 - keep));
  }
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6. */
export function formatIp(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  return (ipaddr.fromByteArray(Array.from(addr)) as ipaddr.IPv6).toRFC5952String();
}

export function formatCidr(p: Prefix): string {
  return `${formatIp(p.addr)}/${p.bits}`;
}

// Addresses on the SOCKS wire: 4-byte IPv4, 16-byte IPv6 and host names, turned into Destinations
// (and back, for replies and UDP headers). Pure functions over buffers, no I/O.
import { FerryError } from '../../core/errors.js';
import { isValidDomain, makeDestination, type Destination } from '../../core/session.js';
import { parseIp } from '../../net/cidr.js';
import { ATYP_IPV4, ATYP_IPV6, REP_ADDRESS_TYPE_NOT_SUPPORTED } from './constants.js';

/** An unknown ATYP: RFC 1928 §6 has its own reply for it (0x08), which no generic error code maps to. */
export class AddressTypeError extends FerryError {
  constructor(atyp: number) {
    super(
      'E_UNSUPPORTED',
      `address type 0x${atyp.toString(16).padStart(2, '0')} is not supported (RFC 1928 §5)`,
    );
  }
  override get socks5Reply(): number {
    return REP_ADDRESS_TYPE_NOT_SUPPORTED;
  }
}

export function ipv4Text(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 §4 text: lower-case hex without leading zeros, the first longest run (≥ 2) of zero groups as "::". */
export function ipv6Text(b: Buffer, o: number): string {
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    if (b[o + 2 * i] === 0 && b[o + 2 * i + 1] === 0) {
      if (runStart < 0) runStart = i;
      if (i - runStart + 1 > bestLen) {
        bestStart = runStart;
        bestLen = i - runStart + 1;
      }
    } else runStart = -1;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    s += ((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!).toString(16);
    if (i < 7) s += ':';
  }
  return s;
}

/**
 * A host name as sent by a client (SOCKS5 ATYP 0x03 or the SOCKS4a field) → Destination. Clients
 * sometimes put an IP literal there; makeDestination recognises it. Anything else must be a valid DNS
 * name: the name is resolved later by the outbound (remote DNS), never here.
 */
export function hostDestination(b: Buffer, start: number, end: number, port: number): Destination {
  if (end === start) throw new FerryError('E_BAD_REQUEST', 'zero-length host name');
  // latin1 keeps every byte as one char, so a non-ASCII byte fails isValidDomain below.
  const dest = makeDestination(b.toString('latin1', start, end), port);
  if (dest.kind === 'domain' && !isValidDomain(dest.host)) {
    throw new FerryError('E_BAD_REQUEST', `invalid host name (${end - start} bytes)`);
  }
  return dest;
}

/** Node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d; compare them as IPv4. */
export { unmapIpv4 as normalizeIp } from '../../net/mapped-ipv4.js';

export function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * A frame that ends with ATYP, address and port: an RFC 1928 §6 reply (VER REP RSV) or a §7 UDP header
 * (RSV RSV FRAG) — `lead` gives those three bytes. An IPv4-mapped IPv6 address is written as IPv4; an
 * absent or non-IP address as 0.0.0.0 (port 0 when absent).
 */
export function addressFrame(
  lead0: number,
  lead1: number,
  host: string | undefined,
  port: number | undefined,
): Buffer {
  const ip = host ? parseIp(host) : null;
  const v6 = ip !== null && ip.length === 16;
  const b = Buffer.allocUnsafe(v6 ? 22 : 10);
  b[0] = lead0;
  b[1] = lead1;
  b[2] = 0;
  b[3] = v6 ? ATYP_IPV6 : ATYP_IPV4;
  if (ip) b.set(ip, 4);
  else b.fill(0, 4, 8);
  b.writeUInt16BE((port ?? 0) & 0xffff, v6 ? 20 : 8);
  return b;
}

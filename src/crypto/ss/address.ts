// The target address that starts every Shadowsocks request and UDP packet: the SOCKS5 address form
// of RFC 1928 §5 (ATYP 0x01 IPv4 | 0x03 length-prefixed name | 0x04 IPv6, then a big-endian port),
// as SIP002/SIP004 ("[target address]") and SIP022 §3.1.3 ("ATYP + address + port") prescribe.
import ipaddr from 'ipaddr.js';
import { FerryError } from '../../core/errors.js';
import { isValidDomain, makeDestination, type Destination } from '../../core/session.js';
import { parseIp } from '../../net/cidr.js';

const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;

/** Bytes encodeAddress will produce. */
export function addressLength(dest: Destination): number {
  if (dest.kind === 'ipv4') return 7;
  if (dest.kind === 'ipv6') return 19;
  return 4 + Buffer.byteLength(dest.host);
}

/** Writes dest at off; returns the offset after it. */
export function writeAddress(dest: Destination, out: Buffer, off: number): number {
  if (dest.kind === 'domain') {
    const n = out.write(dest.host, off + 2, 'latin1');
    if (n > 255) throw new FerryError('E_BAD_REQUEST', 'host name longer than 255 bytes');
    out[off] = ATYP_DOMAIN;
    out[off + 1] = n;
    off += 2 + n;
  } else {
    const ip = parseIp(dest.host);
    if (!ip) throw new FerryError('E_BAD_REQUEST', `not an IP address: ${dest.host}`);
    out[off] = ip.length === 4 ? ATYP_IPV4 : ATYP_IPV6;
    out.set(ip, off + 1);
    off += 1 + ip.length;
  }
  out.writeUInt16BE(dest.port, off);
  return off + 2;
}

export function encodeAddress(dest: Destination): Buffer {
  const b = Buffer.alloc(addressLength(dest));
  writeAddress(dest, b, 0);
  return b;
}

export interface DecodedAddress {
  dest: Destination;
  /** Offset just after the port. */
  end: number;
}

/**
 * Reads an address at off. Returns null when `buf` ends before the address does (more bytes may
 * come); throws E_PROTOCOL for an unknown ATYP and E_BAD_REQUEST for an unusable host name.
 */
export function readAddress(buf: Buffer, off: number): DecodedAddress | null {
  if (buf.length <= off) return null;
  const atyp = buf[off]!;
  let host: string;
  let p: number;
  switch (atyp) {
    case ATYP_IPV4:
      if (buf.length < off + 7) return null;
      host = `${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}.${buf[off + 4]}`;
      p = off + 5;
      break;
    case ATYP_IPV6:
      if (buf.length < off + 19) return null;
      host = ipaddr.fromByteArray([...buf.subarray(off + 1, off + 17)]).toString();
      p = off + 17;
      break;
    case ATYP_DOMAIN: {
      if (buf.length < off + 2) return null;
      const n = buf[off + 1]!;
      if (buf.length < off + 4 + n) return null;
      host = buf.toString('latin1', off + 2, off + 2 + n);
      p = off + 2 + n;
      break;
    }
    default:
      throw new FerryError('E_PROTOCOL', `unknown address type 0x${atyp.toString(16)}`);
  }
  const dest = makeDestination(host, buf.readUInt16BE(p));
  if (dest.kind === 'domain' && !isValidDomain(dest.host))
    throw new FerryError('E_BAD_REQUEST', 'invalid host name in request');
  return { dest, end: p + 2 };
}

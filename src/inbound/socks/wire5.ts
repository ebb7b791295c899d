// SOCKS5 frames (RFC 1928, RFC 1929) as pure functions. Each parser takes the bytes received so far
// and an offset, and returns the frame with its length, or null when more bytes are needed. Every
// length is checked before it is used; malformed input throws a FerryError and never reads past the
// buffer.
import { FerryError } from '../../core/errors.js';
import type { Destination } from '../../core/session.js';
import { AddressTypeError, addressFrame, hostDestination, ipv4Text, ipv6Text } from './address.js';
import {
  ATYP_DOMAIN,
  ATYP_IPV4,
  ATYP_IPV6,
  METHOD_NO_AUTH,
  METHOD_USER_PASS,
  SOCKS5_VERSION,
  USER_PASS_VERSION,
} from './constants.js';

export interface Greeting {
  length: number;
  noAuth: boolean;
  userPass: boolean;
}

/** RFC 1928 §3: VER | NMETHODS | METHODS (NMETHODS bytes). */
export function parseGreeting(b: Buffer, o: number): Greeting | null {
  const avail = b.length - o;
  if (avail < 1) return null;
  if (b[o] !== SOCKS5_VERSION)
    throw new FerryError('E_PROTOCOL', `greeting version ${b[o]}, expected 5 (RFC 1928 §3)`);
  if (avail < 2) return null;
  const n = b[o + 1]!;
  if (avail < 2 + n) return null;
  let noAuth = false;
  let userPass = false;
  for (let i = o + 2; i < o + 2 + n; i++) {
    if (b[i] === METHOD_NO_AUTH) noAuth = true;
    else if (b[i] === METHOD_USER_PASS) userPass = true;
  }
  return { length: 2 + n, noAuth, userPass };
}

export interface UserPass {
  length: number;
  user: string;
  password: string;
}

/** RFC 1929 §2: VER(0x01) | ULEN | UNAME | PLEN | PASSWD. Empty fields are left to the authenticator to refuse. */
export function parseUserPass(b: Buffer, o: number): UserPass | null {
  const avail = b.length - o;
  if (avail < 1) return null;
  if (b[o] !== USER_PASS_VERSION) {
    throw new FerryError('E_PROTOCOL', `username/password version ${b[o]}, expected 1 (RFC 1929 §2)`);
  }
  if (avail < 2) return null;
  const ulen = b[o + 1]!;
  if (avail < 3 + ulen) return null;
  const plen = b[o + 2 + ulen]!;
  const length = 3 + ulen + plen;
  if (avail < length) return null;
  return {
    length,
    user: b.toString('utf8', o + 2, o + 2 + ulen),
    password: b.toString('utf8', o + 3 + ulen, o + length),
  };
}

export interface Request5 {
  length: number;
  cmd: number;
  dest: Destination;
}

/** RFC 1928 §4: VER | CMD | RSV | ATYP | DST.ADDR | DST.PORT. The command is checked by the caller. */
export function parseRequest5(b: Buffer, o: number): Request5 | null {
  const avail = b.length - o;
  if (avail < 1) return null;
  if (b[o] !== SOCKS5_VERSION)
    throw new FerryError('E_PROTOCOL', `request version ${b[o]}, expected 5 (RFC 1928 §4)`);
  // RSV (o + 2) is not checked: RFC 1928 gives it no meaning, and rejecting a non-zero value would
  // only break clients that leave garbage there.
  if (avail < 4) return null;
  const a = parseAddress(b, o + 3);
  if (!a) return null;
  return { length: a.end - o, cmd: b[o + 1]!, dest: a.dest };
}

export interface ParsedAddress {
  dest: Destination;
  /** Offset just after DST.PORT. */
  end: number;
}

/** ATYP | ADDR | PORT starting at `o` (RFC 1928 §5); null when incomplete. */
export function parseAddress(b: Buffer, o: number): ParsedAddress | null {
  const avail = b.length - o;
  if (avail < 1) return null;
  const atyp = b[o]!;
  switch (atyp) {
    case ATYP_IPV4:
      if (avail < 7) return null;
      return { dest: { host: ipv4Text(b, o + 1), port: b.readUInt16BE(o + 5), kind: 'ipv4' }, end: o + 7 };
    case ATYP_IPV6:
      if (avail < 19) return null;
      return { dest: { host: ipv6Text(b, o + 1), port: b.readUInt16BE(o + 17), kind: 'ipv6' }, end: o + 19 };
    case ATYP_DOMAIN: {
      if (avail < 2) return null;
      const n = b[o + 1]!;
      // Refuse an empty name as soon as its length byte arrives rather than waiting for the port.
      if (n === 0) throw new FerryError('E_BAD_REQUEST', 'zero-length host name');
      if (avail < 4 + n) return null;
      const port = b.readUInt16BE(o + 2 + n);
      return { dest: hostDestination(b, o + 2, o + 2 + n, port), end: o + 4 + n };
    }
    default:
      throw new AddressTypeError(atyp);
  }
}

export interface UdpDatagram {
  dest: Destination;
  /** Where the payload starts. */
  offset: number;
}

/**
 * RFC 1928 §7: RSV(2) | FRAG | ATYP | DST.ADDR | DST.PORT | DATA. Returns null for anything the relay
 * must drop: truncated, fragmented (FRAG ≠ 0; "an implementation that does not support fragmentation
 * MUST drop any datagram whose FRAG field is other than X'00'"), or an invalid address.
 */
export function parseUdpDatagram(b: Buffer): UdpDatagram | null {
  if (b.length < 4 || b[2] !== 0) return null;
  try {
    const a = parseAddress(b, 3);
    return a ? { dest: a.dest, offset: a.end } : null;
  } catch {
    return null;
  }
}

/** RFC 1928 §6 reply: VER | REP | RSV | ATYP | BND.ADDR | BND.PORT. */
export function reply5(rep: number, host?: string, port?: number): Buffer {
  return addressFrame(SOCKS5_VERSION, rep, host, port);
}

/** RFC 1928 §7 header for a datagram sent back to the client, naming its source. */
export function udpHeader(host: string, port: number): Buffer {
  return addressFrame(0, 0, host, port);
}

// SOCKS4 and SOCKS4a requests and replies as pure functions (same conventions as wire5.ts).
//
// Request: VN(4) | CD | DSTPORT(2) | DSTIP(4) | USERID | NUL, and for 4a, when DSTIP is 0.0.0.x with
// x ≠ 0 ("an invalid IP address" the client uses as a marker), | HOST | NUL after the USERID.
import { FerryError } from '../../core/errors.js';
import type { Destination } from '../../core/session.js';
import { hostDestination, ipv4Text } from './address.js';
import { SOCKS4_MAX_FIELD, SOCKS4_REPLY_VERSION, SOCKS4_VERSION } from './constants.js';
import { parseIp } from '../../net/cidr.js';

export interface Request4 {
  length: number;
  cmd: number;
  dest: Destination;
  /** The USERID field, verbatim (never logged: with authentication it carries a password). */
  userId: string;
}

export function parseRequest4(b: Buffer, o: number): Request4 | null {
  const avail = b.length - o;
  if (avail < 1) return null;
  if (b[o] !== SOCKS4_VERSION) throw new FerryError('E_PROTOCOL', `request version ${b[o]}, expected 4`);
  if (avail < 8) return null;
  const userEnd = findNul(b, o + 8, 'USERID');
  if (userEnd < 0) return null;
  const port = b.readUInt16BE(o + 2);
  const userId = b.toString('utf8', o + 8, userEnd);
  const is4a = b[o + 4] === 0 && b[o + 5] === 0 && b[o + 6] === 0 && b[o + 7] !== 0;
  if (!is4a) {
    return {
      length: userEnd + 1 - o,
      cmd: b[o + 1]!,
      dest: { host: ipv4Text(b, o + 4), port, kind: 'ipv4' },
      userId,
    };
  }
  const hostEnd = findNul(b, userEnd + 1, 'host name');
  if (hostEnd < 0) return null;
  return {
    length: hostEnd + 1 - o,
    cmd: b[o + 1]!,
    dest: hostDestination(b, userEnd + 1, hostEnd, port),
    userId,
  };
}

/** Index of the NUL ending a field that starts at `start`; -1 when not yet received; throws when too long. */
function findNul(b: Buffer, start: number, what: string): number {
  const limit = Math.min(b.length, start + SOCKS4_MAX_FIELD + 1);
  for (let i = start; i < limit; i++) if (b[i] === 0) return i;
  if (b.length - start > SOCKS4_MAX_FIELD) {
    throw new FerryError('E_BAD_REQUEST', `SOCKS4 ${what} longer than ${SOCKS4_MAX_FIELD} bytes`);
  }
  return -1;
}

/** VN(0) | CD | DSTPORT | DSTIP. The address is 0.0.0.0 when absent or not IPv4. */
export function reply4(cd: number, host?: string, port?: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = SOCKS4_REPLY_VERSION;
  b[1] = cd;
  const ip = host ? parseIp(host) : null;
  if (ip && ip.length === 4) {
    b.writeUInt16BE((port ?? 0) & 0xffff, 2);
    b.set(ip, 4);
  }
  return b;
}

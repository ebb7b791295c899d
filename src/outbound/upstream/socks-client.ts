// The client side of SOCKS5 (RFC 1928, username/password per RFC 1929: CONNECT and UDP ASSOCIATE)
// and SOCKS4a (the SOCKS4 protocol document plus the 4A extension: DSTIP 0.0.0.x followed by the
// host name) CONNECT.
// Names are sent to the upstream as names ("remote DNS"), as the protocol intends.
import ipaddr from 'ipaddr.js';
import type { Duplex } from 'node:stream';
import { FerryError, type ErrorCode } from '../../core/errors.js';
import type { Destination } from '../../core/session.js';
import { exitFault } from './fault.js';
import { exchange, type ExchangeLimits } from './handshake-io.js';

type Lim = Omit<ExchangeLimits, 'maxBytes'>;

// RFC 1928 §3 methods, §4 commands and address types.
const VER5 = 0x05;
const M_NONE = 0x00;
const M_USERPASS = 0x02;
const M_NO_ACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;
const CMD_UDP_ASSOCIATE = 0x03;
const ATYP_V4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_V6 = 0x04;
// RFC 1929 §2: sub-negotiation version 1.
const UP_VER = 0x01;

export interface SocksCredentials {
  username: string;
  password: string;
}

function fixed(n: number): (b: Buffer) => number {
  return (b) => (b.length >= n ? n : 0);
}

export async function socks5Connect(
  sock: Duplex,
  dest: Destination,
  cred: SocksCredentials | null,
  lim: Lim,
): Promise<void> {
  await socks5Command(sock, CMD_CONNECT, dest, cred, lim);
}

/**
 * UDP ASSOCIATE (§7) on a fresh control connection. DST is all zeros — "If the client is not in
 * possession of the information at the time of the UDP ASSOCIATE, the client MUST use a port number
 * and address of all zeros" — since behind NAT or a chain we cannot know the address the relay will
 * see. Resolves with BND.ADDR/BND.PORT, the relay to send datagrams to; an all-zeros BND.ADDR (which
 * some servers send) means "the address you reached me on", left to the caller.
 */
export async function socks5UdpAssociate(
  sock: Duplex,
  cred: SocksCredentials | null,
  lim: Lim,
): Promise<Destination> {
  const reply = await socks5Command(sock, CMD_UDP_ASSOCIATE, ZERO_V4, cred, lim);
  const atyp = reply[3];
  if (atyp === ATYP_V4)
    return { host: [...reply.subarray(4, 8)].join('.'), port: reply.readUInt16BE(8), kind: 'ipv4' };
  if (atyp === ATYP_V6)
    return {
      host: ipaddr.fromByteArray([...reply.subarray(4, 20)]).toString(),
      port: reply.readUInt16BE(20),
      kind: 'ipv6',
    };
  throw exitFault(new FerryError('E_PROTOCOL', `${lim.what}: UDP relay address is not an IP address`));
}

const ZERO_V4: Destination = { host: '0.0.0.0', port: 0, kind: 'ipv4' };

/** Method negotiation, credentials, one request; resolves with the success reply. */
async function socks5Command(
  sock: Duplex,
  cmd: number,
  dest: Destination,
  cred: SocksCredentials | null,
  lim: Lim,
): Promise<Buffer> {
  const l = { ...lim, maxBytes: 512 };
  // §3: offer no-auth, and username/password when we have credentials.
  const greeting = cred ? Buffer.from([VER5, 2, M_NONE, M_USERPASS]) : Buffer.from([VER5, 1, M_NONE]);
  const choice = await exchange(sock, greeting, fixed(2), l);
  if (choice[0] !== VER5) throw exitFault(new FerryError('E_PROTOCOL', `${lim.what}: not a SOCKS5 server`));
  const method = choice[1]!;
  if (method === M_USERPASS && cred) {
    const u = Buffer.from(cred.username, 'utf8');
    const p = Buffer.from(cred.password, 'utf8');
    if (u.length < 1 || u.length > 255 || p.length < 1 || p.length > 255)
      throw exitFault(
        new FerryError('E_CONFIG', `${lim.what}: SOCKS5 username and password must be 1..255 bytes`),
      );
    const auth = Buffer.concat([Buffer.from([UP_VER, u.length]), u, Buffer.from([p.length]), p]);
    const status = await exchange(sock, auth, fixed(2), l);
    // §2: STATUS 0x00 is success; anything else and the server closes the connection.
    if (status[1] !== 0x00)
      throw exitFault(new FerryError('E_UPSTREAM_REFUSED', `${lim.what}: SOCKS5 credentials refused`));
  } else if (method === M_NO_ACCEPTABLE) {
    throw exitFault(
      new FerryError(
        'E_UPSTREAM_REFUSED',
        `${lim.what}: no acceptable SOCKS5 authentication method${cred ? '' : ' (does it need a username/password?)'}`,
      ),
    );
  } else if (method !== M_NONE) {
    throw exitFault(
      new FerryError(
        'E_PROTOCOL',
        `${lim.what}: chose SOCKS5 method 0x${method.toString(16)} we did not offer`,
      ),
    );
  }
  const reply = await exchange(sock, socks5Request(dest, cmd), frameSocks5Reply, l);
  const rep = reply[1]!;
  if (rep !== 0x00) throw socks5Error(rep, lim.what);
  return reply;
}

/** §4: VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function socks5Request(dest: Destination, cmd = CMD_CONNECT): Buffer {
  return Buffer.concat([Buffer.from([VER5, cmd, 0x00]), socks5Address(dest)]);
}

/**
 * ATYP DST.ADDR DST.PORT (§5), shared by requests and the UDP header (§7), which is RSV(2) FRAG
 * followed by the same fields: `socks5Address(dest, 3)` leaves the three leading bytes zero.
 */
export function socks5Address(dest: Destination, lead = 0): Buffer {
  let b: Buffer;
  let o: number;
  if (dest.kind === 'ipv4') {
    b = Buffer.alloc(lead + 7);
    b[lead] = ATYP_V4;
    const parts = dest.host.split('.');
    for (let i = 0; i < 4; i++) b[lead + 1 + i] = Number(parts[i]);
    o = lead + 5;
  } else if (dest.kind === 'ipv6') {
    b = Buffer.alloc(lead + 19);
    b[lead] = ATYP_V6;
    ipv6Bytes(dest.host).copy(b, lead + 1);
    o = lead + 17;
  } else {
    const name = Buffer.from(dest.host, 'latin1');
    if (name.length > 255) throw new FerryError('E_BAD_REQUEST', 'host name longer than 255 bytes');
    b = Buffer.alloc(lead + 4 + name.length);
    b[lead] = ATYP_DOMAIN;
    b[lead + 1] = name.length;
    name.copy(b, lead + 2);
    o = lead + 2 + name.length;
  }
  b.writeUInt16BE(dest.port, o);
  return b;
}

/** §6: VER REP RSV ATYP BND.ADDR BND.PORT, whose length depends on ATYP. */
export function frameSocks5Reply(b: Buffer): number {
  if (b.length < 5) return 0;
  if (b[0] !== VER5) throw exitFault(new FerryError('E_PROTOCOL', 'upstream: not a SOCKS5 reply'));
  const atyp = b[3];
  const addrLen = atyp === ATYP_V4 ? 4 : atyp === ATYP_V6 ? 16 : atyp === ATYP_DOMAIN ? 1 + b[4]! : -1;
  // Some servers send a failure reply with ATYP 0; accept the 10-byte form they mean.
  const n = addrLen < 0 ? (b[1] !== 0 ? 10 : -1) : 4 + addrLen + 2;
  if (n < 0)
    throw exitFault(new FerryError('E_PROTOCOL', `upstream: SOCKS5 reply with address type ${atyp}`));
  return b.length >= n ? n : 0;
}

/** §6 reply codes; only the ones that say "the exit is broken or misconfigured" are its fault. */
function socks5Error(rep: number, what: string): FerryError {
  const table: Record<number, [ErrorCode, string, boolean]> = {
    0x01: ['E_UPSTREAM_UNREACHABLE', 'general SOCKS server failure', false],
    0x02: ['E_POLICY_DENIED', 'connection not allowed by ruleset', false],
    0x03: ['E_UPSTREAM_UNREACHABLE', 'network unreachable', false],
    0x04: ['E_UPSTREAM_UNREACHABLE', 'host unreachable', false],
    0x05: ['E_UPSTREAM_REFUSED', 'connection refused', false],
    0x06: ['E_UPSTREAM_TIMEOUT', 'TTL expired', false],
    0x07: ['E_UNSUPPORTED', 'command not supported', true],
    0x08: ['E_UNSUPPORTED', 'address type not supported', true],
  };
  const [code, text, fault] = table[rep] ?? ['E_PROTOCOL', `unknown reply 0x${rep.toString(16)}`, true];
  const e = new FerryError(code, `${what}: SOCKS5 ${text}`);
  return fault ? exitFault(e) : e;
}

/**
 * SOCKS4a CONNECT: VN=4 CD=1 DSTPORT DSTIP USERID NUL, and for a name DSTIP=0.0.0.1 and the name
 * NUL-terminated after the user id. SOCKS4 has no password; Ferry's convention (and its SOCKS4
 * inbound's) is USERID "user:password".
 */
export async function socks4aConnect(
  sock: Duplex,
  dest: Destination,
  userId: string,
  lim: Lim,
): Promise<void> {
  const port = Buffer.from([0x04, 0x01, dest.port >> 8, dest.port & 0xff]);
  const uid = Buffer.from(userId + '\0', 'utf8');
  let req: Buffer;
  if (dest.kind === 'ipv4') {
    req = Buffer.concat([port, Buffer.from(dest.host.split('.').map(Number)), uid]);
  } else {
    // IPv6 literals go as names too: SOCKS4 has no IPv6 address field.
    req = Buffer.concat([port, Buffer.from([0, 0, 0, 1]), uid, Buffer.from(dest.host + '\0', 'latin1')]);
  }
  const reply = await exchange(sock, req, fixed(8), { ...lim, maxBytes: 64 });
  // Reply: VN=0, CD=90 granted; 91 rejected or failed; 92/93 identd problems.
  if (reply[0] !== 0x00 && reply[0] !== 0x04)
    throw exitFault(new FerryError('E_PROTOCOL', `${lim.what}: not a SOCKS4 reply`));
  const cd = reply[1]!;
  if (cd === 90) return;
  if (cd === 92 || cd === 93)
    throw exitFault(new FerryError('E_UPSTREAM_REFUSED', `${lim.what}: SOCKS4 identd check failed (${cd})`));
  throw new FerryError('E_UPSTREAM_REFUSED', `${lim.what}: SOCKS4 request rejected or failed`);
}

function ipv6Bytes(host: string): Buffer {
  if (!ipaddr.IPv6.isValid(host)) throw new FerryError('E_BAD_REQUEST', `'${host}' is not an IPv6 address`);
  return Buffer.from(ipaddr.IPv6.parse(host).toByteArray());
}

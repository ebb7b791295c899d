// DNS message bytes (RFC 1035 §4.1): the few fields a forwarder reads and writes, found by walking the
// message once with bounds checks instead of decoding every record into objects. Sans-IO: bytes in,
// bytes or facts out; every malformed input throws DnsWireError and nothing else.

/** RFC 1035 §4.1.1 header flags. */
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_AD = 0x0020; // RFC 4035 §3.2.3
export const FLAG_CD = 0x0010; // RFC 4035 §3.2.2

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

export const HEADER_LEN = 12;
const TYPE_SOA = 6;
const TYPE_OPT = 41; // RFC 6891 §6.1.1
/** RFC 6891 §6.1.2: the DO bit is the top bit of the OPT TTL field's low 16 bits. */
const EDNS_DO = 0x8000;
/** The payload size Ferry advertises upstream and to clients: the DNS Flag Day 2020 value, which avoids
 * IP fragmentation on common paths. */
export const EDNS_PAYLOAD = 1232;
/** RFC 1035 §4.2.1: without EDNS a UDP message is at most 512 bytes. */
export const CLASSIC_UDP_LIMIT = 512;

export class DnsWireError extends Error {}

function fail(what: string): never {
  throw new DnsWireError(what);
}

/** Offset just past the (possibly compressed) name starting at off. */
export function skipName(buf: Uint8Array, off: number): number {
  for (let labels = 0; labels < 128; labels++) {
    if (off >= buf.length) fail('name runs past the end');
    const len = buf[off]!;
    if (len === 0) return off + 1;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (off + 2 > buf.length) fail('pointer runs past the end');
      return off + 2; // RFC 1035 §4.1.4: a pointer ends the name
    }
    if (kind !== 0) fail('unknown label type'); // RFC 6891 §5: extended label types are obsolete
    off += 1 + len;
  }
  return fail('name has too many labels');
}

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

export type QueryProblem = 'drop' | 'formerr' | 'notimp' | 'badvers';

/** What a forwarder needs from a client's query. */
export interface ParsedQuery {
  id: number;
  flags: number;
  /** The question section (name, type, class) as sent, case preserved. */
  question: Uint8Array;
  qtype: number;
  qclass: number;
  /** The client's EDNS UDP payload size, or null when it sent no OPT record. */
  ednsSize: number | null;
  dnssecOk: boolean;
  /** Cache and coalescing key: the name lowercased (RFC 4343), type, class and the bits that change
   * the answer (RD, CD, DO). */
  key: string;
}

export type QueryResult =
  { ok: true; query: ParsedQuery } | { ok: false; problem: QueryProblem; id: number; query?: ParsedQuery };

/** Checks a client's message is a standard query with one question (RFC 1035 §4.1.2; RFC 9619 says
 * QDCOUNT must be 1) and extracts what the forwarder uses. */
export function parseQuery(buf: Uint8Array): QueryResult {
  // Shorter than a header, or a response: no reply at all, so a forged response can never start a
  // reply loop between two servers.
  if (buf.length < HEADER_LEN) return { ok: false, problem: 'drop', id: 0 };
  const id = readU16(buf, 0);
  const flags = readU16(buf, 2);
  if (flags & FLAG_QR) return { ok: false, problem: 'drop', id };
  if (((flags >>> 11) & 0xf) !== 0) return { ok: false, problem: 'notimp', id };
  const qd = readU16(buf, 4);
  const an = readU16(buf, 6);
  const ns = readU16(buf, 8);
  const ar = readU16(buf, 10);
  if (qd !== 1 || an !== 0 || ns !== 0) return { ok: false, problem: 'formerr', id };
  try {
    let off = HEADER_LEN;
    // The question name is the first name in the message, so a compression pointer in it has nothing
    // valid to point at.
    for (;;) {
      if (off >= buf.length) fail('question runs past the end');
      const len = buf[off]!;
      if (len === 0) break;
      if (len > 63) fail('bad question label');
      off += 1 + len;
    }
    off += 1;
    if (off - HEADER_LEN > 255) fail('name longer than 255 octets'); // RFC 1035 §2.3.4
    if (off + 4 > buf.length) fail('question runs past the end');
    const qtype = readU16(buf, off);
    const qclass = readU16(buf, off + 2);
    const qEnd = off + 4;
    let ednsSize: number | null = null;
    let dnssecOk = false;
    let badVersion = false;
    off = qEnd;
    for (let i = 0; i < ar; i++) {
      off = skipName(buf, off);
      if (off + 10 > buf.length) fail('record runs past the end');
      const type = readU16(buf, off);
      const rdlen = readU16(buf, off + 8);
      if (type === TYPE_OPT) {
        if (ednsSize !== null) fail('two OPT records'); // RFC 6891 §6.1.1
        ednsSize = Math.max(CLASSIC_UDP_LIMIT, readU16(buf, off + 2)); // RFC 6891 §6.2.5
        const ttl = readU32(buf, off + 4);
        dnssecOk = (ttl & EDNS_DO) !== 0;
        badVersion = ((ttl >>> 16) & 0xff) !== 0; // RFC 6891 §6.1.3: only version 0 exists
      }
      off += 10 + rdlen;
      if (off > buf.length) fail('record data runs past the end');
    }
    const question = buf.subarray(HEADER_LEN, qEnd);
    const key = `${lowerAscii(question)}|${flags & (FLAG_RD | FLAG_CD)}|${dnssecOk ? 1 : 0}`;
    const query: ParsedQuery = { id, flags, question, qtype, qclass, ednsSize, dnssecOk, key };
    if (badVersion) return { ok: false, problem: 'badvers', id, query };
    return { ok: true, query };
  } catch (e) {
    if (e instanceof DnsWireError) return { ok: false, problem: 'formerr', id };
    throw e;
  }
}

/** The bytes as a latin1 string with ASCII letters lowercased: names compare case-insensitively
 * (RFC 4343 §3) and the type/class bytes ride along unchanged. */
export function lowerAscii(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  return s;
}

/** The query Ferry sends upstream: a fresh header (the given ID; RD, CD and AD as the client set them),
 * the client's question, and Ferry's own OPT record. The client's EDNS options (client subnet, cookies,
 * padding) are not passed on, so upstreams learn nothing about who asked. */
export function buildUpstreamQuery(q: ParsedQuery, id: number): Uint8Array {
  const out = new Uint8Array(HEADER_LEN + q.question.length + 11);
  writeU16(out, 0, id);
  writeU16(out, 2, q.flags & (FLAG_RD | FLAG_CD | FLAG_AD));
  writeU16(out, 4, 1);
  writeU16(out, 10, 1);
  out.set(q.question, HEADER_LEN);
  writeOpt(out, HEADER_LEN + q.question.length, q.dnssecOk, 0);
  return out;
}

/** An OPT pseudo-record (RFC 6891 §6.1.2) with no options: root name, type, payload size, TTL field
 * holding the extended RCODE's upper bits, version 0 and DO, empty RDATA. */
function writeOpt(out: Uint8Array, off: number, dnssecOk: boolean, extendedRcodeHigh: number): void {
  out[off] = 0;
  writeU16(out, off + 1, TYPE_OPT);
  writeU16(out, off + 3, EDNS_PAYLOAD);
  writeU32(out, off + 5, ((extendedRcodeHigh & 0xff) << 24) | (dnssecOk ? EDNS_DO : 0));
  writeU16(out, off + 9, 0);
}

/** A header-only answer to a query: the question echoed when there is one, an OPT record when the
 * client used EDNS (RFC 6891 §7), and the given RCODE. With tc the answer says "retry over TCP". */
export function buildErrorResponse(q: ParsedQuery | null, id: number, rcode: number, tc = false): Uint8Array {
  const qLen = q ? q.question.length : 0;
  const opt = q !== null && q.ednsSize !== null;
  const out = new Uint8Array(HEADER_LEN + qLen + (opt ? 11 : 0));
  writeU16(out, 0, id);
  const rd = q ? q.flags & FLAG_RD : 0;
  writeU16(out, 2, FLAG_QR | rd | FLAG_RA | (tc ? FLAG_TC : 0) | (rcode & 0xf));
  writeU16(out, 4, q ? 1 : 0);
  if (q) out.set(q.question, HEADER_LEN);
  if (opt) {
    writeU16(out, 10, 1);
    writeOpt(out, HEADER_LEN + qLen, q.dnssecOk, rcode >>> 4);
  }
  return out;
}

/** RFC 6891 §9: extended RCODE 16 (BADVERS) is 0 in the header and 1 in the OPT record's upper bits. */
export const RCODE_BADVERS = 16;

/** What a forwarder needs from an upstream's response. */
export interface ScannedResponse {
  id: number;
  flags: number;
  rcode: number;
  answerCount: number;
  /** Offsets of the 32-bit TTL field of every record except OPT, so cached copies can count down. */
  ttlOffsets: number[];
  /** The smallest TTL in the answer section, or null when it is empty. */
  minAnswerTtl: number | null;
  /** RFC 2308 §5: the negative-caching TTL, min(SOA TTL, SOA MINIMUM), from an SOA in the authority
   * section; null when there is none. */
  negativeTtl: number | null;
  /** Byte range of the OPT record, or null when there is none. */
  opt: { start: number; end: number } | null;
}

export function scanResponse(buf: Uint8Array): ScannedResponse {
  if (buf.length < HEADER_LEN) fail('shorter than a header');
  const flags = readU16(buf, 2);
  if (!(flags & FLAG_QR)) fail('not a response');
  const counts = [readU16(buf, 6), readU16(buf, 8), readU16(buf, 10)] as const;
  let off = HEADER_LEN;
  for (let i = readU16(buf, 4); i > 0; i--) {
    off = skipName(buf, off) + 4;
    if (off > buf.length) fail('question runs past the end');
  }
  const ttlOffsets: number[] = [];
  let minAnswerTtl: number | null = null;
  let negativeTtl: number | null = null;
  let opt: ScannedResponse['opt'] = null;
  for (let section = 0; section < 3; section++) {
    for (let i = counts[section]!; i > 0; i--) {
      const start = off;
      off = skipName(buf, off);
      if (off + 10 > buf.length) fail('record runs past the end');
      const type = readU16(buf, off);
      // RFC 2181 §8: a TTL with the top bit set is treated as zero.
      const rawTtl = readU32(buf, off + 4);
      const ttl = rawTtl > 0x7fffffff ? 0 : rawTtl;
      const rdlen = readU16(buf, off + 8);
      const rdataEnd = off + 10 + rdlen;
      if (rdataEnd > buf.length) fail('record data runs past the end');
      if (type === TYPE_OPT) {
        if (section !== 2 || opt) fail('misplaced OPT record');
        opt = { start, end: rdataEnd };
      } else {
        ttlOffsets.push(off + 4);
        if (section === 0) minAnswerTtl = minAnswerTtl === null ? ttl : Math.min(minAnswerTtl, ttl);
        if (section === 1 && type === TYPE_SOA && rdlen >= 22) {
          const minimum = readU32(buf, rdataEnd - 4); // RFC 1035 §3.3.13: MINIMUM is the last field
          negativeTtl = Math.min(ttl, minimum > 0x7fffffff ? 0 : minimum);
        }
      }
      off = rdataEnd;
    }
  }
  return {
    id: readU16(buf, 0),
    flags,
    rcode: flags & 0xf,
    answerCount: counts[0],
    ttlOffsets,
    minAnswerTtl,
    negativeTtl,
    opt,
  };
}

/** True when the response's question section is the query's (RFC 5452 §9.1), names compared without
 * regard to case. */
export function questionMatches(response: Uint8Array, question: Uint8Array): boolean {
  if (readU16(response, 4) !== 1) return false;
  const end = HEADER_LEN + question.length;
  if (response.length < end) return false;
  for (let i = 0; i < question.length; i++) {
    let a = response[HEADER_LEN + i]!;
    let b = question[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

/** The first question section (name, type, class) of a well-formed message. */
export function firstQuestion(msg: Uint8Array): Uint8Array {
  const end = skipName(msg, HEADER_LEN) + 4;
  if (end > msg.length) fail('question runs past the end');
  return msg.subarray(HEADER_LEN, end);
}

/**
 * Turns an upstream or cached response into the answer for one client: a fresh copy with the client's
 * ID and the client's spelling of the question (which matters to clients that randomise the case of
 * names, draft-vixie-dnsext-dns0x20), without Ferry's OPT record when the client sent none (RFC 6891
 * §7), and — over UDP — cut to a TC answer when it exceeds what the client can receive (RFC 1035
 * §4.2.1, RFC 6891 §6.2.5), telling it to retry over TCP. `owned`: the response is the caller's own
 * copy (a cache hit), changed in place; otherwise (an upstream's, shared by coalesced queries) it is
 * copied first.
 */
export function adaptResponse(response: Uint8Array, q: ParsedQuery, udp: boolean, owned = false): Uint8Array {
  let out = owned ? response : Uint8Array.from(response);
  writeU16(out, 0, q.id);
  // Ferry offers recursion to its clients whatever the upstream said about itself (RFC 1035 §4.1.1 RA).
  writeU16(out, 2, readU16(out, 2) | FLAG_RA);
  out.set(q.question, HEADER_LEN);
  const scanned = scanResponse(out);
  if (scanned.opt) {
    if (q.ednsSize === null) {
      if (scanned.opt.end === out.length) {
        out = out.subarray(0, scanned.opt.start);
        writeU16(out, 10, readU16(out, 10) - 1);
      }
    } else {
      writeU16(out, scanned.opt.start + 3, EDNS_PAYLOAD);
    }
  }
  if (udp && out.length > (q.ednsSize ?? CLASSIC_UDP_LIMIT)) {
    return buildErrorResponse(q, q.id, scanned.rcode, true);
  }
  return out;
}

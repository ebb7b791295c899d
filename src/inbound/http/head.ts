// The HTTP/1.1 message head parser (RFC 9112 §2–§5), sans-IO: it gets the complete head as a latin1
// string (one char per byte, so field values survive byte for byte) ending in CRLF CRLF, and
// returns the start line, the field lines and a summary of the fields a proxy acts on.
//
// It is strict where leniency has been exploited (smuggling, header injection): single SP between
// start-line parts, no whitespace before the colon, no obs-fold, no bare CR or LF, no control bytes,
// consistent Content-Length. One pass of charCodeAt over the head, no regular expressions.
import { FerryError } from '../../core/errors.js';
import { CR, FIELD_BYTE, HTAB, LF, SP, TARGET_BYTE, TCHAR } from './chars.js';

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
/** Response body delimited by the origin closing the connection (RFC 9112 §6.3 rule 8). */
export const BODY_CLOSE = 3;
export type BodyKind = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED | typeof BODY_CLOSE;

export class Head {
  // Request line.
  method = '';
  target = '';
  // Status line: code, and the rest after "HTTP/1.x " ("200 OK").
  status = 0;
  statusRest = '';
  /** HTTP/1.minor; minor versions above 1 are treated as 1 (RFC 9110 §6.2). */
  minor = 1;
  /** Field lines, flat: [lower-case name, value (OWS trimmed), raw line with its CRLF, ...]. */
  readonly fields: string[] = [];
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Transfer-Encoding field lines combined into one list value, or null. */
  transferEncoding: string | null = null;
  /** Connection options, lower-case (RFC 9110 §7.6.1), or null when absent. */
  connection: string[] | null = null;
  /** The non-standard Proxy-Connection some clients send instead; only its keep-alive/close is honoured. */
  proxyConnection: string[] | null = null;
  upgrade: string | null = null;
  proxyAuthorization: string | null = null;
  hostCount = 0;
  // Body framing, filled in by framing.ts.
  bodyKind: BodyKind = BODY_NONE;
  bodyLength = 0;

  hasConnectionOption(opt: string): boolean {
    return this.connection !== null && this.connection.includes(opt);
  }
}

function bad(msg: string): FerryError {
  return new FerryError('E_BAD_REQUEST', msg);
}

/** Parses a request head; throws E_BAD_REQUEST. `s` must end with CRLF CRLF. */
export function parseRequestHead(s: string): Head {
  const h = new Head();
  // method SP request-target SP HTTP-version CRLF (RFC 9112 §3)
  let p = 0;
  while (TCHAR[s.charCodeAt(p)] === 1) p++;
  if (p === 0 || s.charCodeAt(p) !== SP) throw bad('malformed request line');
  h.method = s.slice(0, p);
  const t0 = ++p;
  while (TARGET_BYTE[s.charCodeAt(p)] === 1) p++;
  if (p === t0 || s.charCodeAt(p) !== SP) throw bad('malformed request target');
  h.target = s.slice(t0, p);
  p = parseVersion(s, p + 1, h);
  if (s.charCodeAt(p) !== CR || s.charCodeAt(p + 1) !== LF) throw bad('malformed request line');
  parseFields(s, p + 2, h);
  return h;
}

/** Parses a response head; throws E_BAD_REQUEST (callers re-code it as an upstream failure). */
export function parseResponseHead(s: string): Head {
  const h = new Head();
  // HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4)
  let p = parseVersion(s, 0, h);
  if (s.charCodeAt(p) !== SP) throw bad('malformed status line');
  const c0 = s.charCodeAt(p + 1) - 0x30;
  const c1 = s.charCodeAt(p + 2) - 0x30;
  const c2 = s.charCodeAt(p + 3) - 0x30;
  if (!(c0 >= 1 && c0 <= 9 && c1 >= 0 && c1 <= 9 && c2 >= 0 && c2 <= 9)) throw bad('malformed status code');
  h.status = c0 * 100 + c1 * 10 + c2;
  const restStart = p + 1;
  p += 4;
  // Some servers omit the SP before an empty reason phrase; accept that, it is unambiguous.
  if (s.charCodeAt(p) === SP) {
    p++;
    let c: number;
    while ((c = s.charCodeAt(p)) !== CR) {
      if (FIELD_BYTE[c] !== 1) throw bad('invalid character in reason phrase');
      p++;
    }
  }
  if (s.charCodeAt(p) !== CR || s.charCodeAt(p + 1) !== LF) throw bad('malformed status line');
  h.statusRest = s.slice(restStart, p);
  parseFields(s, p + 2, h);
  return h;
}

/** "HTTP/1.x" at p; returns the index after it. Only HTTP/1 is spoken on this connection. */
function parseVersion(s: string, p: number, h: Head): number {
  if (
    s.charCodeAt(p) !== 0x48 || // H
    s.charCodeAt(p + 1) !== 0x54 || // T
    s.charCodeAt(p + 2) !== 0x54 || // T
    s.charCodeAt(p + 3) !== 0x50 || // P
    s.charCodeAt(p + 4) !== 0x2f || // /
    s.charCodeAt(p + 5) !== 0x31 || // 1
    s.charCodeAt(p + 6) !== 0x2e // .
  ) {
    throw bad('unsupported or malformed HTTP version');
  }
  const minor = s.charCodeAt(p + 7) - 0x30;
  if (!(minor >= 0 && minor <= 9)) throw bad('malformed HTTP version');
  h.minor = minor === 0 ? 0 : 1;
  return p + 8;
}

/** field-line = field-name ":" OWS field-value OWS, each ending in CRLF (RFC 9112 §5). */
function parseFields(s: string, p: number, h: Head): void {
  const end = s.length - 2; // the CRLF of the empty line that ends the head
  const fields = h.fields;
  while (p < end) {
    const lineStart = p;
    let c = s.charCodeAt(p);
    // RFC 9112 §5.2: a server MUST reject obs-fold with 400 (or replace it); we reject.
    if (c === SP || c === HTAB) throw bad('obsolete line folding in header');
    while (TCHAR[(c = s.charCodeAt(p))] === 1) p++;
    if (p === lineStart) throw bad('invalid header field name');
    // RFC 9112 §5.1: whitespace between name and colon MUST be rejected with 400.
    if (c !== 0x3a)
      throw bad(c === SP || c === HTAB ? 'whitespace before colon in header' : 'invalid header field name');
    const name = s.slice(lineStart, p).toLowerCase();
    p++;
    while ((c = s.charCodeAt(p)) === SP || c === HTAB) p++;
    const vStart = p;
    let vEnd = p;
    // The head ends in CRLF CRLF, so this loop always meets a CR.
    while ((c = s.charCodeAt(p)) !== CR) {
      if (FIELD_BYTE[c] !== 1)
        throw bad(c === LF ? 'bare LF in header' : 'control character in header value');
      p++;
      if (c !== SP && c !== HTAB) vEnd = p;
    }
    if (s.charCodeAt(p + 1) !== LF) throw bad('bare CR in header');
    p += 2;
    const value = s.slice(vStart, vEnd);
    fields.push(name, value, s.slice(lineStart, p));
    noteField(h, name, value);
  }
  if (p !== end) throw bad('malformed header section');
}

/** Records the fields the proxy acts on. */
function noteField(h: Head, name: string, value: string): void {
  switch (name) {
    case 'content-length': {
      const n = parseContentLength(value);
      // RFC 9110 §8.6 / RFC 9112 §6.3: differing values are an unrecoverable framing error.
      if (n < 0) throw bad('invalid Content-Length');
      if (h.contentLength >= 0 && h.contentLength !== n) throw bad('conflicting Content-Length values');
      h.contentLength = n;
      return;
    }
    case 'transfer-encoding':
      h.transferEncoding = h.transferEncoding === null ? value : `${h.transferEncoding}, ${value}`;
      return;
    case 'connection':
      h.connection = appendTokens(h.connection, value);
      return;
    case 'proxy-connection':
      h.proxyConnection = appendTokens(h.proxyConnection, value);
      return;
    case 'upgrade':
      h.upgrade = h.upgrade === null ? value : `${h.upgrade}, ${value}`;
      return;
    case 'proxy-authorization':
      if (h.proxyAuthorization !== null) throw bad('more than one Proxy-Authorization header');
      h.proxyAuthorization = value;
      return;
    case 'host':
      h.hostCount++;
      return;
  }
}

/**
 * Content-Length = 1*DIGIT, possibly as a list of identical values ("5, 5") which RFC 9110 §8.6
 * lets a recipient accept. Returns -1 when invalid. At most 15 digits keeps it an exact integer.
 */
export function parseContentLength(v: string): number {
  let result = -1;
  let i = 0;
  const n = v.length;
  for (;;) {
    while (i < n && (v.charCodeAt(i) === SP || v.charCodeAt(i) === HTAB)) i++;
    const d0 = i;
    let cur = 0;
    let c = 0;
    while (i < n && (c = v.charCodeAt(i)) >= 0x30 && c <= 0x39) {
      cur = cur * 10 + (c - 0x30);
      i++;
    }
    if (i === d0 || i - d0 > 15) return -1;
    if (result >= 0 && result !== cur) return -1;
    result = cur;
    while (i < n && (v.charCodeAt(i) === SP || v.charCodeAt(i) === HTAB)) i++;
    if (i === n) return result;
    if (v.charCodeAt(i) !== 0x2c) return -1;
    i++;
  }
}

/** Splits a comma list of tokens (RFC 9110 §5.6.1) into lower-case elements, skipping empty ones. */
export function appendTokens(list: string[] | null, value: string): string[] {
  const out = list ?? [];
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value.charCodeAt(i) === 0x2c) {
      let a = start;
      let b = i;
      while (a < b && (value.charCodeAt(a) === SP || value.charCodeAt(a) === HTAB)) a++;
      while (b > a && (value.charCodeAt(b - 1) === SP || value.charCodeAt(b - 1) === HTAB)) b--;
      if (b > a) out.push(value.slice(a, b).toLowerCase());
      start = i + 1;
    }
  }
  return out;
}

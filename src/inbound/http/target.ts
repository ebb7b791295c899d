// Request targets a forward proxy accepts (RFC 9112 §3.2): absolute-form "http://host[:port]/path"
// for ordinary requests and authority-form "host:port" for CONNECT. Hosts are IP literals (IPv6 in
// brackets) or DNS names; anything else — userinfo, percent-encoded or empty hosts, zone ids — is
// refused here rather than handed to the resolver.
import { isIP } from 'node:net';
import { isValidDomain, makeDestination, type Destination } from '../../core/session.js';

export interface Target {
  dest: Destination;
  /** host[:port] exactly as the client wrote it in the URI (minus userinfo): the new Host header. */
  authority: string;
  /** origin-form for the origin server: absolute-path [ "?" query ]. */
  path: string;
}

/** Parses an absolute-form target; returns an error message string when it is not acceptable. */
export function parseAbsoluteForm(t: string): Target | string {
  const colon = t.indexOf(':');
  if (colon <= 0 || t.charCodeAt(colon + 1) !== 0x2f || t.charCodeAt(colon + 2) !== 0x2f) {
    return 'the request target is not an absolute URI';
  }
  const scheme = t.slice(0, colon).toLowerCase();
  // ws:// is what some WebSocket clients put in the request line to a proxy; it is HTTP underneath.
  if (scheme !== 'http' && scheme !== 'ws') {
    return scheme === 'https' || scheme === 'wss'
      ? `${scheme}:// URIs are not fetched by the proxy; use CONNECT (curl --proxytunnel)`
      : `unsupported URI scheme '${scheme}'`;
  }
  const aStart = colon + 3;
  let aEnd = aStart;
  for (; aEnd < t.length; aEnd++) {
    const c = t.charCodeAt(aEnd);
    if (c === 0x2f || c === 0x3f || c === 0x23) break; // / ? #
  }
  const authority = t.slice(aStart, aEnd);
  const hp = parseAuthority(authority, 80);
  if (typeof hp === 'string') return hp;
  // The fragment is never sent to a server (RFC 9110 §4.2.5).
  const hash = t.indexOf('#', aEnd);
  let path = hash < 0 ? t.slice(aEnd) : t.slice(aEnd, hash);
  if (path.length === 0) path = '/';
  else if (path.charCodeAt(0) === 0x3f) path = '/' + path;
  return { dest: hp, authority, path };
}

/**
 * host [":" port] with brackets around IPv6. `defaultPort` < 0 means the port is required
 * (CONNECT, RFC 9110 §9.3.6). Returns an error message string when invalid.
 */
export function parseAuthority(a: string, defaultPort: number): Destination | string {
  if (a.length === 0) return 'empty host';
  if (a.includes('@')) return 'userinfo in the request target is not allowed (RFC 9110 §4.2.4)';
  let host: string;
  let rest: string;
  if (a.charCodeAt(0) === 0x5b) {
    const close = a.indexOf(']');
    if (close < 0) return 'unterminated IPv6 literal';
    host = a.slice(1, close);
    if (isIP(host) !== 6) return `invalid IPv6 literal '${host}'`;
    rest = a.slice(close + 1);
    if (rest.length > 0 && rest.charCodeAt(0) !== 0x3a) return 'invalid authority';
  } else {
    const c = a.indexOf(':');
    host = c < 0 ? a : a.slice(0, c);
    rest = c < 0 ? '' : a.slice(c);
    if (isIP(host) !== 4 && !isValidDomain(host)) return `invalid host name '${host}'`;
  }
  let port = defaultPort;
  if (rest.length > 1) {
    const p = rest.slice(1);
    if (p.length > 5) return 'invalid port';
    port = 0;
    for (let i = 0; i < p.length; i++) {
      const d = p.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return 'invalid port';
      port = port * 10 + d;
    }
    if (port < 1 || port > 65535) return 'invalid port';
  } else if (port < 0) {
    return 'CONNECT needs host:port';
  }
  return makeDestination(host, port);
}

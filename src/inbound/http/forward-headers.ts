// Rewriting heads as they cross the proxy: hop-by-hop fields (RFC 9110 §7.6.1) are dropped — the
// ones the standard names plus every field the Connection header names — and the proxy adds its own
// connection management, Host (RFC 9112 §3.2.2) and, only when configured, Via / X-Forwarded-For.
// Each head becomes one string (raw field lines concatenated), written with a single write.
import type { Head } from './head.js';
import type { Target } from './target.js';

/**
 * Fields a Connection header may never remove: the message framing. A client that sends
 * "Connection: content-length" must not make the proxy forward a body the origin cannot frame.
 */
function protectedField(name: string): boolean {
  return name === 'content-length' || name === 'transfer-encoding' || name === 'host';
}

function namedByConnection(h: Head, name: string): boolean {
  return h.connection !== null && h.connection.includes(name) && !protectedField(name);
}

export interface RequestRewrite {
  /** Forward the client's Upgrade (WebSocket and friends) with "Connection: Upgrade". */
  upgrade: boolean;
  /** Add "Via: 1.x ferry" (RFC 9110 §7.6.3). */
  via: boolean;
  /** Client address to append to X-Forwarded-For, or null to leave the header as the client sent it. */
  forwardedFor: string | null;
  /**
   * The request goes to an HTTP upstream proxy rather than the origin: absolute-form request line
   * (RFC 9112 §3.2.2, the form a client sends a proxy) and the upstream's own Proxy-Authorization
   * (null: none). The client's credentials for this proxy are dropped either way.
   */
  upstreamProxy: { proxyAuthorization: string | null } | null;
}

/**
 * The head sent on: a request line in origin-form (to the origin) or absolute-form (to an upstream
 * proxy), Host from the URI, the end-to-end fields.
 */
export function originRequestHead(h: Head, t: Target, o: RequestRewrite): string {
  const up = o.upstreamProxy;
  let out =
    up === null
      ? `${h.method} ${t.path} HTTP/1.1\r\nHost: ${t.authority}\r\n`
      : `${h.method} http://${t.authority}${t.path} HTTP/1.1\r\nHost: ${t.authority}\r\n`;
  if (up !== null && up.proxyAuthorization !== null)
    out += `Proxy-Authorization: ${up.proxyAuthorization}\r\n`;
  let xff: string | null = null;
  const f = h.fields;
  for (let i = 0; i < f.length; i += 3) {
    const name = f[i]!;
    switch (name) {
      case 'host': // replaced by the URI's authority
      case 'connection':
      case 'proxy-connection':
      case 'keep-alive':
      case 'proxy-authorization': // credentials for this proxy, never for the origin
      case 'proxy-authenticate': // a response field; meaningless (and hop-by-hop) in a request
      case 'te':
      case 'upgrade':
        continue;
      case 'x-forwarded-for':
        if (o.forwardedFor !== null) {
          xff = xff === null ? f[i + 1]! : `${xff}, ${f[i + 1]!}`;
          continue;
        }
        break;
    }
    if (namedByConnection(h, name)) continue;
    out += f[i + 2]!;
  }
  if (o.upgrade) out += `Connection: Upgrade\r\nUpgrade: ${h.upgrade!}\r\n`;
  if (o.via) out += h.minor === 0 ? 'Via: 1.0 ferry\r\n' : 'Via: 1.1 ferry\r\n';
  if (o.forwardedFor !== null) {
    out += `X-Forwarded-For: ${xff === null ? o.forwardedFor : `${xff}, ${o.forwardedFor}`}\r\n`;
  }
  return out + '\r\n';
}

export const CONN_KEEP = 0;
/** Add "Connection: close": the proxy closes the client connection after this response. */
export const CONN_CLOSE = 1;
/** Add "Connection: keep-alive": an HTTP/1.0 client asked to keep the connection. */
export const CONN_KEEP_ALIVE_10 = 2;
/** A 101 switching to another protocol: keep Upgrade, add "Connection: Upgrade". */
export const CONN_UPGRADE = 3;
/** An interim 1xx: no connection management fields. */
export const CONN_INTERIM = 4;

/**
 * The head sent to the client. `dechunk` when the body is decoded for an HTTP/1.0 client (then the
 * transfer coding fields go); a response with both Transfer-Encoding and Content-Length loses the
 * Content-Length (RFC 9112 §6.3 rule 3: an intermediary MUST remove it before forwarding).
 */
export function clientResponseHead(h: Head, conn: number, dechunk: boolean, via: boolean): string {
  let out = `HTTP/1.1 ${h.statusRest}\r\n`;
  const f = h.fields;
  const hasTe = h.transferEncoding !== null;
  for (let i = 0; i < f.length; i += 3) {
    const name = f[i]!;
    switch (name) {
      case 'connection':
      case 'proxy-connection':
      case 'keep-alive':
        continue;
      case 'upgrade':
        if (conn !== CONN_UPGRADE) continue;
        break;
      case 'transfer-encoding':
      case 'trailer':
        if (dechunk) continue;
        break;
      case 'content-length':
        if (hasTe) continue;
        break;
    }
    if (namedByConnection(h, name) && !(conn === CONN_UPGRADE && name === 'upgrade')) continue;
    out += f[i + 2]!;
  }
  switch (conn) {
    case CONN_CLOSE:
      out += 'Connection: close\r\n';
      break;
    case CONN_KEEP_ALIVE_10:
      out += 'Connection: keep-alive\r\n';
      break;
    case CONN_UPGRADE:
      out += 'Connection: Upgrade\r\n';
      break;
  }
  if (via) out += h.minor === 0 ? 'Via: 1.0 ferry\r\n' : 'Via: 1.1 ferry\r\n';
  return out + '\r\n';
}

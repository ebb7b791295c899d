// The client side of an HTTP CONNECT tunnel (RFC 9110 §9.3.6) through an upstream proxy, with Basic
// proxy credentials (RFC 9110 §11.7.1, RFC 7617).
import type { Duplex } from 'node:stream';
import { FerryError } from '../../core/errors.js';
import { formatHostPort, type Destination } from '../../core/session.js';
import { exitFault } from './fault.js';
import { exchange, type ExchangeLimits } from './handshake-io.js';

/** A CONNECT reply head larger than this is not from a proxy we want to talk to. */
const MAX_REPLY_HEAD = 16 * 1024;

/** The Proxy-Authorization value for Basic credentials (user-id and password joined by ":", UTF-8). */
export function basicCredentials(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export function connectRequest(dest: Destination, proxyAuthorization: string | null): Buffer {
  // RFC 9110 §9.3.6: the request target is authority-form, host:port (IPv6 in brackets).
  const authority = formatHostPort(dest.host, dest.port);
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (proxyAuthorization !== null) head += `Proxy-Authorization: ${proxyAuthorization}\r\n`;
  return Buffer.from(head + '\r\n', 'latin1');
}

/** Length of a complete response head (through the empty line), or 0. */
export function frameResponseHead(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n', 0, 'latin1');
  if (i >= 0) return i + 4;
  const j = buf.indexOf('\n\n', 0, 'latin1'); // RFC 9112 §2.2: a bare LF may be accepted
  return j >= 0 ? j + 2 : 0;
}

/** Parses "HTTP/1.x NNN reason" and returns NNN. */
export function parseStatus(head: Buffer, what: string): number {
  const m = /^HTTP\/1\.[01] ([1-5][0-9][0-9])[ \r\n]/.exec(
    head.toString('latin1', 0, Math.min(head.length, 64)),
  );
  if (!m) throw exitFault(new FerryError('E_PROTOCOL', `${what}: not an HTTP response to CONNECT`));
  return Number(m[1]);
}

/** Establishes a CONNECT tunnel on `sock`; rejects with a FerryError on any non-2xx reply. */
export async function httpConnect(
  sock: Duplex,
  dest: Destination,
  proxyAuthorization: string | null,
  lim: Omit<ExchangeLimits, 'maxBytes'>,
): Promise<void> {
  const head = await exchange(sock, connectRequest(dest, proxyAuthorization), frameResponseHead, {
    ...lim,
    maxBytes: MAX_REPLY_HEAD,
  });
  const status = parseStatus(head, lim.what);
  // §9.3.6: any 2xx means the tunnel is up; the response has no content.
  if (status >= 200 && status < 300) return;
  throw connectError(status, dest, lim.what);
}

/** What a CONNECT refusal means, and whether it is the exit's fault (see fault.ts). */
function connectError(status: number, dest: Destination, what: string): FerryError {
  const to = `${what}: CONNECT ${formatHostPort(dest.host, dest.port)} answered ${status}`;
  switch (status) {
    case 407:
      return exitFault(
        new FerryError('E_UPSTREAM_REFUSED', `${to} (credentials refused; check username/password)`),
      );
    case 403:
      return new FerryError('E_POLICY_DENIED', `${to} (the upstream's policy refuses this destination)`);
    case 502:
    case 503:
      return new FerryError('E_UPSTREAM_UNREACHABLE', to);
    case 504:
      return new FerryError('E_UPSTREAM_TIMEOUT', to);
    default:
      return exitFault(new FerryError('E_UPSTREAM_REFUSED', to));
  }
}

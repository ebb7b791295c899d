// Responses the proxy writes itself: errors (with a stable code in X-Ferry-Error and the body
// "ferry: <code>: <message>"), the 407 challenge, and the CONNECT success line.
import type { FerryError } from '../../core/errors.js';

export const CONNECT_OK = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n', 'latin1');

const REASON: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The challenge (RFC 7617 §2; charset tells clients to send UTF-8 user names, §2.1). */
const CHALLENGE = 'Proxy-Authenticate: Basic realm="ferry", charset="UTF-8"\r\n';

export const REPLY_CLOSE = 0;
export const REPLY_KEEP = 1;
/** Keep-alive for an HTTP/1.0 client, which needs it said explicitly. */
export const REPLY_KEEP_10 = 2;

/**
 * A complete error response. `headOnly` for a HEAD request (Content-Length still describes the body
 * it would have had, RFC 9110 §9.3.2).
 */
export function errorReply(err: FerryError, conn: number, headOnly: boolean): Buffer {
  const status = err.httpStatus;
  const body = `ferry: ${err.code}: ${printable(err.message)}\n`;
  let head =
    `HTTP/1.1 ${status} ${REASON[status] ?? 'Error'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n` +
    `X-Ferry-Error: ${err.code}\r\nCache-Control: no-store\r\n`;
  if (status === 407) head += CHALLENGE;
  if (conn === REPLY_CLOSE) head += 'Connection: close\r\n';
  else if (conn === REPLY_KEEP_10) head += 'Connection: keep-alive\r\n';
  return Buffer.from(headOnly ? head + '\r\n' : `${head}\r\n${body}`, 'latin1');
}

/** Messages are ours, but may quote client input (a host name): keep them one line of ASCII. */
function printable(s: string): string {
  let out = '';
  for (let i = 0; i < s.length && i < 300; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? s[i] : '?';
  }
  return out;
}

// Small socket helpers shared by the handshake and the commands: final replies, closing politely, and
// the audit record for sessions that do not go through openTcp (BIND, UDP ASSOCIATE).
import type { Socket } from 'node:net';
import type { FerryError } from '../../core/errors.js';
import { REP_SUCCEEDED, SOCKS4_GRANTED, SOCKS4_REJECTED } from './constants.js';
import { reply4 } from './wire4.js';
import { reply5 } from './wire5.js';

export type SocksVersion = 4 | 5;

/** Shared listeners: no closure per connection. */
export function ignoreError(): void {}
export function discard(): void {}
function destroySocket(s: Socket): void {
  s.destroy();
}

/** After a final reply the peer gets this long to read it and close before we reset the connection. */
const LINGER_MS = 2000;

/**
 * Sends a last reply and closes: end() so the reply is delivered before our FIN, incoming bytes are
 * read and dropped (unread data would turn the close into a reset that can destroy the reply in
 * flight), and a timer destroys the socket if the client never closes its side.
 */
export function closeWith(socket: Socket, reply?: Buffer): void {
  if (socket.destroyed) return;
  socket.on('error', ignoreError);
  socket.on('data', discard);
  socket.resume();
  if (reply) socket.end(reply);
  else socket.end();
  const t = setTimeout(destroySocket, LINGER_MS, socket);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

export function successReply(v: SocksVersion, host: string | undefined, port: number | undefined): Buffer {
  return v === 5 ? reply5(REP_SUCCEEDED, host, port) : reply4(SOCKS4_GRANTED, host, port);
}

/** The reply for a refused request: RFC 1928 §6 code from the error; SOCKS4 has only "rejected". */
export function failureReply(v: SocksVersion, err: FerryError): Buffer {
  return v === 5 ? reply5(err.socks5Reply) : reply4(SOCKS4_REJECTED);
}

export function refuse(socket: Socket, v: SocksVersion, err: FerryError): void {
  closeWith(socket, failureReply(v, err));
}

// The audit record lives in dispatch.ts, shared with openTcp.
export { recordSession } from '../dispatch.js';

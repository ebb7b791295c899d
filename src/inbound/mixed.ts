// One port for HTTP and SOCKS: the first byte tells them apart. SOCKS4 requests start with 0x04 and
// SOCKS5 greetings with 0x05 (RFC 1928 §3); an HTTP request line starts with a method token, which is
// printable ASCII (RFC 9112 §3), so the two can never be confused.
import type { Socket } from 'node:net';
import { FerryError } from '../core/errors.js';
import type { InboundContext, InboundHandler } from './context.js';
import { logBadClient } from './dispatch.js';

export function createMixedHandler(
  ctx: InboundContext,
  http: InboundHandler,
  socks: InboundHandler,
): InboundHandler {
  return {
    close(): void {
      http.close?.();
      socks.close?.();
    },
    handle(socket: Socket, head?: Buffer): void {
      if (head && head.length > 0) return dispatch(socket, head);
      const timer = setTimeout(() => {
        logBadClient(ctx, new FerryError('E_TIMEOUT', 'no request within the handshake timeout'));
        socket.destroy();
      }, ctx.timeouts().handshakeMs);
      const onData = (chunk: Buffer): void => {
        clearTimeout(timer);
        socket.removeListener('close', onClose);
        socket.pause();
        dispatch(socket, chunk);
      };
      const onClose = (): void => {
        clearTimeout(timer);
        socket.removeListener('data', onData);
      };
      socket.once('data', onData);
      socket.once('close', onClose);
    },
  };

  function dispatch(socket: Socket, head: Buffer): void {
    const b = head[0];
    if (b === 0x04 || b === 0x05) socks.handle(socket, head);
    else http.handle(socket, head);
  }
}

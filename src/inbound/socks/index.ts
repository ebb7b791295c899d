// The SOCKS inbound: SOCKS5 (RFC 1928, with RFC 1929 username/password), SOCKS4 and SOCKS4a on one
// port. Layout: wire4.ts / wire5.ts / address.ts are the pure frame codecs; handshake.ts reads them
// incrementally from a socket; request.ts dispatches the request to connect.ts, bind.ts or
// udp-associate.ts.
//
// Authentication: with `auth` on, SOCKS5 clients must use username/password (method 0x02); SOCKS4 has
// no password field, so SOCKS4/4a clients put "user:password" in the USERID field (for curl:
// socks4a://user%3Apassword@host:port). Without `auth`, SOCKS5 offers only "no authentication" and
// the SOCKS4 USERID is ignored.
import type { Socket } from 'node:net';
import type { InboundContext, InboundHandler } from '../context.js';
import { Handshake } from './handshake.js';

export function createSocksHandler(ctx: InboundContext): InboundHandler {
  return {
    handle(socket: Socket, head?: Buffer): void {
      new Handshake(ctx, socket).start(head);
    },
  };
}

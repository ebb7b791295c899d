// CONNECT (RFC 1928 §4, SOCKS4 CD=1): route and dial through openTcp, reply with the outbound
// socket's local address (RFC 1928 §6: "BND.ADDR contains the associated IP address" — the address
// the server uses to reach the destination), then relay.
import type { Socket } from 'node:net';
import { asFerryError, FerryError } from '../../core/errors.js';
import type { Session } from '../../core/session.js';
import { relay } from '../../net/relay.js';
import type { InboundContext } from '../context.js';
import { logBadClient, openTcp, type OpenedTcp } from '../dispatch.js';
import { ignoreError, refuse, successReply } from './io.js';
import type { SocksRequest } from './request.js';

export async function runConnect(
  ctx: InboundContext,
  client: Socket,
  session: Session,
  req: SocksRequest,
): Promise<void> {
  if (session.dest.port === 0) {
    const err = new FerryError('E_BAD_REQUEST', 'CONNECT to port 0');
    logBadClient(ctx, err, `${session.source.address}:${session.source.port}`);
    refuse(client, req.version, err);
    return;
  }
  // A client that hangs up while we dial cancels the dial.
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  client.once('close', abort);
  let opened: OpenedTcp;
  try {
    opened = await openTcp(ctx, session, ac.signal, { forRelay: true });
  } catch (err) {
    refuse(client, req.version, asFerryError(err)); // openTcp has logged it
    return;
  } finally {
    client.removeListener('close', abort);
  }
  if (client.destroyed) {
    opened.socket.destroy();
    opened.done({ reason: 'aborted' });
    return;
  }
  const out = opened.socket;
  client.write(successReply(req.version, out.localAddress, out.localPort));
  const early = req.leftover;
  req.leftover = null;
  if (early) out.write(early);
  startRelay(ctx, client, opened, early ? early.length : 0);
}

/** Kept apart from runConnect so the relay's lifetime holds only what it needs. */
function startRelay(ctx: InboundContext, client: Socket, opened: OpenedTcp, early: number): void {
  client.removeListener('error', ignoreError);
  const meter = opened.lease.meter;
  if (early > 0) meter.up(early);
  relay(client, opened.socket, { idleTimeoutMs: ctx.timeouts().idleMs, meter }).then(
    (r) => {
      r.up += early;
      opened.done(r);
    },
    () => opened.done({ reason: 'error' }),
  );
}

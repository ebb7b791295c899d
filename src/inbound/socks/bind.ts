// BIND (RFC 1928 §4, SOCKS4 CD=2): for protocols where the server connects back to the client, such
// as active-mode FTP. We listen on an address of this host (port 0), send a first reply with that
// address and port, wait for the expected peer to connect, send a second reply with the peer's
// address and port, then relay.
//
// The listening socket is on the outbound side of the gateway, so only the direct outbound can serve
// it; a session routed to any other outbound is refused with "command not supported".
import { createSocket } from 'node:dgram';
import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { asFerryError, FerryError } from '../../core/errors.js';
import type { Session } from '../../core/session.js';
import { relay } from '../../net/relay.js';
import { resolveAllowed } from '../../outbound/resolve.js';
import type { AddressGuard } from '../../router/address-guard.js';
import type { InboundContext } from '../context.js';
import { logDenied } from '../dispatch.js';
import { isUnspecified, normalizeIp } from './address.js';
import { ignoreError, recordSession, refuse, successReply, type SocksVersion } from './io.js';
import type { SocksRequest } from './request.js';

export async function runBind(
  ctx: InboundContext,
  client: Socket,
  session: Session,
  req: SocksRequest,
): Promise<void> {
  const v = req.version;
  let release: (() => void) | null = null;
  let server: Server | null = null;
  let guard: AddressGuard;
  let outboundName: string;
  let expected: string[];
  try {
    const decision = ctx.router().decide(session);
    guard = decision.guard;
    outboundName = decision.outbound.name;
    if (decision.outbound.kind !== 'direct') {
      throw new FerryError(
        'E_UNSUPPORTED',
        `BIND needs a direct outbound; '${outboundName}' is ${decision.outbound.kind}`,
      );
    }
    if (session.user !== null)
      release = ctx.tracker.acquireUser(session.user, ctx.limits().maxConnectionsPerUser);
    expected = await expectedPeers(session, guard);
    server = await listen(await listenAddress(client, expected, v));
  } catch (err) {
    release?.();
    server?.close();
    const fe = asFerryError(err);
    logDenied(ctx, session, fe);
    refuse(client, v, fe);
    return;
  }
  const started = Date.now();
  const addr = server.address() as AddressInfo;
  if (client.destroyed) {
    server.close();
    release?.();
    return;
  }
  client.write(successReply(v, addr.address, addr.port));

  const peer = await acceptPeer(server, client, expected, guard, ctx.timeouts().connectMs);
  server.close();
  if (peer === null || peer instanceof FerryError) {
    release?.();
    if (peer instanceof FerryError) {
      logDenied(ctx, session, peer);
      refuse(client, v, peer);
    }
    recordSession(ctx, session, outboundName, started, { reason: peer ? 'error' : 'aborted' });
    return;
  }
  client.write(successReply(v, peer.remoteAddress, peer.remotePort));
  const early = req.leftover;
  req.leftover = null;
  if (early) peer.write(early);
  startRelay(ctx, client, peer, session, outboundName, started, release, early ? early.length : 0);
}

function startRelay(
  ctx: InboundContext,
  client: Socket,
  peer: Socket,
  session: Session,
  outbound: string,
  started: number,
  release: (() => void) | null,
  early: number,
): void {
  client.removeListener('error', ignoreError);
  peer.removeListener('error', ignoreError);
  relay(client, peer, { idleTimeoutMs: ctx.timeouts().idleMs }).then((r) => {
    release?.();
    r.up += early;
    recordSession(ctx, session, outbound, started, r);
  }, release ?? ignoreError);
}

/**
 * The addresses the peer may connect from. DST.ADDR names "the address and port that the client
 * expects to use to connect" — the peer. Only that address is accepted (the port is not checked:
 * servers connect back from ports of their choosing, e.g. FTP from 20 or an ephemeral port), because
 * the listening port is visible to anyone who can reach this host: without the check, any host could
 * connect first and take over the client's session. A host name is resolved here, through the same
 * guard as any destination. An unspecified address (0.0.0.0 or ::) means the client does not know;
 * any peer is then accepted, still subject to the guard.
 */
async function expectedPeers(session: Session, guard: AddressGuard): Promise<string[]> {
  const d = session.dest;
  if (d.kind !== 'domain') {
    if (isUnspecified(d.host)) return [];
    const why = guard.check(d.host);
    if (why) throw new FerryError('E_DEST_FORBIDDEN', `expected peer refused: ${why}`);
    return [normalizeIp(d.host)];
  }
  return (await resolveAllowed(d, guard)).map((a) => a.address);
}

/**
 * Where to listen: the source address this host would use toward the expected peer (what the peer can
 * reach), found by "connecting" a UDP socket — which sends nothing. Without an expected peer, the
 * address the client connected to. SOCKS4 replies carry IPv4 only.
 */
async function listenAddress(client: Socket, expected: string[], v: SocksVersion): Promise<string> {
  const candidates = v === 4 ? expected.filter((a) => isIP(a) === 4) : expected;
  let local = candidates.length > 0 ? await sourceAddressToward(candidates[0]!) : null;
  local ??= normalizeIp(client.localAddress);
  if (v === 4 && isIP(local) !== 4)
    throw new FerryError('E_UNSUPPORTED', 'SOCKS4 BIND needs an IPv4 address');
  return local;
}

function sourceAddressToward(ip: string): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createSocket(isIP(ip) === 6 ? 'udp6' : 'udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    // Port 9 (discard) is arbitrary: connect() on UDP only selects the route and source address.
    s.connect(9, ip, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Paused until relayed, so nothing the peer sends first is lost.
    const server = createServer({ pauseOnConnect: true, noDelay: true });
    server.once('error', (err) =>
      reject(new FerryError('E_UPSTREAM_UNREACHABLE', `cannot listen on ${host}: ${err.message}`)),
    );
    server.listen({ host, port: 0, backlog: 8 }, () => resolve(server));
  });
}

/** Resolves with the expected peer, a FerryError (timeout, listener failure), or null if the client left. */
function acceptPeer(
  server: Server,
  client: Socket,
  expected: string[],
  guard: AddressGuard,
  timeoutMs: number,
): Promise<Socket | FerryError | null> {
  return new Promise((resolve) => {
    const onConnection = (s: Socket): void => {
      s.on('error', ignoreError);
      const from = normalizeIp(s.remoteAddress);
      if ((expected.length > 0 && !expected.includes(from)) || guard.check(from) !== null) {
        s.destroy(); // not the peer the client announced: keep waiting for the right one
        return;
      }
      finish(s);
    };
    const onError = (err: Error): void =>
      finish(new FerryError('E_UPSTREAM_UNREACHABLE', `BIND listener failed: ${err.message}`));
    const onClientClose = (): void => finish(null);
    const timer = setTimeout(
      () =>
        finish(
          new FerryError('E_UPSTREAM_TIMEOUT', `no connection from the expected peer within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    function finish(r: Socket | FerryError | null): void {
      clearTimeout(timer);
      server.removeListener('connection', onConnection);
      server.removeListener('error', onError);
      client.removeListener('close', onClientClose);
      resolve(r);
    }
    server.on('connection', onConnection);
    server.on('error', onError);
    client.once('close', onClientClose);
  });
}

// One Shadowsocks TCP connection on the server: read the request (salt, [EIH], header), route it,
// dial, then relay through a SecureStream with the shared relay(), like every other inbound.
//
// Probing resistance (SIP022 §3.1.3, and the same for AEAD): whatever is wrong with the first flight
// — too short, wrong key, bad header, stale timestamp, replayed salt — the server neither answers nor
// closes at a byte count a prober could measure. It keeps reading and discarding until the handshake
// timeout (or until the client gives up), then closes.
import type { Socket } from 'node:net';
import { asFerryError } from '../../core/errors.js';
import { newSessionId, type Session } from '../../core/session.js';
import type { ServerKeyTable } from '../../crypto/ss/keys.js';
import type { SaltAuthority, SaltFilter } from '../../crypto/ss/replay.js';
import { SecureStream, type WireCodec } from '../../crypto/ss/secure-stream.js';
import { RequestParser, ServerStreamCodec } from '../../crypto/ss/tcp-server.js';
import { relay } from '../../net/relay.js';
import type { InboundContext } from '../context.js';
import { openTcp, type OpenedTcp } from '../dispatch.js';

export interface TcpDeps {
  ctx: InboundContext;
  table: () => ServerKeyTable;
  salts: (table: ServerKeyTable) => SaltFilter;
  /** Cluster-wide salt claims (ferry serve --workers N); absent in a single process. */
  authority?: SaltAuthority;
  now?: () => number;
}

export function handleTcp(deps: TcpDeps, socket: Socket): void {
  const table = deps.table();
  const parser = new RequestParser(table, deps.salts(table), deps.now);
  const timeoutMs = deps.ctx.timeouts().handshakeMs;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.on('error', noop);
  socket.once('close', () => clearTimeout(timer));

  const onData = (d: Buffer): void => {
    const status = parser.feed(d);
    if (status === 'more') return;
    socket.removeListener('data', onData);
    if (status === 'fail') {
      deps.ctx.log.debug(
        { inbound: deps.ctx.name, reason: parser.reason },
        'shadowsocks: bad request, draining',
      );
      drain(socket);
      return;
    }
    socket.pause();
    if (!deps.authority) {
      clearTimeout(timer);
      void connect(deps, socket, parser, table, null);
      return;
    }
    // Claimed cluster-wide while the destination is dialled, so the answer costs no latency; the
    // handshake timer runs on until the claim holds, and a refused claim is handled like a local
    // replay (drained until that timer fires).
    const claim = deps.authority
      .claim(deps.ctx.name, table.method.edition, parser.requestSalt!)
      .catch(() => false)
      .then((fresh) => {
        if (fresh) clearTimeout(timer);
        else
          deps.ctx.log.debug(
            { inbound: deps.ctx.name, reason: 'salt replayed on another worker' },
            'shadowsocks: bad request, draining',
          );
        return fresh;
      });
    void connect(deps, socket, parser, table, claim);
  };
  socket.on('data', onData);
}

/** Reads and discards until the handshake timer destroys the socket; answers a FIN with a FIN. */
function drain(socket: Socket): void {
  socket.on('data', noop);
  socket.once('end', () => socket.end());
  socket.resume();
}

async function connect(
  deps: TcpDeps,
  socket: Socket,
  parser: RequestParser,
  table: ServerKeyTable,
  claim: Promise<boolean> | null,
): Promise<void> {
  const { ctx } = deps;
  const session: Session = {
    id: newSessionId(),
    inbound: ctx.name,
    user: parser.userKey!.user,
    source: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    dest: parser.dest!,
    command: 'connect',
  };
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  socket.once('close', abort);
  let replayed = false;
  void claim?.then((fresh) => {
    if (!fresh) {
      replayed = true;
      ac.abort();
    }
  });
  let opened: OpenedTcp;
  try {
    opened = await openTcp(ctx, session, ac.signal, { forRelay: true });
    // Nothing of the request reaches the destination before the salt is known to be new.
    if (claim && !(await claim)) replayed = true;
  } catch (err) {
    // Shadowsocks has no error reply: the client sees the connection close (openTcp logged why).
    void asFerryError(err);
    if (replayed) drain(socket);
    else socket.destroy();
    return;
  } finally {
    socket.removeListener('close', abort);
  }
  if (replayed || socket.destroyed) {
    opened.socket.destroy();
    opened.done({ reason: 'aborted' });
    if (replayed && !socket.destroyed) drain(socket);
    return;
  }
  const opener = parser.opener!;
  const response = new ServerStreamCodec(table.method, parser.userKey!.key, parser.requestSalt!, deps.now);
  const secure = new SecureStream(socket, (sink) => {
    opener.sink = sink;
    opener.batch = true;
    const codec: WireCodec = {
      encode: (d) => response.encode(d),
      flush: () => response.flush(),
      recycle: (w) => response.recycle(w),
      decode: (d, dst) => opener.push(d, dst ?? null),
      get failure() {
        return opener.failure;
      },
    };
    return codec;
  });
  const meter = opened.lease.meter;
  let early = 0;
  for (const p of parser.initial) {
    early += p.length;
    opened.socket.write(p);
  }
  if (early > 0) meter.up(early);
  // Usage and rate limits (the tier's meter) apply to the plaintext, as on every other inbound.
  relay(secure as unknown as Socket, opened.socket, { idleTimeoutMs: ctx.timeouts().idleMs, meter }).then(
    (r) => {
      r.up += early;
      opened.done(r);
    },
    () => opened.done({ reason: 'error' }),
  );
}

function noop(): void {}

// One client connection of the HTTP proxy: reads request heads, routes and authorizes each request,
// forwards it on a pooled or new origin connection, and streams the response back — then waits for
// the next request (keep-alive) or switches to a raw tunnel (CONNECT, 101 Switching Protocols).
//
// Bodies are never buffered or re-encoded (except de-chunking for HTTP/1.0 clients): after a head,
// bytes go socket to socket with backpressure, and framing is tracked with a counter
// (Content-Length) or the chunked scanner. Listeners are attached once per socket and all state
// lives in fields, so a request costs no closures and few allocations.
import type { Socket } from 'node:net';
import { asFerryError, FerryError } from '../../core/errors.js';
import { newSessionId, type Session } from '../../core/session.js';
import type { Decision } from '../../router/router.js';
import type { InboundContext } from '../context.js';
import {
  beginSession,
  continueSession,
  logBadClient,
  logDenied,
  openTcp,
  type ContinuableLease,
  type OpenedTcp,
} from '../dispatch.js';
import { ChunkedScanner, type ChunkSink } from './chunked.js';
import {
  clientResponseHead,
  CONN_CLOSE,
  CONN_INTERIM,
  CONN_KEEP,
  CONN_KEEP_ALIVE_10,
  CONN_UPGRADE,
  originRequestHead,
} from './forward-headers.js';
import { frameRequest, frameResponse } from './framing.js';
import {
  BODY_CHUNKED,
  BODY_CLOSE,
  BODY_LENGTH,
  BODY_NONE,
  parseRequestHead,
  parseResponseHead,
  type Head,
} from './head.js';
import { OriginConn, poolKey, proxyPoolKey, type OriginOwner, type OriginPool } from './origin-pool.js';
import { applyLoginParams } from '../../auth/username-params.js';
import { reuseKey, type HttpProxyForwarding } from '../../outbound/outbound.js';
import { parseBasic } from './proxy-auth.js';
import { CONNECT_OK, errorReply, REPLY_CLOSE, REPLY_KEEP, REPLY_KEEP_10 } from './replies.js';
import { parseAbsoluteForm, parseAuthority, type Target } from './target.js';
import { startTunnel } from './tunnel.js';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const LFLF = Buffer.from('\n\n', 'latin1');

// Client connection states.
const S_HEAD = 0; // reading a request head (or idle between requests)
const S_ROUTE = 1; // head read; authenticating / dialing
const S_BODY = 2; // forwarding the request body
const S_WAIT = 3; // request forwarded; the response is still coming
const S_TUNNEL = 4; // handed to relay()
const S_CLOSED = 5; // closing or closed; input is ignored

// Response states.
const R_IDLE = 0;
const R_HEAD = 1;
const R_BODY = 2;

/** Response heads may carry large cookies; never accept less than this from an origin. */
const MIN_RESPONSE_HEAD = 64 * 1024;
/** A first body part up to this size is copied behind the head so both go out in one write. */
const COALESCE_MAX = 16 * 1024;
/** Bytes queued for the client beyond which the origin is paused. */
const WRITE_BACKLOG = 256 * 1024;
/** Requests with a body only go on pooled connections idle for less than this (see take()). */
const BODY_REUSE_MAX_IDLE_MS = 2000;
/** How long a closing connection may keep us reading after our final response (lingering close). */
const LINGER_MS = 2000;

export interface HandlerShared {
  ctx: InboundContext;
  pool: OriginPool;
  /** Pool idle limit, for requests without a body. */
  poolIdleMs: () => number;
}

export class ClientConn implements OriginOwner, ChunkSink {
  private readonly ctx: InboundContext;
  private state = S_HEAD;
  /** Client bytes read but not consumed yet (a partial head, or what follows a head). */
  private pending: Buffer | null = null;
  private scanFrom = 0;
  private readonly headTimer: NodeJS.Timeout;
  /** The handshake deadline applies (a request head has begun and is not complete). */
  private headActive = true;
  private readonly srcAddr: string;
  private readonly srcPort: number;
  private clientPaused = false;
  /** Reading is paused by the user's rate limit (tier), independently of backpressure. */
  private clientRateWait = false;
  private originRateWait = false;

  // ---- the current exchange ----
  private req: Head | null = null;
  private target: Target | null = null;
  private session: Session | null = null;
  /**
   * The Proxy-Authorization value this connection last authenticated, with the login it gave and
   * the authenticator's user-set generation at the time. Keep-alive clients resend the same header
   * with every request; while the user set is unchanged it needs no second check (the check costs
   * an HMAC and a promise per request).
   */
  private authHeader: string | null = null;
  private authLogin = '';
  private authGeneration = -1;
  /**
   * The session of the current exchange; between exchanges, the one the last exchange held, kept
   * for the next request if that goes to the same destination and exit (ContinuableLease).
   */
  private record: ContinuableLease | null = null;
  private origin: OriginConn | null = null;
  /**
   * The exchange goes to an HTTP upstream proxy in absolute-form (Outbound.httpProxy): before the
   * dial, what was asked for; after it, what the outbound actually did for the exit it used.
   */
  private upstream: HttpProxyForwarding | null = null;
  private dialAbort: AbortController | null = null;
  private closeAfter = false;
  private reqRemaining = 0;
  private readonly reqChunks: ChunkedScanner;
  private reqDone = false;
  private resState = R_IDLE;
  private resBuf: Buffer | null = null;
  private resScanFrom = 0;
  private resKind = BODY_NONE;
  private resRemaining = 0;
  private readonly resChunks: ChunkedScanner;
  private dechunk = false;
  /** Bytes of the final response were written to the client (an error can no longer be sent). */
  private resStarted = false;
  private originReusable = false;
  /** The response head waiting to go out with the first body bytes. */
  private headOut: string | null = null;
  private up = 0;
  private down = 0;
  private retried = false;

  constructor(
    private readonly client: Socket,
    private readonly shared: HandlerShared,
    head: Buffer | undefined,
  ) {
    const ctx = (this.ctx = shared.ctx);
    this.srcAddr = client.remoteAddress ?? '';
    this.srcPort = client.remotePort ?? 0;
    const maxHead = ctx.limits().maxHeaderBytes;
    this.reqChunks = new ChunkedScanner(maxHead, 'E_BAD_REQUEST');
    this.resChunks = new ChunkedScanner(Math.max(maxHead, MIN_RESPONSE_HEAD), 'E_UPSTREAM_RESET');
    // We decide when our side ends: a client may half-close after its request and still read the
    // response (and a tunnel forwards half-closes).
    client.allowHalfOpen = true;
    client.setNoDelay(true);
    client.on('data', this.onData);
    client.on('end', this.onEnd);
    client.on('close', this.onClose);
    client.on('drain', this.onDrain);
    client.on('timeout', this.onTimeout);
    client.on('error', noop); // 'close' follows; the socket is gone either way
    const t = ctx.timeouts();
    if (t.idleMs > 0) client.setTimeout(t.idleMs);
    // The deadline for a request head runs from accept and is not extended by activity, so a
    // client trickling header bytes (slowloris) is cut off. One timer per connection, refreshed.
    this.headTimer = setTimeout(this.onHeadTimeout, t.handshakeMs);
    this.headTimer.unref();
    // A sniffer (the mixed inbound) may hand the socket over paused; a 'data' listener alone
    // does not restart a stream that was paused explicitly.
    client.resume();
    if (head !== undefined && head.length > 0) this.onData(head);
  }

  // =============================================================== client socket events

  private readonly onData = (chunk: Buffer): void => {
    switch (this.state) {
      case S_HEAD:
        if (this.pending === null) {
          if (!this.headActive) {
            this.headActive = true;
            this.headTimer.refresh();
          }
          this.pending = chunk;
          this.scanFrom = 0;
        } else {
          this.pending = Buffer.concat([this.pending, chunk]);
        }
        this.readHead();
        return;
      case S_BODY:
        this.forwardRequestBody(chunk);
        return;
      case S_ROUTE:
      case S_WAIT:
        this.stash(chunk);
        return;
      default:
        return; // closing: ignore
    }
  };

  private readonly onEnd = (): void => {
    // Between requests a FIN is a normal goodbye. During an exchange it is taken as an abort, as
    // Squid (half_closed_clients off) and nginx do: a client that is gone cannot be told apart from
    // one that half-closed, and an abandoned exchange must not hold an origin connection.
    if (this.state === S_HEAD && this.pending === null) this.closeClient();
    else if (this.state !== S_TUNNEL) this.client.destroy(); // 'close' cleans up the exchange
  };

  private readonly onClose = (): void => {
    if (this.state === S_TUNNEL) return;
    this.state = S_CLOSED;
    clearTimeout(this.headTimer);
    this.dialAbort?.abort();
    this.dialAbort = null;
    const o = this.origin;
    if (o !== null) {
      this.origin = null;
      o.destroy();
    }
    this.endRecord('closed');
  };

  private readonly onDrain = (): void => {
    if (!this.originRateWait) this.origin?.resume();
  };

  /** The session's lease was revoked (quota spent, user disabled, killed by an operator). */
  private readonly onKilled = (): void => {
    this.client.destroy();
    // Stop reading the origin now, not at the client's 'close' event: libuv reads a readable socket
    // many times per loop turn, and bytes read after a quota ran out would still be counted.
    this.origin?.destroy();
  };

  private readonly onClientRateDone = (): void => {
    this.clientRateWait = false;
    if (!this.clientPaused && this.state !== S_CLOSED) this.client.resume();
  };

  private readonly onOriginRateDone = (): void => {
    this.originRateWait = false;
    if (this.client.writableLength <= WRITE_BACKLOG) this.origin?.resume();
  };

  /** Takes the lease of the current exchange; its meter may revoke it. */
  private setRecord(r: ContinuableLease): void {
    this.record = r;
    r.meter.signal?.addEventListener('abort', this.onKilled, { once: true });
  }

  /** Counts client→destination bytes; the tier's rate limit may pause reading the client. */
  private meterUp(n: number): void {
    const wait = this.record?.meter.up(n) ?? 0;
    if (wait > 0) {
      this.clientRateWait = true;
      this.client.pause();
      setTimeout(this.onClientRateDone, wait);
    }
  }

  /** Counts destination→client bytes; the tier's rate limit may pause reading the origin. */
  private meterDown(n: number): void {
    const wait = this.record?.meter.down(n) ?? 0;
    if (wait > 0 && this.origin !== null) {
      this.originRateWait = true;
      this.origin.pause();
      setTimeout(this.onOriginRateDone, wait);
    }
  }

  private readonly onTimeout = (): void => {
    // Idle keep-alive connection, or one we are closing: done. During an exchange the origin side's
    // timer judges (a slow origin is not the client's fault).
    if (this.state === S_CLOSED || (this.state === S_HEAD && this.pending === null)) this.client.destroy();
  };

  private readonly onHeadTimeout = (): void => {
    if (this.state !== S_HEAD || !this.headActive) return;
    const err = new FerryError('E_TIMEOUT', 'the request head did not arrive within timeouts.handshake');
    logBadClient(this.ctx, err, this.srcAddr);
    // Answer only a client that has started a request; a silent one just gets closed.
    if (this.pending !== null) this.replyAndClose(err);
    else this.client.destroy();
  };

  // =============================================================== request head

  private readHead(): void {
    let buf = this.pending!;
    // RFC 9112 §2.2: ignore empty lines before a request-line (sent by some clients after a body).
    let skip = 0;
    while (skip + 1 < buf.length && buf[skip] === 0x0d && buf[skip + 1] === 0x0a) skip += 2;
    if (skip > 0) {
      buf = buf.subarray(skip);
      this.scanFrom = 0;
      if (buf.length === 0) {
        this.pending = null;
        return;
      }
      this.pending = buf;
    }
    const max = this.ctx.limits().maxHeaderBytes;
    const idx = buf.indexOf(CRLFCRLF, this.scanFrom);
    if (idx < 0) {
      if (buf.length > max)
        return this.badRequest(new FerryError('E_HEADER_TOO_LARGE', `request head exceeds ${max} bytes`));
      // Lines ended by bare LF never produce CRLF CRLF; say so now instead of at the size limit.
      if (buf.indexOf(LFLF) >= 0)
        return this.badRequest(new FerryError('E_BAD_REQUEST', 'bare LF line endings'));
      this.scanFrom = buf.length > 3 ? buf.length - 3 : 0;
      return;
    }
    const end = idx + 4;
    if (end > max)
      return this.badRequest(new FerryError('E_HEADER_TOO_LARGE', `request head exceeds ${max} bytes`));
    let h: Head;
    try {
      h = parseRequestHead(buf.toString('latin1', 0, end));
      if (h.method !== 'CONNECT') frameRequest(h);
    } catch (err) {
      return this.badRequest(asFerryError(err));
    }
    this.pending = end < buf.length ? buf.subarray(end) : null;
    this.headActive = false;
    this.startRequest(h);
  }

  private startRequest(h: Head): void {
    this.req = h;
    this.state = S_ROUTE;
    this.resetExchange();
    const c = h.connection;
    const pc = h.proxyConnection;
    const wantsClose =
      (c !== null && c.includes('close')) ||
      (pc !== null && pc.includes('close')) ||
      (h.minor === 0 &&
        !((c !== null && c.includes('keep-alive')) || (pc !== null && pc.includes('keep-alive'))));
    this.closeAfter = wantsClose || this.ctx.tracker.draining;

    if (h.method === 'CONNECT') {
      const dest = parseAuthority(h.target, -1);
      if (typeof dest === 'string')
        return this.badRequest(new FerryError('E_BAD_REQUEST', `CONNECT target: ${dest}`));
      this.session = this.newSession(dest, 'connect');
    } else {
      const t = parseAbsoluteForm(h.target);
      if (typeof t === 'string') {
        const c0 = h.target.charCodeAt(0);
        const msg =
          c0 === 0x2f || c0 === 0x2a
            ? 'this is a forward proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port'
            : t;
        const code =
          t.includes('not fetched') || t.includes('unsupported URI') ? 'E_UNSUPPORTED' : 'E_BAD_REQUEST';
        return this.fail(new FerryError(code, msg));
      }
      if (h.hostCount > 1)
        return this.badRequest(new FerryError('E_BAD_REQUEST', 'more than one Host header'));
      this.target = t;
      this.session = this.newSession(t.dest, 'http');
    }

    const auth = this.ctx.auth();
    if (auth === null) return this.route();
    const value = h.proxyAuthorization;
    if (value === null) return this.fail(new FerryError('E_AUTH_REQUIRED', 'proxy authentication required'));
    if (value === this.authHeader && auth.generation === this.authGeneration) {
      this.session!.user = this.authLogin;
      return this.route();
    }
    const generation = auth.generation;
    // A client that opens a connection per request sends the same header each time: a cache hit
    // is synchronous, without decoding it.
    const known = auth.cached(value, this.srcAddr);
    if (known !== null) {
      this.authHeader = value;
      this.authLogin = known;
      this.authGeneration = generation;
      this.session!.user = known;
      return this.route();
    }
    const cred = parseBasic(value);
    if (cred === null) {
      const err = new FerryError('E_AUTH', 'malformed Proxy-Authorization (expected Basic)');
      logDenied(this.ctx, this.session, err);
      return this.fail(err);
    }
    void auth.authenticate(cred.user, cred.password, this.srcAddr, value).then((user) => {
      this.authHeader = value;
      this.authLogin = user;
      this.authGeneration = generation;
      this.onAuthOk(user);
    }, this.onAuthFail);
  }

  private newSession(dest: Session['dest'], command: Session['command']): Session {
    return {
      id: newSessionId(),
      inbound: this.ctx.name,
      user: null,
      source: { address: this.srcAddr, port: this.srcPort },
      dest,
      command,
    };
  }

  private readonly onAuthOk = (user: string): void => {
    if (this.state !== S_ROUTE) return;
    this.session!.user = user;
    this.route();
  };

  private readonly onAuthFail = (err: unknown): void => {
    if (this.state !== S_ROUTE) return;
    const fe = asFerryError(err);
    logDenied(this.ctx, this.session, fe);
    this.fail(fe);
  };

  // =============================================================== routing and dialing

  private route(): void {
    if (this.req!.method === 'CONNECT') return this.dial();
    const s = this.session!;
    const h = this.req!;
    let decision: Decision;
    applyLoginParams(s); // "alice-country-us-session-x": rules and limits see "alice"
    try {
      decision = this.ctx.router().decide(s);
      // A pool pins the exit of this request now (sticky, per request, ...), so that only an idle
      // connection through that very exit is reused.
      decision.outbound.selectExit?.(s);
      // An HTTP upstream gets the request as it is, in absolute-form, so that it sees (and may
      // cache) it. Not upgrades: few proxies pass an Upgrade on; a CONNECT tunnel carries anything.
      this.upstream = isUpgrade(h) ? null : (decision.outbound.httpProxy?.(s) ?? null);
    } catch (err) {
      const fe = asFerryError(err);
      logDenied(this.ctx, s, fe);
      return this.fail(fe);
    }
    const key =
      this.upstream !== null
        ? proxyPoolKey(this.upstream.key)
        : poolKey(reuseKey(decision.outbound, s), s.dest);
    const maxIdle = this.req!.bodyKind === BODY_NONE ? this.shared.poolIdleMs() : BODY_REUSE_MAX_IDLE_MS;
    const oc = this.shared.pool.take(key, decision.outbound, decision.guard, maxIdle);
    if (oc === null) return this.dial();
    const held = this.record;
    try {
      if (held !== null && held.continues(s, decision.outbound.name)) {
        // More of the session the last request began: the tier is asked again, nothing new taken.
        continueSession(this.ctx, held, s);
      } else {
        // A request on a pooled origin connection skips the dial but is a session of its own:
        // admitted (limits, tier) and recorded like any other.
        this.endRecord('closed');
        this.setRecord(beginSession(this.ctx, s, decision, true));
      }
    } catch (err) {
      this.endRecord('closed');
      if (!this.shared.pool.put(oc)) oc.destroy();
      const fe = asFerryError(err);
      logDenied(this.ctx, s, fe);
      return this.fail(fe);
    }
    this.useOrigin(oc);
  }

  private dial(): void {
    this.endRecord('closed'); // a session held from the last request (openTcp begins a new one)
    const ac = new AbortController();
    this.dialAbort = ac;
    const forRelay = this.req!.method === 'CONNECT';
    const absoluteForm = this.upstream !== null;
    void openTcp(this.ctx, this.session!, ac.signal, { forRelay, absoluteForm }).then(
      this.onDialed,
      this.onDialFailed,
    );
  }

  private readonly onDialed = (opened: OpenedTcp): void => {
    if (this.state !== S_ROUTE || this.dialAbort === null || this.dialAbort.signal.aborted) {
      opened.socket.destroy();
      opened.done({ reason: 'aborted' });
      return;
    }
    this.dialAbort = null;
    this.setRecord(opened.lease);
    if (this.req!.method === 'CONNECT') return this.startConnectTunnel(opened.socket);
    const d = opened.decision;
    const s = this.session!;
    // Asked again: a pool's failover may have moved the session to another exit (an HTTP proxy or
    // not). Keys name the exit actually used.
    if (this.upstream !== null) this.upstream = d.outbound.httpProxy?.(s) ?? null;
    const oc = new OriginConn(
      opened.socket,
      this.upstream !== null ? proxyPoolKey(this.upstream.key) : poolKey(reuseKey(d.outbound, s), s.dest),
      d.outbound,
      d.guard,
      this.ctx.timeouts().idleMs,
    );
    this.useOrigin(oc);
  };

  private readonly onDialFailed = (err: unknown): void => {
    if (this.state !== S_ROUTE) return;
    this.dialAbort = null;
    this.fail(asFerryError(err)); // openTcp has logged it
  };

  // =============================================================== forwarding the request

  private useOrigin(oc: OriginConn): void {
    const h = this.req!;
    oc.owner = this;
    this.origin = oc;
    const o = this.ctx.http();
    const head = originRequestHead(h, this.target!, {
      upgrade: isUpgrade(h),
      via: o.via,
      forwardedFor: o.xForwardedFor ? this.srcAddr : null,
      upstreamProxy: this.upstream,
    });
    this.resState = R_HEAD;
    // The request head counts as the user's traffic too (usage is bytes both ways, exactly).
    this.up += head.length;
    this.meterUp(head.length);
    const sock = oc.socket;
    const body = this.pending;
    if (h.bodyKind === BODY_NONE) {
      this.reqDone = true;
      this.state = S_WAIT;
      sock.write(head, 'latin1');
      return; // anything in `pending` is a pipelined request; it waits for this response
    }
    this.reqRemaining = h.bodyLength;
    this.reqChunks.reset();
    this.state = S_BODY;
    if (body === null) {
      sock.write(head, 'latin1');
    } else {
      this.pending = null;
      sock.cork();
      sock.write(head, 'latin1');
      this.forwardRequestBody(body);
      sock.uncork();
    }
    if (this.clientPaused && this.state === S_BODY) {
      this.clientPaused = false;
      if (!this.clientRateWait) this.client.resume();
    }
  }

  private forwardRequestBody(chunk: Buffer): void {
    const h = this.req!;
    const n = chunk.length;
    let end: number;
    let complete: boolean;
    if (h.bodyKind === BODY_LENGTH) {
      end = n <= this.reqRemaining ? n : this.reqRemaining;
      this.reqRemaining -= end;
      complete = this.reqRemaining === 0;
    } else {
      let r: number;
      try {
        r = this.reqChunks.scan(chunk, 0, null);
      } catch (err) {
        return this.abortExchange(asFerryError(err), true);
      }
      complete = r >= 0;
      end = complete ? r : n;
    }
    this.up += end;
    this.meterUp(end);
    if (end > 0 && !this.origin!.socket.write(end === n ? chunk : chunk.subarray(0, end)) && !complete) {
      this.client.pause();
      this.clientPaused = true;
    }
    if (!complete) return;
    this.reqDone = true;
    this.state = S_WAIT;
    if (end < n) this.stash(chunk.subarray(end));
  }

  /** Keeps client bytes for later (a pipelined request); stops reading when they grow too much. */
  private stash(chunk: Buffer): void {
    this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.clientPaused && this.pending.length > this.ctx.limits().maxHeaderBytes) {
      this.clientPaused = true;
      this.client.pause();
    }
  }

  // =============================================================== origin events (OriginOwner)

  onOriginData(chunk: Buffer): void {
    if (this.client.destroyed) return; // killed: nobody to deliver to, nothing to count
    this.down += chunk.length;
    this.meterDown(chunk.length);
    if (this.resState === R_BODY) this.forwardResponseBody(chunk, 0);
    else if (this.resState === R_HEAD) this.readResponseHead(chunk);
    else this.originReusable = false; // bytes nobody asked for
  }

  onOriginEnd(): void {
    if (this.resState === R_BODY && this.resKind === BODY_CLOSE) {
      this.originReusable = false;
      this.flushHead();
      return this.responseDone();
    }
    this.originFailed(
      new FerryError(
        'E_UPSTREAM_RESET',
        'the destination closed the connection before the response was complete',
      ),
    );
  }

  onOriginClose(): void {
    if (this.origin === null) return;
    this.originFailed(
      new FerryError(
        'E_UPSTREAM_RESET',
        'the destination connection failed before the response was complete',
      ),
    );
  }

  onOriginDrain(): void {
    if (this.clientPaused && this.state === S_BODY) {
      this.clientPaused = false;
      if (!this.clientRateWait) this.client.resume();
    }
  }

  onOriginTimeout(): void {
    this.abortExchange(
      new FerryError('E_UPSTREAM_TIMEOUT', 'no data from the destination within timeouts.idle'),
      false,
    );
  }

  // =============================================================== the response

  private readResponseHead(chunk: Buffer): void {
    let buf = this.resBuf === null ? chunk : Buffer.concat([this.resBuf, chunk]);
    for (;;) {
      const idx = buf.indexOf(CRLFCRLF, this.resScanFrom);
      const max = Math.max(this.ctx.limits().maxHeaderBytes, MIN_RESPONSE_HEAD);
      if (idx < 0 || idx + 4 > max) {
        if (buf.length > max || idx >= 0) {
          return this.abortExchange(
            new FerryError('E_UPSTREAM_RESET', `response head from the destination exceeds ${max} bytes`),
            false,
          );
        }
        this.resBuf = buf;
        this.resScanFrom = buf.length > 3 ? buf.length - 3 : 0;
        return;
      }
      const end = idx + 4;
      let h: Head;
      try {
        h = parseResponseHead(buf.toString('latin1', 0, end));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        return this.abortExchange(
          new FerryError('E_UPSTREAM_RESET', `invalid response from the destination: ${msg}`),
          false,
        );
      }
      this.resBuf = null;
      this.resScanFrom = 0;
      const req = this.req!;
      if (h.status >= 100 && h.status < 200 && h.status !== 101) {
        // Interim responses (100 Continue, 103 Early Hints) are forwarded, except to HTTP/1.0
        // clients, which cannot receive them (RFC 9110 §15.2).
        if (req.minor === 1)
          this.client.write(clientResponseHead(h, CONN_INTERIM, false, this.ctx.http().via), 'latin1');
        if (end === buf.length) return;
        buf = buf.subarray(end);
        continue;
      }
      if (h.status === 101) {
        if (req.upgrade === null || !req.hasConnectionOption('upgrade')) {
          return this.abortExchange(
            new FerryError('E_UPSTREAM_RESET', 'the destination switched protocols without being asked'),
            false,
          );
        }
        return this.startUpgradeTunnel(h, end < buf.length ? buf.subarray(end) : null);
      }
      return this.startResponse(h, buf, end);
    }
  }

  private startResponse(h: Head, buf: Buffer, bodyStart: number): void {
    const req = this.req!;
    if (h.status === 407 && this.upstream !== null) {
      // The upstream refused *our* credentials for it. Passed on, the 407 would make the client
      // ask its user for a password that is not theirs to give (RFC 9110 §15.5.8). For a pool it is
      // the member's fault, as a refused CONNECT would be.
      const err = new FerryError(
        'E_UPSTREAM_REFUSED',
        'the upstream proxy refused its credentials (407); check the outbound username/password',
      );
      this.origin?.outbound.reportExitFault?.(this.session!, err);
      return this.abortExchange(err, false);
    }
    frameResponse(h, req.method);
    const kind = h.bodyKind;
    const originKeepAlive =
      h.minor === 1 ? !h.hasConnectionOption('close') : h.hasConnectionOption('keep-alive');
    // Both TE and CL from an origin may be an attack on someone; forward as chunked, never reuse.
    this.originReusable =
      originKeepAlive && kind !== BODY_CLOSE && !(h.transferEncoding !== null && h.contentLength >= 0);
    this.dechunk = kind === BODY_CHUNKED && req.minor === 0;
    if (kind === BODY_CLOSE || this.dechunk) this.closeAfter = true;
    if (this.ctx.tracker.draining) this.closeAfter = true;
    const conn = this.closeAfter ? CONN_CLOSE : req.minor === 0 ? CONN_KEEP_ALIVE_10 : CONN_KEEP;
    const head = clientResponseHead(h, conn, this.dechunk, this.ctx.http().via);
    this.resKind = kind;
    this.resStarted = true;
    if (kind === BODY_NONE) {
      this.client.write(head, 'latin1');
      if (bodyStart < buf.length) this.originReusable = false;
      return this.responseDone();
    }
    this.resState = R_BODY;
    this.resRemaining = h.bodyLength;
    if (kind === BODY_CHUNKED) this.resChunks.reset();
    if (bodyStart < buf.length) {
      this.headOut = head;
      this.forwardResponseBody(buf, bodyStart);
      this.flushHead(); // de-chunking may have consumed bytes without writing any
    } else {
      this.client.write(head, 'latin1');
    }
  }

  private forwardResponseBody(buf: Buffer, start: number): void {
    const n = buf.length;
    switch (this.resKind) {
      case BODY_LENGTH: {
        const avail = n - start;
        const take = avail <= this.resRemaining ? avail : this.resRemaining;
        this.writeClient(buf, start, start + take);
        this.resRemaining -= take;
        if (this.resRemaining === 0) {
          if (start + take < n) this.originReusable = false; // bytes after the response
          this.responseDone();
        }
        return;
      }
      case BODY_CHUNKED: {
        let r: number;
        try {
          r = this.resChunks.scan(buf, start, this.dechunk ? this : null);
        } catch (err) {
          return this.abortExchange(asFerryError(err), false);
        }
        if (!this.dechunk) this.writeClient(buf, start, r < 0 ? n : r);
        if (r >= 0) {
          if (r < n) this.originReusable = false;
          this.flushHead();
          this.responseDone();
        }
        return;
      }
      default: // BODY_CLOSE
        this.writeClient(buf, start, n);
    }
  }

  /** De-chunked data for an HTTP/1.0 client (ChunkSink). */
  chunkData(buf: Buffer, start: number, end: number): void {
    if (end > start) this.writeClient(buf, start, end);
  }

  /** Writes buf[start, end) to the client, behind the pending response head if there is one. */
  private writeClient(buf: Buffer, start: number, end: number): void {
    const c = this.client;
    let ok: boolean;
    const head = this.headOut;
    if (head !== null) {
      this.headOut = null;
      const hl = head.length; // latin1: one byte per char
      const bl = end - start;
      if (bl <= COALESCE_MAX) {
        const out = Buffer.allocUnsafe(hl + bl);
        out.write(head, 0, hl, 'latin1');
        buf.copy(out, hl, start, end);
        ok = c.write(out);
      } else {
        c.cork();
        c.write(head, 'latin1');
        ok = c.write(buf.subarray(start, end));
        c.uncork();
      }
    } else {
      if (end <= start) return;
      ok = c.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    }
    // Pause the origin only when a real backlog builds up: write() says false past 16 KiB, which a
    // single 64 KiB read already exceeds, and a pause/resume cycle per read costs throughput.
    if (!ok && c.writableLength > WRITE_BACKLOG) this.origin?.pause(); // resumed on 'drain'
  }

  private flushHead(): void {
    const head = this.headOut;
    if (head !== null) {
      this.headOut = null;
      this.client.write(head, 'latin1');
    }
  }

  /** The response is complete: settle the origin connection, then the client connection. */
  private responseDone(): void {
    const oc = this.origin!;
    this.origin = null;
    oc.owner = null;
    if (!this.reqDone) {
      // The origin answered before the request body ended: the connection's framing on both
      // sides is now unknowable, so neither is reused.
      this.originReusable = false;
      this.closeAfter = true;
    }
    if (this.originReusable) {
      oc.resume();
      if (!this.shared.pool.put(oc)) oc.destroy();
    } else {
      oc.destroy();
    }
    this.resState = R_IDLE;
    if (this.closeAfter) {
      this.endRecord('closed');
      return this.closeClient();
    }
    // The connection goes on: the session stays held for a next request to the same destination.
    this.record?.settle(this.up, this.down);
    this.up = 0;
    this.down = 0;
    this.nextRequest();
  }

  /** Back to reading heads; a pipelined request already read is parsed now. */
  private nextRequest(): void {
    this.state = S_HEAD;
    this.req = null;
    this.target = null;
    this.session = null;
    if (this.clientPaused) {
      this.clientPaused = false;
      if (!this.clientRateWait) this.client.resume();
    }
    if (this.pending !== null) {
      this.headActive = true;
      this.headTimer.refresh();
      this.scanFrom = 0;
      this.readHead();
    }
  }

  // =============================================================== tunnels

  private startConnectTunnel(sock: Socket): void {
    this.state = S_TUNNEL;
    this.detachClient();
    const early = this.pending;
    this.pending = null;
    const record = this.takeRecord();
    const idleMs = this.ctx.timeouts().idleMs;
    startTunnel(this.client, sock, {
      toClient: [CONNECT_OK],
      toOrigin: early,
      up: 0,
      down: 0,
      idleMs,
      record,
    });
  }

  private startUpgradeTunnel(h: Head, originRest: Buffer | null): void {
    const oc = this.origin!;
    this.origin = null;
    this.state = S_TUNNEL;
    this.detachClient();
    const head = clientResponseHead(h, CONN_UPGRADE, false, this.ctx.http().via);
    const early = this.pending;
    this.pending = null;
    const record = this.takeRecord();
    startTunnel(this.client, oc.detach(), {
      toClient: originRest === null ? [head] : [head, originRest],
      toOrigin: early,
      up: this.up,
      down: this.down,
      idleMs: this.ctx.timeouts().idleMs,
      record,
    });
  }

  /** Removes our client listeners before relay() takes the socket (the error guard stays). */
  private detachClient(): void {
    clearTimeout(this.headTimer);
    const c = this.client;
    c.removeListener('data', this.onData);
    c.removeListener('end', this.onEnd);
    c.removeListener('close', this.onClose);
    c.removeListener('drain', this.onDrain);
    c.removeListener('timeout', this.onTimeout);
    if (this.clientPaused) {
      this.clientPaused = false;
      c.resume();
    }
  }

  // =============================================================== failures and closing

  /**
   * The origin connection broke before the response was complete. An idempotent request without
   * a body that failed on a reused connection before any response byte is retried once on a new
   * connection: the origin may have closed the idle connection just as we sent (RFC 9112 §9.3.1).
   * Non-idempotent requests are never retried (RFC 9110 §9.2.2); the client sees the 502.
   */
  private originFailed(err: FerryError): void {
    const oc = this.origin;
    if (oc === null) return;
    if (
      oc.reused &&
      !this.retried &&
      this.down === 0 &&
      this.req!.bodyKind === BODY_NONE &&
      isIdempotent(this.req!.method) &&
      this.resState === R_HEAD
    ) {
      this.origin = null;
      oc.destroy();
      this.takeRecord()?.cancel();
      this.retried = true;
      this.resState = R_IDLE;
      this.state = S_ROUTE;
      return this.dial();
    }
    this.abortExchange(err, false);
  }

  /**
   * Ends the exchange on an error: an error response if nothing of the response was sent yet,
   * otherwise the client connection is cut (a truncated body must not look complete).
   */
  private abortExchange(err: FerryError, clientFault: boolean): void {
    const oc = this.origin;
    this.origin = null;
    oc?.destroy();
    this.endRecord('error');
    if (clientFault) logBadClient(this.ctx, err, this.srcAddr);
    else logDenied(this.ctx, this.session, err);
    if (this.resStarted) {
      this.state = S_CLOSED;
      this.client.destroy();
      return;
    }
    this.replyAndClose(err);
  }

  /** Malformed request: 4xx and close (the framing of what follows cannot be trusted). */
  private badRequest(err: FerryError): void {
    logBadClient(this.ctx, err, this.srcAddr);
    this.replyAndClose(err);
  }

  /**
   * A request refused before anything was forwarded. The connection stays open for the next
   * request when that is safe: the refused request had no body and was not a CONNECT with
   * bytes already behind it.
   */
  private fail(err: FerryError): void {
    const h = this.req!;
    const keep =
      !this.closeAfter && (h.method === 'CONNECT' ? this.pending === null : h.bodyKind === BODY_NONE);
    if (!keep) return this.replyAndClose(err);
    this.client.write(errorReply(err, h.minor === 0 ? REPLY_KEEP_10 : REPLY_KEEP, h.method === 'HEAD'));
    this.nextRequest();
  }

  private replyAndClose(err: FerryError): void {
    if (this.state === S_CLOSED) return;
    const headOnly = this.req !== null && this.req.method === 'HEAD';
    this.state = S_CLOSED;
    this.pending = null;
    clearTimeout(this.headTimer);
    this.client.end(errorReply(err, REPLY_CLOSE, headOnly));
    // Keep reading (and discarding) briefly so the client sees the reply rather than a reset.
    const t = setTimeout(destroySocket, LINGER_MS, this.client);
    t.unref();
  }

  /** Graceful close after a response: flush, FIN, then wait for the client to close. */
  private closeClient(): void {
    this.state = S_CLOSED;
    this.pending = null;
    clearTimeout(this.headTimer);
    this.client.end();
  }

  /** Detaches the lease from this connection (a tunnel takes it over, or it is ended). */
  private takeRecord(): ContinuableLease | null {
    const r = this.record;
    if (r === null) return null;
    this.record = null;
    r.meter.signal?.removeEventListener('abort', this.onKilled);
    return r;
  }

  private endRecord(reason: 'closed' | 'error'): void {
    this.takeRecord()?.done({ up: this.up, down: this.down, reason });
  }

  private resetExchange(): void {
    this.up = 0;
    this.down = 0;
    this.reqDone = false;
    this.resStarted = false;
    this.originReusable = false;
    this.retried = false;
    this.upstream = null;
    this.dechunk = false;
    this.headOut = null;
    this.resBuf = null;
    this.resScanFrom = 0;
    this.resState = R_IDLE;
    this.resKind = BODY_NONE;
  }
}

function noop(): void {}

/** The client asks to switch protocols (WebSocket and friends), which only HTTP/1.1 can do. */
function isUpgrade(h: Head): boolean {
  return h.upgrade !== null && h.minor === 1 && h.hasConnectionOption('upgrade');
}

/** Idempotent methods (RFC 9110 §9.2.2). */
function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'TRACE':
    case 'PUT':
    case 'DELETE':
      return true;
    default:
      return false;
  }
}

function destroySocket(s: Socket): void {
  s.destroy();
}

// The step every inbound shares after it has parsed a request: route the session, apply the
// per-user limit, dial the chosen outbound, and afterwards write the access record (audit mode
// only). Inbounds call openTcp and then relay (or, for plain HTTP, speak HTTP on the socket).
import type { Socket } from 'node:net';
import { asFerryError, FerryError } from '../core/errors.js';
import { formatHostPort, type Session } from '../core/session.js';
import type { Decision } from '../router/router.js';
import type { InboundContext } from './context.js';
import type { RelayResult } from '../net/relay.js';
import { applyLoginParams } from '../auth/username-params.js';
import { NO_METER, type Meter } from '../net/meter.js';

/**
 * One session's hold on shared resources: the per-user connection slot, the tier's admission and
 * meter (usage, rate limits), and the access record written when it ends.
 */
export interface SessionLease {
  readonly meter: Meter;
  /** Ends the session: releases the slot, closes the meter, writes the access record (audit mode). */
  done(result?: Partial<RelayResult>): void;
  /** Abandons an attempt that will be retried as a new session: releases without a record. */
  cancel(): void;
}

export interface OpenedTcp {
  socket: Socket;
  decision: Decision;
  lease: SessionLease;
  /** Same as lease.done. */
  done(result?: Partial<RelayResult>): void;
}

const NO_RESULT: Partial<RelayResult> = {};

/**
 * A session's lease. One object with methods rather than closures: an HTTP keep-alive connection
 * takes one per request, tens of thousands a second.
 */
class Lease implements SessionLease {
  private finished = false;

  constructor(
    private readonly ctx: InboundContext,
    private readonly session: Session,
    /** The login holding a per-user slot (ConnTracker), or null. */
    private readonly slotUser: string | null,
    private readonly outbound: string,
    readonly meter: Meter,
    private readonly started: number,
    private readonly reused: boolean,
  ) {}

  done(result?: Partial<RelayResult>): void {
    if (this.finished) return;
    this.release();
    recordSession(this.ctx, this.session, this.outbound, this.started, result ?? NO_RESULT, this.reused);
  }

  cancel(): void {
    if (this.finished) return;
    this.release();
  }

  private release(): void {
    this.finished = true;
    if (this.slotUser !== null) this.ctx.tracker.leaveUser(this.slotUser);
    this.meter.close();
  }
}

/**
 * Admits a routed session: tier rules (quota, inbound kind, exit, concurrent connections) when a
 * management store is configured, then the per-user connection limit. Throws the FerryError the
 * client should see. Used by openTcp and by inbounds that reuse connections (HTTP keep-alive pool)
 * or manage their own sockets (SOCKS BIND, UDP ASSOCIATE). `reused`: the request rides an already
 * open (pooled) destination connection.
 */
export function beginSession(
  ctx: InboundContext,
  session: Session,
  decision: Decision,
  reused = false,
): SessionLease {
  const user = session.user;
  const outbound = decision.outbound.name;
  let tierMeter = NO_METER;
  if (user !== null) {
    const gate = ctx.usage?.() ?? null;
    // Admission first (it throws), then the slot, which the meter's lease gives back.
    if (gate) tierMeter = gate.openSession(user, ctx.kind ?? 'proxy', outbound);
    try {
      ctx.tracker.enterUser(user, ctx.limits().maxConnectionsPerUser);
    } catch (e) {
      tierMeter.close();
      throw e;
    }
  }
  const started = Date.now();
  const meter = ctx.live ? ctx.live.register(session, outbound, tierMeter, started) : tierMeter;
  return new Lease(ctx, session, user, outbound, meter, started, reused);
}

/**
 * Routes, admits and dials a TCP session. `opts.forRelay` says the socket will only be relayed
 * (CONNECT tunnels), which lets the outbound use fast reads; `opts.absoluteForm` that the caller
 * can speak absolute-form to an HTTP upstream proxy (see DialOptions.absoluteForm).
 */
export async function openTcp(
  ctx: InboundContext,
  session: Session,
  signal?: AbortSignal,
  opts: { forRelay?: boolean; absoluteForm?: boolean } = {},
): Promise<OpenedTcp> {
  let lease: SessionLease | null = null;
  applyLoginParams(session);
  try {
    const decision = ctx.router().decide(session);
    decision.outbound.selectExit?.(session); // pools: pin the exit (sticky, per request, ...)
    lease = beginSession(ctx, session, decision);
    const socket = await decision.outbound.dial(session.dest, {
      guard: decision.guard,
      connectTimeoutMs: ctx.timeouts().connectMs,
      session,
      ...(signal ? { signal } : {}),
      ...(opts.forRelay ? { forRelay: true } : {}),
      ...(opts.absoluteForm ? { absoluteForm: true } : {}),
    });
    const l = lease;
    return { socket, decision, lease: l, done: (r) => l.done(r) };
  } catch (err) {
    lease?.cancel();
    const fe = asFerryError(err);
    logDenied(ctx, session, fe);
    throw fe;
  }
}

/**
 * The access record of one finished session — written only in audit mode (in the default privacy
 * mode no per-session record exists). Used by openTcp and by inbounds that manage their own sockets
 * (SOCKS BIND and UDP ASSOCIATE).
 */
export function recordSession(
  ctx: InboundContext,
  session: Session,
  outbound: string,
  started: number,
  result: Partial<RelayResult>,
  /** The request rode an already open (pooled) destination connection. */
  reused?: boolean,
): void {
  const up = result.up ?? 0;
  const down = result.down ?? 0;
  ctx.metrics?.addBytes(session.inbound, up, down, session.user);
  if (ctx.accessLog() !== 'audit') return;
  const ms = Date.now() - started;
  const src = session.source;
  const dest = session.dest;
  ctx.recordSink?.addRecord(
    started,
    session.user,
    session.inbound,
    src.address,
    src.port,
    dest.host,
    dest.port,
    up,
    down,
    ms,
    outbound,
    result.reason ?? null,
  );
  // Built only when it will be written: at a few thousand sessions a second the object costs.
  if (!ctx.log.isLevelEnabled('info')) return;
  ctx.log.info(
    {
      session: session.id,
      inbound: session.inbound,
      user: session.user,
      src: formatHostPort(src.address, src.port),
      dest: formatHostPort(dest.host, dest.port),
      cmd: session.command,
      outbound,
      up,
      down,
      ms,
      end: result.reason,
      ...(reused ? { reused: true } : {}),
    },
    'session',
  );
}

/**
 * Logs a refused session. In the default privacy mode the line carries only the error code and the
 * inbound; in audit mode it also names user, source and destination (and goes to the audit store);
 * in mode none there is no line at all (its time would be a record of the connection).
 */
export function logDenied(ctx: InboundContext, session: Session | null, err: FerryError): void {
  // The 407 challenge before a client sends credentials is the protocol, not a failure.
  if (err.code !== 'E_AUTH_REQUIRED') ctx.metrics?.failed(ctx.name, err.code);
  const mode = ctx.accessLog();
  if (mode === 'none') return;
  const base = { inbound: ctx.name, code: err.code };
  if (mode === 'audit' && session) {
    ctx.recordSink?.addRecord(
      Date.now(),
      session.user,
      ctx.name,
      session.source.address,
      session.source.port,
      session.dest.host,
      session.dest.port,
      0,
      0,
      0,
      'refused',
      err.code,
    );
    ctx.log.info(
      {
        ...base,
        session: session.id,
        user: session.user,
        src: formatHostPort(session.source.address, session.source.port),
        dest: formatHostPort(session.dest.host, session.dest.port),
        reason: err.message,
      },
      'session refused',
    );
  } else {
    ctx.log.info({ ...base, hint: err.hint }, 'session refused');
  }
}

/** Logs a client connection closed for bad input (never with its bytes or credentials). */
export function logBadClient(ctx: InboundContext, err: FerryError, source?: string): void {
  ctx.metrics?.failed(ctx.name, err.code);
  if (ctx.accessLog() === 'none') return;
  ctx.log.warn(
    {
      inbound: ctx.name,
      code: err.code,
      reason: err.message,
      ...(ctx.accessLog() === 'audit' && source ? { src: source } : {}),
    },
    'client connection closed',
  );
}

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

/**
 * Admits a routed session: tier rules (quota, inbound kind, exit, concurrent connections) when a
 * management store is configured, then the per-user connection limit. Throws the FerryError the
 * client should see. Used by openTcp and by inbounds that reuse connections (HTTP keep-alive pool)
 * or manage their own sockets (SOCKS BIND, UDP ASSOCIATE).
 */
export function beginSession(
  ctx: InboundContext,
  session: Session,
  decision: Decision,
  opts: { reused?: boolean } = {},
): SessionLease {
  const gate = ctx.usage?.() ?? null;
  const user = session.user;
  if (user !== null && gate) gate.admit(user, ctx.kind ?? 'proxy', decision.outbound.name);
  const release = user !== null ? ctx.tracker.acquireUser(user, ctx.limits().maxConnectionsPerUser) : null;
  const tierMeter = user !== null && gate ? gate.meter(user) : NO_METER;
  const meter = ctx.live ? ctx.live.register(session, decision.outbound.name, tierMeter) : tierMeter;
  const started = Date.now();
  let finished = false;
  return {
    meter,
    done(result) {
      if (finished) return;
      finished = true;
      release?.();
      meter.close();
      recordSession(ctx, session, decision.outbound.name, started, result ?? {}, opts.reused);
    },
    cancel() {
      if (finished) return;
      finished = true;
      release?.();
      meter.close();
    },
  };
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
  const src = formatHostPort(session.source.address, session.source.port);
  const dest = formatHostPort(session.dest.host, session.dest.port);
  ctx.recordSink?.({
    at: started,
    user: session.user,
    inbound: session.inbound,
    source: src,
    destination: dest,
    bytesUp: up,
    bytesDown: down,
    durationMs: ms,
    decision: result.reason ? `${outbound} ${result.reason}` : outbound,
  });
  // Built only when it will be written: at a few thousand sessions a second the object costs.
  if (!ctx.log.isLevelEnabled('info')) return;
  ctx.log.info(
    {
      session: session.id,
      inbound: session.inbound,
      user: session.user,
      src,
      dest,
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
    ctx.recordSink?.({
      at: Date.now(),
      user: session.user,
      inbound: ctx.name,
      source: formatHostPort(session.source.address, session.source.port),
      destination: formatHostPort(session.dest.host, session.dest.port),
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
      decision: `refused ${err.code}`,
    });
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

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

/**
 * A lease that can span several exchanges of one client connection: HTTP keep-alive requests that
 * go to the same destination through the same exit are one connection's traffic, so they are one
 * session — admitted once (its slot, its tier meter, its entry in the live list), recorded once.
 * Each exchange is still routed, and the tier is asked again (continueSession) before it goes on.
 */
export interface ContinuableLease extends SessionLease {
  /** Whether an exchange of `session` routed to `outbound` is more of this session. */
  continues(session: Session, outbound: string): boolean;
  /** The exit the session was routed to. */
  readonly outboundName: string;
  /** The next exchange of the session starts (continueSession). */
  exchangeBegins(): void;
  /**
   * One exchange of the session is over and the connection stays open: its bytes count now
   * (metrics, the per-request log line in audit mode) and again, summed, in the session's record.
   */
  settle(up: number, down: number): void;
}

export interface OpenedTcp {
  socket: Socket;
  decision: Decision;
  lease: ContinuableLease;
  /** Same as lease.done. */
  done(result?: Partial<RelayResult>): void;
}

const NO_RESULT: Partial<RelayResult> = {};
const CLOSED: Partial<RelayResult> = { reason: 'closed' };

/**
 * A session's lease. One object with methods rather than closures: an HTTP keep-alive connection
 * may take one per request, tens of thousands a second.
 */
class Lease implements ContinuableLease {
  private finished = false;
  /** Bytes of exchanges already settled (HTTP keep-alive), for the record. */
  private settledUp = 0;
  private settledDown = 0;
  private exchangeStarted: number;
  /** More than one exchange has used this lease. */
  private continued = false;
  /** An exchange is under way (not yet settled). */
  private exchangeOpen = true;

  constructor(
    private readonly ctx: InboundContext,
    private readonly session: Session,
    /** The login holding a per-user slot (ConnTracker), or null. */
    private readonly slotUser: string | null,
    private readonly outbound: string,
    readonly meter: Meter,
    private readonly started: number,
    private readonly reused: boolean,
  ) {
    this.exchangeStarted = started;
  }

  get outboundName(): string {
    return this.outbound;
  }

  exchangeBegins(): void {
    this.continued = true;
    this.exchangeOpen = true;
    // Only the per-request log line needs the exchange's own start.
    if (this.ctx.log.levelVal <= INFO && this.ctx.accessLog() === 'audit') this.exchangeStarted = Date.now();
  }

  done(result?: Partial<RelayResult>): void {
    if (this.finished) return;
    this.release();
    const r = result ?? NO_RESULT;
    const up = r.up ?? 0;
    const down = r.down ?? 0;
    const ctx = this.ctx;
    ctx.metrics?.addBytes(this.session.inbound, up, down, this.session.user);
    if (ctx.accessLog() !== 'audit') return;
    const now = Date.now();
    const reason = r.reason ?? null;
    writeRecord(
      ctx,
      this.session,
      this.outbound,
      this.started,
      now - this.started,
      this.settledUp + up,
      this.settledDown + down,
      reason,
    );
    // A session held after its last exchange was settled has no exchange of its own to log.
    if (this.exchangeOpen)
      logSession(
        ctx,
        this.session,
        this.outbound,
        up,
        down,
        now - this.exchangeStarted,
        reason,
        this.reused || this.continued,
      );
  }

  cancel(): void {
    if (this.finished) return;
    // Exchanges before this one happened: they keep their record.
    if (this.continued) return this.done(CLOSED);
    this.release();
  }

  continues(session: Session, outbound: string): boolean {
    const s = this.session;
    return (
      !this.finished &&
      this.meter.signal?.aborted !== true &&
      outbound === this.outbound &&
      session.user === s.user &&
      session.dest.port === s.dest.port &&
      session.dest.host === s.dest.host
    );
  }

  settle(up: number, down: number): void {
    const ctx = this.ctx;
    ctx.metrics?.addBytes(this.session.inbound, up, down, this.session.user);
    this.settledUp += up;
    this.settledDown += down;
    this.exchangeOpen = false;
    if (ctx.accessLog() !== 'audit' || ctx.log.levelVal > INFO) return;
    const ms = Date.now() - this.exchangeStarted;
    logSession(ctx, this.session, this.outbound, up, down, ms, 'closed', this.reused || this.continued);
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
): ContinuableLease {
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
 * The next exchange of a session that `lease` holds (HTTP keep-alive to the same destination and
 * exit): the tier is asked again — a tier that expired or no longer allows this exit refuses it as
 * it would a new session — but no second slot, meter or record is taken. Throws like beginSession.
 */
export function continueSession(ctx: InboundContext, lease: ContinuableLease, session: Session): void {
  const user = session.user;
  if (user !== null) ctx.usage?.()?.recheck(user, ctx.kind ?? 'proxy', lease.outboundName);
  lease.exchangeBegins();
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
  let lease: ContinuableLease | null = null;
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
 * mode no per-session record exists) — and its bytes in the metrics. Used by inbounds that manage
 * their own sockets (SOCKS BIND and UDP ASSOCIATE); leases do the same in done().
 */
export function recordSession(
  ctx: InboundContext,
  session: Session,
  outbound: string,
  started: number,
  result: Partial<RelayResult>,
): void {
  const up = result.up ?? 0;
  const down = result.down ?? 0;
  ctx.metrics?.addBytes(session.inbound, up, down, session.user);
  if (ctx.accessLog() !== 'audit') return;
  const ms = Date.now() - started;
  const reason = result.reason ?? null;
  writeRecord(ctx, session, outbound, started, ms, up, down, reason);
  logSession(ctx, session, outbound, up, down, ms, reason, false);
}

/** Audit mode: the session's row for the store. */
function writeRecord(
  ctx: InboundContext,
  session: Session,
  outbound: string,
  started: number,
  ms: number,
  up: number,
  down: number,
  reason: string | null,
): void {
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
    reason,
  );
}

/**
 * Audit mode: the "session" log line of one exchange (one per HTTP request, so that the log reads
 * like a proxy's access log even where the store keeps one row per connection).
 */
function logSession(
  ctx: InboundContext,
  session: Session,
  outbound: string,
  up: number,
  down: number,
  ms: number,
  reason: string | null,
  reused: boolean,
): void {
  // Built only when it will be written: at a few thousand sessions a second the object costs.
  // levelVal is pino's numeric level (info = 30); a property read, where isLevelEnabled is a call.
  if (ctx.log.levelVal > INFO) return;
  ctx.log.info(
    {
      session: session.id,
      inbound: session.inbound,
      user: session.user,
      src: formatHostPort(session.source.address, session.source.port),
      dest: formatHostPort(session.dest.host, session.dest.port),
      cmd: session.command,
      outbound,
      up,
      down,
      ms,
      end: reason,
      ...(reused ? { reused: true } : {}),
    },
    'session',
  );
}

/** pino's number for the info level. */
const INFO = 30;

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

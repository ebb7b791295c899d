// A pool outbound: several exits (upstream proxies, source addresses, any outbound) behind one name.
//
// Choosing the exit for a session, in order:
//   1. tag filter — login parameters country/region/city/state/provider keep only members whose
//      tags match (no match: the session is refused, never silently sent elsewhere);
//   2. sticky session — a login "…-session-ID" keeps its member while the id is used (idle expiry:
//      sesstime from the login × sesstime_unit, or the pool's sticky ttl);
//   3. rotation — per connection (each dial picks), per request (selectExit pins a fresh pick for
//      every HTTP request, so keep-alive never pins one exit), or per interval (one member for all
//      sessions until the interval ends);
//   4. strategy — round-robin, random, least-connections, weighted, or hash of the destination host.
// Only usable members are candidates (see member.ts). A dial that fails by the exit's fault (see
// upstream/fault.ts) counts against the member and is retried on another one, a bounded number of
// times, so a client sees an error only when every tried member failed.
import type { Socket } from 'node:net';
import { FerryError } from '../../core/errors.js';
import type { Destination, Session } from '../../core/session.js';
import { SESSION_KEY, SESSTIME_KEY, tagFilter } from '../../auth/username-params.js';
import type { DialOptions, HttpProxyForwarding, Outbound, UdpFlow } from '../outbound.js';
import { isExitFault } from '../upstream/fault.js';
import { Prober, type Probe } from './health.js';
import { Member, type HealthPolicy, type MemberState, type ProbeState } from './member.js';
import { StickyTable } from './sticky.js';
import { makeStrategy, rendezvous, type Strategy, type StrategyName } from './strategy.js';

export type Rotation = 'connection' | 'request' | 'interval';

export interface PoolMemberConfig {
  outbound: Outbound;
  tags?: Record<string, string> | undefined;
  weight?: number | undefined;
}

export interface PoolConfig {
  name: string;
  members: PoolMemberConfig[];
  strategy?: StrategyName | undefined;
  rotation?: Rotation | undefined;
  /** rotation: interval — how long one member serves everyone. */
  rotationIntervalMs?: number | undefined;
  /** Default idle lifetime of a sticky session. */
  stickyTtlMs?: number | undefined;
  /** What one unit of the login's "sesstime-N" is (default one minute; tests use seconds). */
  sesstimeUnitMs?: number | undefined;
  /** Longest sesstime a login may ask for. */
  stickyMaxTtlMs?: number | undefined;
  /** Exits tried for one dial (the first and the retries on other members). */
  maxAttempts?: number | undefined;
  /** Time one attempt may take before the next member is tried (bounded by the connect timeout). */
  attemptTimeoutMs?: number | undefined;
  health?: Partial<HealthPolicy> & { probe?: Probe | undefined; probeTimeoutMs?: number | undefined };
  /** The clock (tests pass a fake one). */
  now?: (() => number) | undefined;
  /**
   * external: the probe is configured but another process runs it and passes the results in
   * (adoptProbeState) — cluster workers, so that N workers do not probe N times. Default own.
   */
  probes?: 'own' | 'external' | undefined;
  /**
   * Choices that several processes must agree on — a sticky session's member, the member of a
   * rotation interval — are derived from a hash of the session (or the interval's number) over the
   * candidates, not from this process's history. Cluster workers each hold their own pool and the
   * kernel spreads one session's connections over them; with this they still pick the same exit.
   * Interval rotation then switches on multiples of the interval (wall clock).
   */
  coordinated?: boolean | undefined;
  /** Told after each probe of a member (with probes: own). */
  onProbeResult?: ((pool: string, member: string, state: ProbeState) => void) | undefined;
}

export interface PoolState {
  name: string;
  strategy: StrategyName;
  rotation: Rotation;
  stickySessions: number;
  members: MemberState[];
}

const DEFAULTS = {
  stickyTtlMs: 10 * 60_000,
  sesstimeUnitMs: 60_000,
  stickyMaxTtlMs: 24 * 3_600_000,
  maxAttempts: 4,
  attemptTimeoutMs: 5_000,
  maxFails: 3,
  ejectMs: 30_000,
  probeTimeoutMs: 5_000,
};

const NO_FILTER_KEY = '';
/** Suffix of the sticky / interval key of a choice restricted to capable members (see chooseOrNull). */
const CAPABLE_KEY = '\0udp';

/** A property some members have and a request needs (UDP relaying). */
type Capability = (m: Member) => boolean;

function canUdp(m: Member): boolean {
  return m.outbound.openUdp !== undefined;
}
/**
 * A client connection's exit is forgotten after this much idle time; longer than any keep-alive
 * idle timeout worth having, short enough that a reused client port rarely inherits it.
 */
const CLIENT_PIN_IDLE_MS = 120_000;

export class PoolOutbound implements Outbound {
  readonly kind = 'pool';
  readonly name: string;
  readonly members: readonly Member[];
  private readonly byName = new Map<string, Member>();
  private readonly strategyName: StrategyName;
  private readonly strategy: Strategy;
  private readonly rotation: Rotation;
  private readonly sticky = new StickyTable();
  /** Per-connection rotation of HTTP requests: client connection (address, port) → member. */
  private readonly clientPins = new StickyTable(10_000);
  /** rotation: interval — the member currently serving, per tag filter. */
  private readonly epoch = new Map<string, { member: Member; until: number }>();
  private readonly prober: Prober | null;
  private readonly now: () => number;
  /** A member's forwarding → this pool's (see httpProxy). */
  private readonly forwardings = new WeakMap<HttpProxyForwarding, HttpProxyForwarding>();

  constructor(private readonly cfg: PoolConfig) {
    if (cfg.members.length === 0) throw new FerryError('E_CONFIG', `pool ${cfg.name}: no members`);
    this.name = cfg.name;
    this.now = cfg.now ?? Date.now;
    this.strategyName = cfg.strategy ?? 'round-robin';
    this.strategy = makeStrategy(this.strategyName);
    this.rotation = cfg.rotation ?? 'connection';
    const policy: HealthPolicy = {
      maxFails: cfg.health?.maxFails ?? DEFAULTS.maxFails,
      ejectMs: cfg.health?.ejectMs ?? DEFAULTS.ejectMs,
      probeIntervalMs: cfg.health?.probe ? (cfg.health.probeIntervalMs ?? 10_000) : 0,
    };
    this.members = cfg.members.map((m) => new Member(m.outbound, m.tags ?? {}, m.weight ?? 1, policy));
    for (const m of this.members) {
      if (this.byName.has(m.name))
        throw new FerryError('E_CONFIG', `pool ${cfg.name}: member '${m.name}' listed twice`);
      this.byName.set(m.name, m);
    }
    const report = cfg.onProbeResult;
    this.prober =
      policy.probeIntervalMs > 0 && cfg.probes !== 'external'
        ? new Prober(
            this.members,
            cfg.health!.probe!,
            policy.probeIntervalMs,
            cfg.health?.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs,
            report ? (m) => report(this.name, m.name, m.probeState()) : null,
          )
        : null;
    this.prober?.start();
  }

  /**
   * Pins the exit of a session that an HTTP inbound may carry over a kept-alive upstream connection
   * (see Outbound.selectExit). With per-connection rotation the pin is per *client* connection —
   * the requests of one keep-alive client connection share an exit, the next client connection gets
   * the next one — so that a pooled upstream connection never carries a request to the wrong exit.
   */
  selectExit(session: Session): void {
    if (session.exit !== undefined && this.byName.has(session.exit)) return;
    if (this.pinned(session)) {
      session.exit = this.choose(session, null).name;
      return;
    }
    if (session.command !== 'http') return; // tunnels and SOCKS: the dial is the connection
    const key = `${session.source.address} ${session.source.port}`;
    const now = this.now();
    const held = this.clientPins.get(key, now);
    const m = held !== undefined ? this.byName.get(held.member) : undefined;
    if (m !== undefined && m.usable(now)) {
      session.exit = m.name;
      return;
    }
    session.exit = this.choose(session, null).name;
    this.clientPins.set(key, session.exit, CLIENT_PIN_IDLE_MS, now);
  }

  httpProxy(session: Session): HttpProxyForwarding | null {
    if (session.exit === undefined) return null;
    const m = this.byName.get(session.exit);
    const f = m?.outbound.httpProxy?.(session) ?? null;
    if (f === null) return null;
    // Reuse key of the proxy connection: the pool and the member, so rotation still decides.
    // Members return one object each; wrapping it once keeps this per-request call allocation-free.
    let ours = this.forwardings.get(f);
    if (ours === undefined) {
      ours = { key: `${this.name}>${f.key}`, proxyAuthorization: f.proxyAuthorization };
      this.forwardings.set(f, ours);
    }
    return ours;
  }

  reportExitFault(session: Session, err: Error): void {
    const m = session.exit !== undefined ? this.byName.get(session.exit) : undefined;
    m?.faulted(err, this.now());
  }

  async dial(dest: Destination, opts: DialOptions): Promise<Socket> {
    const s = opts.session;
    const pinned = s.exit !== undefined || this.pinned(s);
    const deadline = this.now() + opts.connectTimeoutMs;
    const maxAttempts = Math.min(this.cfg.maxAttempts ?? DEFAULTS.maxAttempts, this.members.length);
    const tried: Member[] = [];
    let lastErr: unknown = null;
    let m: Member | null =
      (s.exit !== undefined ? this.byName.get(s.exit) : undefined) ?? this.choose(s, null);
    // Absolute-form forwarding needs a pinned exit: the caller reads httpProxy(session) after the
    // dial to learn the member (failover may have changed it) and which header to send.
    const absoluteForm = opts.absoluteForm === true && pinned;
    // Session.exit holds *this pool's* pin; a member reads the field as its own (a source-address
    // member as its pinned binding), so members get the session without it.
    const memberSession = memberView(s);
    while (m !== null) {
      tried.push(m);
      const left = deadline - this.now();
      if (left <= 0) break;
      const more = tried.length < maxAttempts;
      const attemptMs = more ? Math.min(left, this.cfg.attemptTimeoutMs ?? DEFAULTS.attemptTimeoutMs) : left;
      try {
        const sock = await m.outbound.dial(dest, {
          ...opts,
          session: memberSession,
          connectTimeoutMs: attemptMs,
          absoluteForm: absoluteForm && (m.outbound.httpProxy?.(s) ?? null) !== null,
        });
        m.succeeded();
        this.track(m, sock);
        if (pinned && s.exit !== m.name) this.repin(s, m);
        return sock;
      } catch (err) {
        lastErr = err;
        if (opts.signal?.aborted || !isExitFault(err)) throw err;
        m.faulted(err as Error, this.now());
        if (!more) break;
        m = this.chooseOrNull(s, tried);
      }
    }
    if (lastErr instanceof FerryError) {
      throw new FerryError(
        lastErr.code,
        `pool ${this.name}: ${tried.length} exit(s) failed; last: ${lastErr.message}`,
        { cause: lastErr },
      );
    }
    throw new FerryError(
      'E_UPSTREAM_TIMEOUT',
      `pool ${this.name}: no exit answered within the connect timeout`,
    );
  }

  /**
   * A UDP flow (SOCKS5 UDP ASSOCIATE, Shadowsocks UDP) through a member that can carry UDP — a
   * SOCKS5 upstream, a source-address or direct member — chosen with the same tag filter, sticky
   * session and rotation rules as connections (the association is the "connection"). A sticky
   * session or interval whose member cannot carry UDP keeps that member for TCP and gets a second,
   * UDP-capable one of its own. Setup failures by the exit fail over like dials.
   */
  async openUdp(opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow> {
    const s = opts.session;
    const maxAttempts = Math.min(this.cfg.maxAttempts ?? DEFAULTS.maxAttempts, this.members.length);
    const pinnedExit = s.exit !== undefined ? this.byName.get(s.exit) : undefined;
    let m: Member | null =
      pinnedExit !== undefined && canUdp(pinnedExit) ? pinnedExit : this.choose(s, null, canUdp);
    const tried: Member[] = [];
    let lastErr: unknown = null;
    while (m !== null) {
      tried.push(m);
      try {
        const flow = await m.outbound.openUdp!({ ...opts, session: memberView(s) });
        m.succeeded();
        if (s.exit !== undefined && s.exit !== m.name) s.exit = m.name;
        return new CountedFlow(flow, m);
      } catch (err) {
        lastErr = err;
        if (opts.signal?.aborted || !isExitFault(err)) throw err;
        m.faulted(err as Error, this.now());
        if (tried.length >= maxAttempts) break;
        m = this.chooseOrNull(s, tried, canUdp);
      }
    }
    const last = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new FerryError(
      lastErr instanceof FerryError ? lastErr.code : 'E_UPSTREAM_UNREACHABLE',
      `pool ${this.name}: ${tried.length} UDP exit(s) failed; last: ${last}`,
      { cause: lastErr },
    );
  }

  state(): PoolState {
    return {
      name: this.name,
      strategy: this.strategyName,
      rotation: this.rotation,
      stickySessions: this.sticky.size,
      members: this.members.map((m) => m.state()),
    };
  }

  /** This pool runs active probes itself (probes: own and a probe configured). */
  get probing(): boolean {
    return this.prober !== null;
  }

  /** Applies probe results decided elsewhere (probes: external); unknown members are ignored. */
  adoptProbeState(member: string, state: ProbeState): void {
    this.byName.get(member)?.adoptProbeState(state);
  }

  /** Runs one round of active probes now (tests, `ferry exits --probe`). */
  probeNow(): Promise<void> {
    return this.prober?.round() ?? Promise.resolve();
  }

  close(): void {
    this.prober?.stop();
    this.sticky.close();
    this.clientPins.close();
  }

  // ------------------------------------------------------------------ choice

  /** A session's exit is pinned when the login asks for one (session id, tags) or rotation is not per connection. */
  private pinned(s: Session): boolean {
    if (this.rotation !== 'connection') return true;
    const p = s.params;
    return p !== undefined && (p[SESSION_KEY] !== undefined || tagFilter(p) !== null);
  }

  private choose(s: Session, exclude: readonly Member[] | null, able: Capability | null = null): Member {
    const m = this.chooseOrNull(s, exclude, able);
    if (m !== null) return m;
    const filter = tagFilter(s.params);
    if (able !== null && !this.members.some((x) => able(x) && x.matches(filter)))
      throw new FerryError(
        'E_UNSUPPORTED',
        `pool ${this.name}: no exit${filter ? ` with ${describe(filter)}` : ''} can relay UDP`,
      );
    if (filter !== null && !this.members.some((x) => x.matches(filter)))
      throw new FerryError('E_POLICY_DENIED', `pool ${this.name}: no exit has ${describe(filter)}`);
    throw new FerryError(
      'E_UPSTREAM_UNREACHABLE',
      `pool ${this.name}: no healthy exit${filter ? ` with ${describe(filter)}` : ''}`,
    );
  }

  /**
   * `able` restricts the choice to members with a capability (UDP). A sticky entry or interval
   * member without it stays as it is for the others; the capable choice is kept under a key of its
   * own (suffix CAPABLE_KEY).
   */
  private chooseOrNull(
    s: Session,
    exclude: readonly Member[] | null,
    able: Capability | null = null,
  ): Member | null {
    const now = this.now();
    const filter = tagFilter(s.params);
    const candidates = this.candidates(filter, exclude, now, able);
    if (candidates.length === 0) return null;
    const sid = s.params?.[SESSION_KEY];
    if (sid !== undefined && s.user !== null) {
      let key = stickyKey(s.user, sid, filter);
      let e = this.sticky.get(key, now);
      let held = e !== undefined ? this.byName.get(e.member) : undefined;
      if (held !== undefined && able !== null && !able(held)) {
        key += CAPABLE_KEY;
        e = this.sticky.get(key, now);
        held = e !== undefined ? this.byName.get(e.member) : undefined;
      }
      if (held !== undefined && candidates.includes(held)) return held;
      const m = this.cfg.coordinated
        ? rendezvous(candidates, key)
        : this.strategy.pick(candidates, s.dest.host);
      this.sticky.set(key, m.name, this.sessionTtl(s), now);
      return m;
    }
    if (this.rotation === 'interval' && this.cfg.coordinated) {
      const n = Math.floor(now / (this.cfg.rotationIntervalMs ?? 60_000));
      const fk = filter === null ? NO_FILTER_KEY : describe(filter);
      return rendezvous(candidates, `${fk}\0${n}`);
    }
    if (this.rotation === 'interval') {
      let fk = filter === null ? NO_FILTER_KEY : describe(filter);
      let cur = this.epoch.get(fk);
      if (cur !== undefined && able !== null && !able(cur.member)) {
        fk += CAPABLE_KEY;
        cur = this.epoch.get(fk);
      }
      if (cur !== undefined && now < cur.until && candidates.includes(cur.member)) return cur.member;
      const m = this.strategy.pick(candidates, s.dest.host);
      // A member replaced because it failed keeps the rest of the epoch; a new epoch starts otherwise.
      const until =
        cur !== undefined && now < cur.until ? cur.until : now + (this.cfg.rotationIntervalMs ?? 60_000);
      this.epoch.set(fk, { member: m, until });
      return m;
    }
    return this.strategy.pick(candidates, s.dest.host);
  }

  private candidates(
    filter: Record<string, string> | null,
    exclude: readonly Member[] | null,
    now: number,
    able: Capability | null,
  ): Member[] {
    const out: Member[] = [];
    let usable = 0;
    for (const m of this.members) {
      if (!m.matches(filter) || (exclude !== null && exclude.includes(m))) continue;
      if (able !== null && !able(m)) continue;
      if (m.usable(now)) {
        usable++;
        out.push(m);
      }
    }
    // With every matching member ejected, try them anyway rather than fail without trying: the
    // fault may have been transient, and a retry is the client's only chance.
    if (usable === 0 && exclude === null) {
      for (const m of this.members) if (m.matches(filter) && (able === null || able(m))) out.push(m);
    }
    return out;
  }

  /** After failover, a pinned session (and its sticky entry) follows the member that worked. */
  private repin(s: Session, m: Member): void {
    s.exit = m.name;
    const pin = `${s.source.address} ${s.source.port}`;
    if (this.clientPins.get(pin, this.now()) !== undefined)
      this.clientPins.set(pin, m.name, CLIENT_PIN_IDLE_MS, this.now());
    const sid = s.params?.[SESSION_KEY];
    if (sid !== undefined && s.user !== null)
      this.sticky.set(stickyKey(s.user, sid, tagFilter(s.params)), m.name, this.sessionTtl(s), this.now());
  }

  private sessionTtl(s: Session): number {
    const n = s.params?.[SESSTIME_KEY];
    if (n === undefined) return this.cfg.stickyTtlMs ?? DEFAULTS.stickyTtlMs;
    const ms = Number(n) * (this.cfg.sesstimeUnitMs ?? DEFAULTS.sesstimeUnitMs);
    return Math.min(ms, this.cfg.stickyMaxTtlMs ?? DEFAULTS.stickyMaxTtlMs);
  }

  private track(m: Member, sock: Socket): void {
    m.active++;
    sock.once('close', () => m.active--);
  }
}

/** The session as a member sees it: without the pool's pin in `exit` (see dial). */
function memberView(s: Session): Session {
  if (s.exit === undefined) return s;
  const { exit: _poolPin, ...rest } = s;
  return rest;
}

/** Sticky keys are per user: one user can never ride (or steal) another user's session. */
function stickyKey(user: string, sid: string, filter: Record<string, string> | null): string {
  return filter === null ? `${user}\0${sid}` : `${user}\0${sid}\0${describe(filter)}`;
}

function describe(filter: Record<string, string>): string {
  return Object.keys(filter)
    .sort()
    .map((k) => `${k}=${filter[k]}`)
    .join(',');
}

/** A member's UDP flow, counted among its open sessions (least-connections, `ferry exits`) until closed. */
class CountedFlow implements UdpFlow {
  private open = true;

  constructor(
    private readonly flow: UdpFlow,
    private readonly member: Member,
  ) {
    member.active++;
  }

  send(data: Buffer, dest: Destination): void {
    this.flow.send(data, dest);
  }

  onMessage(cb: (data: Buffer, from: { address: string; port: number }) => void): void {
    this.flow.onMessage(cb);
  }

  onError(cb: (err: Error) => void): void {
    this.flow.onError(cb);
  }

  close(): void {
    if (this.open) {
      this.open = false;
      this.member.active--;
    }
    this.flow.close();
  }
}

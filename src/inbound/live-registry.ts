// The gateway's open sessions, for the admin API (list, kill) and the operator's `ferry` CLI.
// beginSession registers every routed session here when the gateway runs with a management plane;
// the registry wraps the session's meter so that it can count the session's bytes and close it.
//
// Cost on the hot path: one extra method call and two additions per chunk (the wrapper's up/down),
// no allocation. A kill raises the session's signal (net/kill-signal.ts), which every relay and the
// HTTP connection already watch through `meter.signal`.
import { formatHostPort, type Session } from '../core/session.js';
import { FerryError } from '../core/errors.js';
import type { Meter } from '../net/meter.js';
import { KillSignal, type SessionSignal } from '../net/kill-signal.js';

/** What the listing may show: in privacy mode `none`, no addresses and no times. */
export type ListingDetail = 'full' | 'private';

export interface LiveEntry {
  id: string;
  user: string | null;
  inbound: string;
  outbound: string;
  source?: string;
  destination?: string;
  startedAt?: string;
  bytesUp: number;
  bytesDown: number;
}

/** A meter that can end its session itself (the tier's meter can). */
interface KillableMeter extends Meter {
  kill(reason: unknown): void;
}

const isKillable = (m: Meter): m is KillableMeter =>
  m.signal !== undefined && typeof (m as Partial<KillableMeter>).kill === 'function';

/** A session's meter as the registry hands it out: counts, delegates, and can be killed. */
export class SessionMeter implements Meter {
  upBytes = 0;
  downBytes = 0;
  readonly signal: SessionSignal;
  /** Our own signal, only when the inner meter cannot end the session (no tier, config user). */
  private readonly own: KillSignal | null;

  constructor(
    readonly session: Session,
    readonly outbound: string,
    readonly startedAt: number,
    private readonly inner: Meter,
    private readonly registry: LiveRegistry,
  ) {
    // One signal per session, not two: a tier's meter already has one that a spent quota or a
    // disabled user raises, and a kill goes through it too.
    if (isKillable(inner)) {
      this.own = null;
      this.signal = inner.signal!;
    } else {
      this.own = new KillSignal();
      this.signal = this.own;
    }
  }

  up(n: number): number {
    this.upBytes += n;
    return this.inner.up(n);
  }

  down(n: number): number {
    this.downBytes += n;
    return this.inner.down(n);
  }

  kill(reason: unknown = new FerryError('E_SHUTTING_DOWN', 'session closed by an operator')): void {
    if (this.own === null) (this.inner as KillableMeter).kill(reason);
    else this.own.abort(reason);
  }

  close(): void {
    this.inner.close();
    this.registry.remove(this);
  }
}

export class LiveRegistry {
  private readonly open = new Map<number, SessionMeter>();

  /** `idPrefix` keeps ids unique across worker processes ("w2-" ...). */
  constructor(private readonly idPrefix = '') {}

  get size(): number {
    return this.open.size;
  }

  /** Registers a session begun at `startedAt`; the returned meter removes it again on close(). */
  register(session: Session, outbound: string, inner: Meter, startedAt = Date.now()): SessionMeter {
    const m = new SessionMeter(session, outbound, startedAt, inner, this);
    this.open.set(session.id, m);
    return m;
  }

  /** SessionMeter.close(). */
  remove(m: SessionMeter): void {
    if (this.open.get(m.session.id) === m) this.open.delete(m.session.id);
  }

  /** `userOf` names the account behind a login (several logins may belong to one user). */
  list(detail: ListingDetail, userOf: (login: string) => string = (l) => l): LiveEntry[] {
    const out: LiveEntry[] = [];
    for (const m of this.open.values()) {
      const s = m.session;
      const e: LiveEntry = {
        id: this.idPrefix + String(s.id),
        user: s.user === null ? null : userOf(s.user),
        inbound: s.inbound,
        outbound: m.outbound,
        bytesUp: m.upBytes,
        bytesDown: m.downBytes,
      };
      if (detail === 'full') {
        e.source = formatHostPort(s.source.address, s.source.port);
        e.destination = formatHostPort(s.dest.host, s.dest.port);
        e.startedAt = new Date(m.startedAt).toISOString();
      }
      out.push(e);
    }
    return out;
  }

  kill(id: string): boolean {
    if (!id.startsWith(this.idPrefix)) return false;
    const n = Number(id.slice(this.idPrefix.length));
    const m = Number.isSafeInteger(n) ? this.open.get(n) : undefined;
    if (!m) return false;
    m.kill();
    return true;
  }

  /** Closes every open session of a user (by user name, or by any of their logins). */
  killUser(matches: (login: string) => boolean): number {
    let n = 0;
    for (const m of this.open.values()) {
      if (m.session.user !== null && matches(m.session.user)) {
        m.kill();
        n++;
      }
    }
    return n;
  }
}

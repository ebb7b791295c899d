// Enforcement of service tiers in the data plane. One UserState per user holds the token buckets
// shared by all of that user's sessions (every connection, every protocol), the bytes counted since
// the last flush, the usage already stored for the quota period, and the live sessions (so that a
// spent quota, a disabled user or an operator's kill can close them).
//
// Counting is exact: every byte a relay or the HTTP framer moves goes through Meter.up/down. Usage
// is written to the store in batches (every flushMs and at shutdown), so a crash loses at most one
// batch — the trade-off the issue allows for not writing per chunk.
import { FerryError } from '../../core/errors.js';
import type { Meter } from '../../net/meter.js';
import { TokenBucket } from '../../net/token-bucket.js';
import { KillSignal } from '../../net/kill-signal.js';
import type { InboundKind, QuotaPeriod, Store, Tier, UsageRow } from '../store/types.js';
import { dayOf, periodStart } from '../quota.js';

export interface UserPolicy {
  userId: number;
  name: string;
  tier: Tier | null;
}

/** One session of a user: counts into the user's state, and is what a spent quota aborts. */
class UserMeter implements Meter {
  readonly signal = new KillSignal();

  constructor(private readonly s: UserState) {
    s.sessions.add(this);
  }

  up(n: number): number {
    const s = this.s;
    s.pendingUp += n;
    if (s.quotaSpent()) abortAll(s);
    return s.up ? s.up.take(n) : 0;
  }

  down(n: number): number {
    const s = this.s;
    s.pendingDown += n;
    if (s.quotaSpent()) abortAll(s);
    return s.down ? s.down.take(n) : 0;
  }

  /** Ends the session (quota, user disabled, operator). */
  kill(reason: unknown): void {
    this.signal.abort(reason);
  }

  close(): void {
    this.s.sessions.delete(this);
  }
}

function abortAll(s: UserState): void {
  // Relays may report a chunk or two after their session was closed: nothing to close again.
  if (s.sessions.size === 0) return;
  const err = new FerryError('E_QUOTA', 'quota used up');
  for (const l of s.sessions) l.kill(err);
  s.sessions.clear();
}

class UserState {
  up: TokenBucket | null = null;
  down: TokenBucket | null = null;
  pendingUp = 0;
  pendingDown = 0;
  /** Usage in the current quota period already in the store, all nodes (re-read after each flush). */
  storedInPeriod = 0;
  readonly sessions = new Set<UserMeter>();
  constructor(public policy: UserPolicy) {
    this.applyTier();
  }
  applyTier(): void {
    const t = this.policy.tier;
    this.up = t?.upBps ? (this.up ? (this.up.setRate(t.upBps), this.up) : new TokenBucket(t.upBps)) : null;
    this.down = t?.downBps
      ? this.down
        ? (this.down.setRate(t.downBps), this.down)
        : new TokenBucket(t.downBps)
      : null;
  }
  usedInPeriod(): number {
    return this.storedInPeriod + this.pendingUp + this.pendingDown;
  }
  quotaSpent(): boolean {
    const q = this.policy.tier?.quotaBytes;
    return q !== null && q !== undefined && this.usedInPeriod() >= q;
  }
}

export interface UsageManagerOptions {
  store: Store | null;
  flushMs?: number;
  now?: () => number;
  onError?: (err: Error) => void;
}

export class UsageManager {
  private readonly users = new Map<string, UserState>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: UsageManagerOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.store && (opts.flushMs ?? 2000) > 0) {
      this.timer = setInterval(() => void this.flush(), opts.flushMs ?? 2000);
      this.timer.unref();
    }
  }

  /** Replaces the user/tier snapshot (after a store revision change); live sessions keep running. */
  async setPolicies(policies: UserPolicy[]): Promise<void> {
    const seen = new Set<string>();
    for (const p of policies) {
      seen.add(p.name);
      const s = this.users.get(p.name);
      if (s) {
        s.policy = p;
        s.applyTier();
      } else this.users.set(p.name, new UserState(p));
    }
    for (const [name, s] of this.users) {
      if (!seen.has(name)) {
        abortAll(s); // removed or disabled: close what they have open
        this.users.delete(name);
      }
    }
    // A sync that started before the new policies may not know the new users: wait for it, then run
    // one that does (or join one that started after the policies were set).
    await this.flushing;
    await this.flush();
  }

  /**
   * Re-reads each user's usage in their quota period from the store: one query per period kind.
   * It includes what other nodes and worker processes wrote, which is how a quota holds across them.
   * Runs only inside a flush (never concurrently with one), so that bytes moved from pending to
   * stored are in the store when this reads it.
   */
  private async refreshStored(): Promise<void> {
    const store = this.opts.store;
    if (!store) return;
    const now = this.now();
    const periods = new Set<QuotaPeriod>();
    for (const s of this.users.values())
      if (s.policy.tier?.quotaBytes) periods.add(s.policy.tier.quotaPeriod);
    const totals = new Map<QuotaPeriod, Map<number, number>>();
    for (const p of periods) {
      const m = new Map<number, number>();
      for (const r of await store.usageTotals(periodStart(p, now))) m.set(r.userId, r.bytesUp + r.bytesDown);
      totals.set(p, m);
    }
    for (const s of this.users.values()) {
      const t = s.policy.tier;
      if (!t?.quotaBytes) continue;
      s.storedInPeriod = totals.get(t.quotaPeriod)?.get(s.policy.userId) ?? 0;
      if (s.quotaSpent()) abortAll(s);
    }
  }

  /**
   * Checks a new session of `user` against the tier: quota, inbound kind, exit, concurrent
   * connections (not when `continuing` an open session). Throws the FerryError the client should see.
   */
  admit(user: string, kind: InboundKind, exit: string, continuing = false): void {
    const s = this.users.get(user);
    if (s) this.check(s, kind, exit, continuing);
  }

  /** A meter for one session of `user` (null user: counted nowhere). */
  meter(user: string | null): Meter {
    const s = user === null ? undefined : this.users.get(user);
    return s ? new UserMeter(s) : UNMETERED;
  }

  /** admit() and meter() with one lookup: what the data plane calls for every new session. */
  openSession(user: string, kind: InboundKind, exit: string): Meter {
    const s = this.users.get(user);
    if (!s) return UNMETERED; // a config-only user: no tier, not counted
    this.check(s, kind, exit);
    return new UserMeter(s);
  }

  /** `continuing`: more of a session already counted (its connection is not a new one). */
  private check(s: UserState, kind: InboundKind, exit: string, continuing = false): void {
    const t = s.policy.tier;
    if (!t) return;
    if (t.expiresAt !== null && t.expiresAt <= this.now())
      throw new FerryError('E_QUOTA', `the tier '${t.name}' of this account has expired`);
    if (s.quotaSpent())
      throw new FerryError(
        'E_QUOTA',
        `data quota of ${t.quotaBytes} bytes per ${t.quotaPeriod === 'month' ? 'month' : '30 days'} is used up`,
      );
    if (t.inbounds && !t.inbounds.includes(kind))
      throw new FerryError('E_POLICY_DENIED', `the tier '${t.name}' does not include ${kind} access`);
    if (t.exits && !t.exits.includes(exit))
      throw new FerryError('E_POLICY_DENIED', `the tier '${t.name}' does not include the exit '${exit}'`);
    if (!continuing && t.maxConnections !== null && s.sessions.size >= t.maxConnections) {
      throw new FerryError(
        'E_LIMIT',
        `the tier '${t.name}' allows ${t.maxConnections} concurrent connections`,
      );
    }
  }

  /** Closes every live session of a user (operator action). Returns how many. */
  killUser(user: string): number {
    const s = this.users.get(user);
    if (!s) return 0;
    const n = s.sessions.size;
    abortAll(s);
    return n;
  }

  liveSessions(user: string): number {
    return this.users.get(user)?.sessions.size ?? 0;
  }

  /**
   * Writes the counted bytes to the store as one batch, then re-reads the quota periods' usage.
   * Concurrent calls share one run.
   */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.opts.store) return Promise.resolve();
    this.flushing = this.writeAndRefresh().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async writeAndRefresh(): Promise<void> {
    const store = this.opts.store!;
    const day = dayOf(this.now());
    const rows: UsageRow[] = [];
    const taken: [UserState, number, number][] = [];
    for (const s of this.users.values()) {
      if (s.pendingUp === 0 && s.pendingDown === 0) continue;
      rows.push({ userId: s.policy.userId, day, bytesUp: s.pendingUp, bytesDown: s.pendingDown });
      taken.push([s, s.pendingUp, s.pendingDown]);
    }
    // Move the bytes from pending to stored before awaiting, so counting goes on meanwhile; on a
    // failed write they go back to pending and the next flush retries.
    for (const [s, up, down] of taken) {
      s.pendingUp -= up;
      s.pendingDown -= down;
      s.storedInPeriod += up + down;
    }
    try {
      if (rows.length > 0) await store.addUsage(rows);
    } catch (err) {
      for (const [s, up, down] of taken) {
        s.pendingUp += up;
        s.pendingDown += down;
        s.storedInPeriod -= up + down;
      }
      this.opts.onError?.(err as Error);
      return;
    }
    try {
      await this.refreshStored();
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}

const UNMETERED: Meter = { up: () => 0, down: () => 0, signal: undefined, close: () => undefined };

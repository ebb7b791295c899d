// One exit of a pool: an outbound with tags, a weight, a health record and counters. The health
// rules are here; the probing loop is in health.ts and the choice among members in strategy.ts.
import type { Outbound } from '../outbound.js';

export interface HealthPolicy {
  /** Consecutive exit faults (passive) or failed probes (active) that eject a member. */
  maxFails: number;
  /** Passive only: an ejected member gets a trial request after this long. */
  ejectMs: number;
  /** Active probes run (when > 0) and alone bring an ejected member back. */
  probeIntervalMs: number;
}

export interface MemberState {
  name: string;
  kind: string;
  tags: Record<string, string>;
  weight: number;
  healthy: boolean;
  consecutiveFails: number;
  active: number;
  ok: number;
  failed: number;
  lastError: string | null;
  /** Milliseconds of the last successful probe. */
  probeMs: number | null;
  downSince: string | null;
  /** With several workers (`ferry serve --workers N`): in how many of them the member is ejected. */
  workers?: { down: number; of: number };
}

/** What active probing has decided about a member, as passed between processes. */
export interface ProbeState {
  healthy: boolean;
  fails: number;
  downAt: number;
  probeMs: number | null;
  lastError: string | null;
}

export class Member {
  healthy = true;
  fails = 0;
  downAt = 0;
  /** Open connections through this member (least-connections; `ferry exits`). */
  active = 0;
  ok = 0;
  failed = 0;
  lastError: string | null = null;
  probeMs: number | null = null;
  /** Smooth weighted round-robin state (strategy.ts). */
  current = 0;

  constructor(
    readonly outbound: Outbound,
    readonly tags: Readonly<Record<string, string>>,
    readonly weight: number,
    private readonly policy: HealthPolicy,
  ) {}

  get name(): string {
    return this.outbound.name;
  }

  /** May take traffic now. A passively ejected member becomes eligible again (on trial) after ejectMs. */
  usable(now: number): boolean {
    if (this.healthy) return true;
    if (this.policy.probeIntervalMs > 0) return false;
    return now - this.downAt >= this.policy.ejectMs;
  }

  matches(filter: Readonly<Record<string, string>> | null): boolean {
    if (filter === null) return true;
    for (const k in filter) if (this.tags[k] !== filter[k]) return false;
    return true;
  }

  succeeded(): void {
    this.ok++;
    this.fails = 0;
    if (!this.healthy) this.recover();
  }

  /** An exit fault: a dial through this member failed because of the member. */
  faulted(err: Error, now: number): void {
    this.failed++;
    this.lastError = err.message;
    this.fails++;
    // A member on trial after ejection goes straight back out on its first fault.
    if (!this.healthy) this.downAt = now;
    else if (this.fails >= this.policy.maxFails) this.eject(now);
  }

  probeResult(ok: boolean, ms: number, err: string | null, now: number): void {
    if (ok) {
      this.probeMs = ms;
      this.fails = 0;
      if (!this.healthy) this.recover();
      return;
    }
    this.lastError = err;
    this.fails++;
    if (this.healthy && this.fails >= this.policy.maxFails) this.eject(now);
  }

  /**
   * Takes over the probe-driven health another process decided (the cluster primary runs the only
   * prober; see server/cluster-exits.ts). A passive ejection here lasts until the next state that
   * says healthy, as it would until the next successful probe.
   */
  adoptProbeState(s: ProbeState): void {
    this.fails = s.fails;
    this.probeMs = s.probeMs;
    if (s.lastError !== null) this.lastError = s.lastError;
    if (s.healthy) {
      if (!this.healthy) this.recover();
    } else if (this.healthy) {
      this.eject(s.downAt);
    }
  }

  probeState(): ProbeState {
    return {
      healthy: this.healthy,
      fails: this.fails,
      downAt: this.downAt,
      probeMs: this.probeMs,
      lastError: this.lastError,
    };
  }

  private eject(now: number): void {
    this.healthy = false;
    this.downAt = now;
  }

  private recover(): void {
    this.healthy = true;
    this.fails = 0;
  }

  state(): MemberState {
    return {
      name: this.name,
      kind: this.outbound.kind,
      tags: { ...this.tags },
      weight: this.weight,
      healthy: this.healthy,
      consecutiveFails: this.fails,
      active: this.active,
      ok: this.ok,
      failed: this.failed,
      lastError: this.lastError,
      probeMs: this.probeMs,
      downSince: this.healthy ? null : new Date(this.downAt).toISOString(),
    };
  }
}

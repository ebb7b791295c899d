// Brute-force throttle: after `maxFailures` failed logins from one source address within `windowMs`,
// further attempts from it are refused without checking the password until the window has passed.
// Memory is bounded: the table is pruned when it grows past `maxEntries`.
export interface ThrottleOptions {
  maxFailures: number;
  windowMs: number;
  maxEntries?: number;
}

interface Entry {
  failures: number;
  since: number;
}

export class LoginThrottle {
  private readonly table = new Map<string, Entry>();
  constructor(
    private readonly opts: ThrottleOptions,
    private readonly now: () => number = Date.now,
  ) {}

  blocked(source: string): boolean {
    if (this.table.size === 0) return false; // the usual case: no recent failure from anyone
    const e = this.table.get(source);
    if (!e) return false;
    if (this.now() - e.since > this.opts.windowMs) {
      this.table.delete(source);
      return false;
    }
    return e.failures >= this.opts.maxFailures;
  }

  fail(source: string): void {
    const t = this.now();
    const e = this.table.get(source);
    if (!e || t - e.since > this.opts.windowMs) this.table.set(source, { failures: 1, since: t });
    else e.failures++;
    if (this.table.size > (this.opts.maxEntries ?? 100_000)) this.prune(t);
  }

  succeed(source: string): void {
    this.table.delete(source);
  }

  private prune(t: number): void {
    for (const [k, e] of this.table) if (t - e.since > this.opts.windowMs) this.table.delete(k);
    // Still too big (a distributed attack): drop the oldest half; Map iterates in insertion order.
    if (this.table.size > (this.opts.maxEntries ?? 100_000)) {
      let n = this.table.size >> 1;
      for (const k of this.table.keys()) {
        if (n-- <= 0) break;
        this.table.delete(k);
      }
    }
  }
}

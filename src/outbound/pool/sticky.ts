// Sticky sessions: a session id (from the login, "…-session-abc123") maps to one member for as long
// as it is used; an entry idle for its time-to-live is forgotten. Bounded: past `max` entries the
// oldest-touched ones go first (a Map keeps insertion order and a touch re-inserts).
export interface StickyEntry {
  member: string;
  ttlMs: number;
  touched: number;
}

export class StickyTable {
  private readonly m = new Map<string, StickyEntry>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly max = 100_000) {}

  get size(): number {
    return this.m.size;
  }

  /** The live entry for key (and marks it used), or undefined. */
  get(key: string, now: number): StickyEntry | undefined {
    const e = this.m.get(key);
    if (e === undefined) return undefined;
    if (now - e.touched >= e.ttlMs) {
      this.m.delete(key);
      return undefined;
    }
    e.touched = now;
    this.m.delete(key);
    this.m.set(key, e);
    return e;
  }

  set(key: string, member: string, ttlMs: number, now: number): void {
    this.m.delete(key);
    if (this.m.size >= this.max) {
      const oldest = this.m.keys().next();
      if (!oldest.done) this.m.delete(oldest.value);
    }
    this.m.set(key, { member, ttlMs, touched: now });
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(Date.now()), 1000);
      this.sweeper.unref();
    }
  }

  /** Drops expired entries (entries carry their own time-to-live, so every one is looked at). */
  sweep(now: number): void {
    for (const [k, e] of this.m) if (now - e.touched >= e.ttlMs) this.m.delete(k);
    if (this.m.size === 0) this.close();
  }

  close(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

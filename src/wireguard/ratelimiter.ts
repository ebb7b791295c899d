// Per-source token bucket for handshake messages while the device is under load (§5.3: cookies make
// a flood attributable to source addresses; this then caps the DH work any one source can cause).
// Same parameters as wireguard-go: 20 handshakes per second sustained, bursts of 5.

import { HANDSHAKE_RATE_BURST, HANDSHAKE_RATE_PER_SECOND, RATE_LIMIT_GC_AFTER } from './constants.js';

interface Bucket {
  tokens: number; // in milliseconds of credit
  last: number;
}

const COST = 1000 / HANDSHAKE_RATE_PER_SECOND; // ms of credit per message
const MAX_TOKENS = COST * HANDSHAKE_RATE_BURST;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastGc = 0;

  /** Consumes one token for `source` at monotonic time `now`; false means drop. */
  allow(source: string, now: number): boolean {
    if (now - this.lastGc >= RATE_LIMIT_GC_AFTER) this.gc(now);
    const b = this.buckets.get(source);
    if (b === undefined) {
      this.buckets.set(source, { tokens: MAX_TOKENS - COST, last: now });
      return true;
    }
    b.tokens = Math.min(MAX_TOKENS, b.tokens + (now - b.last));
    b.last = now;
    if (b.tokens < COST) return false;
    b.tokens -= COST;
    return true;
  }

  /** Forgets sources idle for a second: their buckets would be full again anyway. */
  gc(now: number): void {
    this.lastGc = now;
    for (const [k, b] of this.buckets) if (now - b.last >= RATE_LIMIT_GC_AFTER) this.buckets.delete(k);
  }

  get size(): number {
    return this.buckets.size;
  }
}

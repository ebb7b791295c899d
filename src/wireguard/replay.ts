// Sliding-window replay protection for transport counters (§5.4.6), laid out as in RFC 6479: a ring
// of 32-bit words indexed by counter / 32, where advancing the window only clears the words it skips
// instead of shifting the whole bitmap.
//
// Counters are 64-bit on the wire. To keep the data path free of BigInt allocation they are handled
// as (hi, lo) pairs of unsigned 32-bit halves; every difference computed below is either exact or
// known to exceed the window, which is all the algorithm needs.

import { REPLAY_RING_WORDS, REPLAY_WINDOW_SIZE } from './constants.js';

const RING_MASK = REPLAY_RING_WORDS - 1;
const TWO_32 = 4294967296;

// REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1 = 0xFFFFFFFF_FFFFDFFF (§6.1): that counter and above are refused.
const REJECT_HI = 0xffffffff;
const REJECT_LO = 0xffffdfff;

export class ReplayFilter {
  private readonly ring = new Uint32Array(REPLAY_RING_WORDS);
  // Greatest counter accepted so far. Starts at 0 with an empty ring, so counter 0 is accepted once.
  private lastHi = 0;
  private lastLo = 0;

  reset(): void {
    this.ring.fill(0);
    this.lastHi = 0;
    this.lastLo = 0;
  }

  /** True when (hi, lo) would be accepted now; does not change state (cheap pre-check before decryption). */
  check(hi: number, lo: number): boolean {
    if (hi === REJECT_HI && lo >= REJECT_LO) return false;
    if (hi > this.lastHi || (hi === this.lastHi && lo > this.lastLo)) return true;
    if ((this.lastHi - hi) * TWO_32 + (this.lastLo - lo) >= REPLAY_WINDOW_SIZE) return false;
    return (this.ring[(lo >>> 5) & RING_MASK]! & (1 << (lo & 31))) === 0;
  }

  /**
   * Records (hi, lo) as received. Call only after the packet authenticated, otherwise forged
   * counters could slide the window and make genuine packets look old. Returns false for a replay,
   * a counter behind the window, or one at/above REJECT_AFTER_MESSAGES.
   */
  update(hi: number, lo: number): boolean {
    if (hi === REJECT_HI && lo >= REJECT_LO) return false;
    const ring = this.ring;
    if (hi > this.lastHi || (hi === this.lastHi && lo > this.lastLo)) {
      // Window moves forward: clear every word between the old edge and the new one (at most the
      // whole ring). The word-index difference is exact in a double for any gap that matters.
      const oldWord = this.lastLo >>> 5;
      let gap = (hi - this.lastHi) * (TWO_32 / 32) + ((lo >>> 5) - oldWord);
      if (gap > REPLAY_RING_WORDS) gap = REPLAY_RING_WORDS;
      for (let i = 1; i <= gap; i++) ring[(oldWord + i) & RING_MASK] = 0;
      this.lastHi = hi;
      this.lastLo = lo;
    } else if ((this.lastHi - hi) * TWO_32 + (this.lastLo - lo) >= REPLAY_WINDOW_SIZE) {
      return false;
    }
    const idx = (lo >>> 5) & RING_MASK;
    const bit = 1 << (lo & 31);
    if ((ring[idx]! & bit) !== 0) return false;
    ring[idx] = ring[idx]! | bit;
    return true;
  }

  /** BigInt convenience for tests and tools; the data path uses update(hi, lo). */
  updateBig(counter: bigint): boolean {
    return this.update(Number(counter >> 32n), Number(counter & 0xffffffffn));
  }

  checkBig(counter: bigint): boolean {
    return this.check(Number(counter >> 32n), Number(counter & 0xffffffffn));
  }
}

// A transport session (§5.4.5, §5.4.6): one pair of symmetric keys with its send counter and
// receive replay window, identified locally by the index the peer puts in its messages.

import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants.js';
import { wipe } from './crypto.js';
import type { SessionKeys } from './noise.js';
import { ReplayFilter } from './replay.js';

/**
 * Send counters are plain numbers. REJECT_AFTER_TIME bounds a keypair's life to 180 s, in which no
 * link can send 2^53 packets (that would take 5e13 packets per second), so the number stays exact;
 * the limit is still enforced, at the smaller of the two bounds, so a nonce can never repeat.
 */
export const SEND_COUNTER_LIMIT = Math.min(Number(REJECT_AFTER_MESSAGES), Number.MAX_SAFE_INTEGER);

export class Keypair<P = unknown> {
  sendCounter = 0;
  readonly replay = new ReplayFilter();
  sendKey: Uint8Array | null;
  receiveKey: Uint8Array | null;
  readonly isInitiator: boolean;
  readonly localIndex: number;
  readonly remoteIndex: number;

  constructor(
    readonly peer: P,
    keys: SessionKeys,
    /** Monotonic ms at derivation; all of §6's per-session timers count from here. */
    readonly created: number,
  ) {
    this.sendKey = keys.sendKey;
    this.receiveKey = keys.receiveKey;
    this.isInitiator = keys.isInitiator;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
  }

  /** Usable for sending at `now`: keys present, younger than REJECT_AFTER_TIME, counter not exhausted. */
  canSend(now: number): boolean {
    return (
      this.sendKey !== null && now - this.created < REJECT_AFTER_TIME && this.sendCounter < SEND_COUNTER_LIMIT
    );
  }

  /** Usable for receiving at `now` (§6.1: nothing is accepted on a session older than REJECT_AFTER_TIME). */
  canReceive(now: number): boolean {
    return this.receiveKey !== null && now - this.created < REJECT_AFTER_TIME;
  }

  /** Stops sending on this keypair without dropping it (a key change invalidates it for new traffic). */
  expireForSending(): void {
    this.sendCounter = SEND_COUNTER_LIMIT;
  }

  wipe(): void {
    wipe(this.sendKey);
    wipe(this.receiveKey);
    this.sendKey = null;
    this.receiveKey = null;
  }
}

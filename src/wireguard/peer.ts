// State the device keeps for one peer: configuration, handshake, the three session slots of §6.1
// (previous / current / next), timers, queued packets and counters. The protocol logic that moves
// this state lives in device.ts; this file only owns the data and its invariants.

import { KEY_SIZE, STAGED_QUEUE_SIZE } from './constants.js';
import { CookieGenerator } from './cookie.js';
import { wipe } from './crypto.js';
import { Keypair } from './keypair.js';
import { Handshake } from './noise.js';
import { PeerTimers } from './timers.js';

export interface PeerEndpoint {
  address: string;
  port: number;
}

export class Peer {
  readonly handshake: Handshake;
  readonly cookies: CookieGenerator;
  readonly timers: PeerTimers;
  presharedKey: Uint8Array | null = null;
  endpoint: PeerEndpoint | null = null;
  /** Seconds; 0 disables. */
  persistentKeepalive = 0;

  /**
   * §6.1: `current` sends and receives; `previous` only receives (packets in flight during a
   * rekey); `next` is a responder's session that must not send until the initiator proves it has
   * it (key confirmation, §5.4.5), i.e. until the first packet arrives on it.
   */
  previous: Keypair<Peer> | null = null;
  current: Keypair<Peer> | null = null;
  next: Keypair<Peer> | null = null;

  /** Local index of our pending initiation, registered in the device's index table. */
  handshakeIndex: number | null = null;
  /** Monotonic ms of the last initiation or response we sent (REKEY_TIMEOUT spacing, §6.4). */
  lastSentHandshake = -Infinity;
  lastHandshakeWallMs = 0;
  rxBytes = 0;
  txBytes = 0;

  /** Packets waiting for a session, oldest first; bounded, dropping the oldest when full. */
  staged: Uint8Array[] = [];

  constructor(
    readonly publicKey: Uint8Array,
    readonly id: string,
    armed: (deadline: number) => void,
  ) {
    this.handshake = new Handshake(publicKey);
    this.cookies = new CookieGenerator(publicKey);
    this.timers = new PeerTimers(armed);
  }

  setPresharedKey(psk: Uint8Array | null): void {
    if (psk !== null && psk.length !== KEY_SIZE) throw new RangeError('preshared key must be 32 bytes');
    this.presharedKey = psk === null ? null : Uint8Array.from(psk);
    // An absent PSK is 32 zero bytes in the handshake (§5.2: "Q ... zeros if not in use").
    wipe(this.handshake.presharedKey);
    this.handshake.presharedKey = psk === null ? new Uint8Array(KEY_SIZE) : Uint8Array.from(psk);
  }

  /** Queues a copy of `packet` (the caller may reuse its buffer). Returns true if one was dropped. */
  stage(packet: Uint8Array): boolean {
    let dropped = false;
    if (this.staged.length >= STAGED_QUEUE_SIZE) {
      this.staged.shift();
      dropped = true;
    }
    this.staged.push(Uint8Array.from(packet));
    return dropped;
  }

  keypairs(): Array<Keypair<Peer>> {
    const out: Array<Keypair<Peer>> = [];
    if (this.previous) out.push(this.previous);
    if (this.current) out.push(this.current);
    if (this.next) out.push(this.next);
    return out;
  }
}

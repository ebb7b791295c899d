// Per-peer timer state of §6, kept as absolute monotonic deadlines (Infinity = not pending) instead of
// OS timers: the device asks every peer for its earliest deadline and runs the expired ones in tick().
// The event hooks mirror the places in §6 (and wireguard-go's timers.go) where a timer is armed or
// cancelled; what happens on expiry is up to the device.

import {
  KEEPALIVE_TIMEOUT,
  NEW_HANDSHAKE_AFTER_UNANSWERED,
  REKEY_TIMEOUT,
  ZERO_KEY_MATERIAL_AFTER,
} from './constants.js';

export class PeerTimers {
  /** §6.4: resend the initiation if no response came within REKEY_TIMEOUT (+ jitter). */
  retransmitHandshake = Infinity;
  /** §6.5: send a keepalive if we received data and sent nothing back within KEEPALIVE_TIMEOUT. */
  sendKeepalive = Infinity;
  /** §6.2: start a handshake if data we sent got no reply within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT. */
  newHandshake = Infinity;
  /** §6.3: erase all keys if no new session appeared within 3 * REJECT_AFTER_TIME. */
  zeroKeyMaterial = Infinity;
  /** §6.5: opt-in keepalive every N seconds regardless of traffic (NAT bindings). */
  persistentKeepalive = Infinity;

  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  /** §6.2: the "receive side" rekey is attempted only once per session. */
  sentLastMinuteHandshake = false;

  /** `armed` is told about every new deadline so the device can keep its earliest one current. */
  constructor(private readonly armed: (deadline: number) => void) {}

  private set(deadline: number): number {
    this.armed(deadline);
    return deadline;
  }

  dataSent(now: number, jitter: number): void {
    if (this.newHandshake === Infinity)
      this.newHandshake = this.set(now + NEW_HANDSHAKE_AFTER_UNANSWERED + jitter);
  }

  dataReceived(now: number): void {
    if (this.sendKeepalive === Infinity) this.sendKeepalive = this.set(now + KEEPALIVE_TIMEOUT);
    else this.needAnotherKeepalive = true;
  }

  /** Anything we send carries our liveness, so a pending keepalive is unnecessary. */
  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive = Infinity;
  }

  /** Anything authenticated from the peer answers our data, so no dead-peer handshake is needed. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshake = Infinity;
  }

  anyAuthenticatedPacketTraversal(now: number, persistentKeepaliveSeconds: number): void {
    if (persistentKeepaliveSeconds > 0)
      this.persistentKeepalive = this.set(now + persistentKeepaliveSeconds * 1000);
  }

  handshakeInitiated(now: number, jitter: number): void {
    this.retransmitHandshake = this.set(now + REKEY_TIMEOUT + jitter);
  }

  handshakeComplete(): void {
    this.retransmitHandshake = Infinity;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  sessionDerived(now: number): void {
    this.zeroKeyMaterial = this.set(now + ZERO_KEY_MATERIAL_AFTER);
  }

  /** Used when handshaking is abandoned: start the erase countdown unless one is running. */
  armZeroKeyMaterial(now: number): void {
    if (this.zeroKeyMaterial === Infinity) this.zeroKeyMaterial = this.set(now + ZERO_KEY_MATERIAL_AFTER);
  }

  rearmKeepalive(now: number): void {
    this.sendKeepalive = this.set(now + KEEPALIVE_TIMEOUT);
  }

  clear(): void {
    this.retransmitHandshake = this.sendKeepalive = this.newHandshake = Infinity;
    this.zeroKeyMaterial = this.persistentKeepalive = Infinity;
    this.handshakeAttempts = 0;
    this.needAnotherKeepalive = false;
    this.sentLastMinuteHandshake = false;
  }

  earliest(): number {
    return Math.min(
      this.retransmitHandshake,
      this.sendKeepalive,
      this.newHandshake,
      this.zeroKeyMaterial,
      this.persistentKeepalive,
    );
  }
}

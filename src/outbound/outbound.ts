// An outbound opens connections (and UDP flows) to destinations. Direct dials the destination
// itself; later ones chain through upstream proxies or pools. Nothing else knows how.
import type { Socket } from 'node:net';
import type { Destination, Session } from '../core/session.js';
import type { AddressGuard } from '../router/address-guard.js';

export interface DialOptions {
  guard: AddressGuard;
  connectTimeoutMs: number;
  session: Session;
  signal?: AbortSignal;
}

export interface UdpFlow {
  /** Sends a datagram to dest (names are resolved and guard-checked). Errors are reported via onError. */
  send(data: Buffer, dest: Destination): void;
  onMessage(cb: (data: Buffer, from: { address: string; port: number }) => void): void;
  onError(cb: (err: Error) => void): void;
  close(): void;
}

export interface Outbound {
  readonly name: string;
  readonly kind: string;
  dial(dest: Destination, opts: DialOptions): Promise<Socket>;
  /** Present when the outbound can relay UDP. */
  openUdp?(opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow>;
  close?(): void;
}

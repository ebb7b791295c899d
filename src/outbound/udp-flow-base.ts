// What every outbound's UdpFlow has in common: the two callbacks a flow reports through, the closed
// flag, the guard's refusal, and (for flows that resolve names themselves) a small per-flow cache of
// guard-checked name resolutions — a datagram flow sends many packets to the same few names.
import { FerryError } from '../core/errors.js';
import type { Destination } from '../core/session.js';
import type { AddressGuard } from '../router/address-guard.js';
import type { UdpFlow } from './outbound.js';
import { resolveAllowed, type ResolvedAddress } from './resolve.js';

export type UdpMessageHandler = (data: Buffer, from: { address: string; port: number }) => void;

/** Names remembered per flow; a flow talks to a few names, so a full cache is simply dropped. */
const MAX_NAMES = 256;

export abstract class UdpFlowBase implements UdpFlow {
  protected msgCb: UdpMessageHandler | null = null;
  protected errCb: ((err: Error) => void) | null = null;
  protected closed = false;
  private names: Map<string, Promise<ResolvedAddress[]>> | null = null;

  abstract send(data: Buffer, dest: Destination): void;
  abstract close(): void;

  onMessage(cb: UdpMessageHandler): void {
    this.msgCb = cb;
  }

  onError(cb: (err: Error) => void): void {
    this.errCb = cb;
  }

  /** Reports a destination the address guard refuses, with the guard's reason. */
  protected refuse(why: string): void {
    this.errCb?.(new FerryError('E_DEST_FORBIDDEN', `destination refused: ${why}`));
  }

  /**
   * Resolves `dest` (a name) once per flow, guard-checking every answer, then hands the datagram and
   * the first allowed address to `sendTo` — unless the flow closed meanwhile. A failed resolution is
   * reported and forgotten, so the next datagram tries again.
   */
  protected sendResolved(
    data: Buffer,
    dest: Destination,
    guard: AddressGuard,
    sendTo: (data: Buffer, to: ResolvedAddress, port: number) => void,
  ): void {
    const names = (this.names ??= new Map<string, Promise<ResolvedAddress[]>>());
    let p = names.get(dest.host);
    if (p === undefined) {
      p = resolveAllowed(dest, guard);
      if (names.size >= MAX_NAMES) names.clear();
      names.set(dest.host, p);
    }
    p.then(
      (addrs) => {
        if (!this.closed) sendTo(data, addrs[0]!, dest.port);
      },
      (err: Error) => {
        names.delete(dest.host);
        this.errCb?.(err);
      },
    );
  }
}

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
  /** Per name: the guard-checked address once resolved, or the resolution still under way. */
  private names: Map<string, ResolvedAddress | Promise<ResolvedAddress[]>> | null = null;

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
    const names = (this.names ??= new Map<string, ResolvedAddress | Promise<ResolvedAddress[]>>());
    const known = names.get(dest.host);
    // Resolved already: the datagram goes now, without a promise or a closure per packet (send()
    // has checked that the flow is open).
    if (known !== undefined && !(known instanceof Promise)) return sendTo(data, known, dest.port);
    let p = known;
    if (p === undefined) {
      const resolving = resolveAllowed(dest, guard);
      p = resolving;
      if (names.size >= MAX_NAMES) names.clear();
      names.set(dest.host, resolving);
      resolving.then(
        (addrs) => {
          if (names.get(dest.host) === resolving) names.set(dest.host, addrs[0]!);
        },
        () => {
          if (names.get(dest.host) === resolving) names.delete(dest.host);
        },
      );
    }
    // Datagrams sent while the name resolves wait for it, in order.
    p.then(
      (addrs) => {
        if (!this.closed) sendTo(data, addrs[0]!, dest.port);
      },
      (err: Error) => this.errCb?.(err),
    );
  }
}

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
  /**
   * Set by a caller that can send plain-HTTP requests in absolute-form (the HTTP inbound) when
   * `httpProxy(session)` returned non-null: the outbound may then return its connection to the HTTP
   * proxy without opening a CONNECT tunnel. The caller must call `httpProxy(session)` again after
   * dial() — a pool's failover may have moved the session to another member — and send
   * absolute-form with that Proxy-Authorization when it is non-null, origin-form otherwise.
   */
  absoluteForm?: boolean;
  /**
   * The caller will hand the socket to relay() and nothing else reads it: an outbound may then
   * create it with fast reads (net/fast-read.ts). Outbounds that cannot ignore this.
   */
  forRelay?: boolean;
}

/** How to forward a plain-HTTP request through an HTTP upstream proxy (see Outbound.httpProxy). */
export interface HttpProxyForwarding {
  /** Names the proxy connection for reuse: any destination may share it. */
  readonly key: string;
  /** Value of the Proxy-Authorization header to add to each request, or null. */
  readonly proxyAuthorization: string | null;
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
  /**
   * Present on outbounds whose connections differ by exit (pools, rotating source addresses).
   * Chooses the exit for this session now when it is pinned (per-request rotation, sticky session,
   * rotation interval, tag filter from the login) and records it in `session.exit`; leaves it
   * undefined when any exit will do (per-connection rotation). dial() with the same session uses
   * that exit first and, on failover, updates `session.exit` to the member actually used.
   *
   * A caller that keeps idle connections for reuse (the HTTP inbound's origin pool) must call it
   * before looking for one and key its idle connections by `reuseKey(outbound, session)` — both when
   * taking one and, after dial(), when parking the new one — so that a request never rides a
   * connection opened through another exit.
   */
  selectExit?(session: Session): void;
  /**
   * Present on outbounds that may carry plain-HTTP requests to an HTTP upstream proxy as they are
   * (absolute-form, RFC 9112 §3.2.2) rather than through CONNECT — the way to chain to a caching or
   * filtering proxy such as Squid. Returns how, for this session's exit, or null (use dial() as for
   * any other destination). Call after selectExit.
   */
  httpProxy?(session: Session): HttpProxyForwarding | null;
  /**
   * Present on pools: a fault of the exit noticed after dial() succeeded — an HTTP upstream that
   * answers an absolute-form request with 407, refusing our credentials for it — counts against
   * the session's exit as a failed dial would (passive health, ejection).
   */
  reportExitFault?(session: Session, err: Error): void;
  /** Present when the outbound can relay UDP. */
  openUdp?(opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow>;
  close?(): void;
}

/**
 * The key under which a connection opened by `outbound` for `session` may be kept and reused:
 * the outbound's name, plus the pinned exit when there is one (see Outbound.selectExit).
 */
export function reuseKey(outbound: Outbound, session: Session): string {
  return session.exit === undefined ? outbound.name : `${outbound.name}>${session.exit}`;
}

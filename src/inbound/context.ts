// What every inbound gets from the gateway: the current router, the authenticator, limits, timeouts,
// the connection tracker and the logger. Inbounds read `router` and `auth` through getters at the time
// of each new session, so a reload swaps them without touching live connections.
import type { Logger } from '../core/logger.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Router } from '../router/router.js';
import type { ConnTracker } from './tracker.js';

export interface Timeouts {
  /** Client must finish its request/handshake within this. */
  handshakeMs: number;
  /** Dialing the destination. */
  connectMs: number;
  /** A tunnel or keep-alive connection with no traffic either way is closed after this. */
  idleMs: number;
}

export interface Limits {
  maxHeaderBytes: number;
  maxConnections: number;
  maxConnectionsPerUser: number;
}

export interface HttpOptions {
  /** Add a Via header (RFC 9110 §7.6.3). Off by default for privacy. */
  via: boolean;
  /** Add X-Forwarded-For with the client address. Off by default for privacy. */
  xForwardedFor: boolean;
}

/**
 * The privacy mode (`logging:` in the configuration, docs/management.md): `none` keeps no
 * per-connection record anywhere (not even a refusal's log line); `minimal` logs refusals and bad
 * clients by error code only; `audit` records every session with user, addresses and bytes.
 */
export type AccessLogMode = 'none' | 'minimal' | 'audit';

/** What the data plane reports to metrics (control/metrics.ts implements it). Never per chunk. */
export interface SessionEvents {
  /** A refused or failed session, by stable error code. */
  failed(inbound: string, code: import('../core/errors.js').ErrorCode): void;
  /** A finished session's bytes; `user` only counts in audit mode (the implementation checks). */
  addBytes(inbound: string, up: number, down: number, user: string | null): void;
}

/**
 * Audit mode: where finished and refused sessions go (the store's connection records). The fields
 * come raw — the "host:port" strings and the decision text are built only when records are read
 * (control/audit/record-batch.ts, record-chunk.ts) — so that a session's record costs the data
 * plane a few array slots and no object.
 */
export interface ConnectionSink {
  /**
   * `outbound` and `reason` make the decision: "direct closed"; a refused session passes "refused"
   * and the error code. `at` is when the session began (ms since the epoch).
   */
  addRecord(
    at: number,
    user: string | null,
    inbound: string,
    sourceAddress: string,
    sourcePort: number,
    destHost: string,
    destPort: number,
    bytesUp: number,
    bytesDown: number,
    durationMs: number,
    outbound: string,
    reason: string | null,
  ): void;
}

import type { InboundKind } from '../core/session.js';
export type { InboundKind };

/** Tier enforcement (management plane): admission of a new session and its meter. */
export interface UsageGate {
  /**
   * Admits a new session of `login` and returns its meter (counting, rate limits, the signal that
   * ends it); throws the FerryError the client should see when the user's tier refuses it.
   */
  openSession(login: string, kind: InboundKind, exit: string): import('../net/meter.js').Meter;
  /**
   * Asks the tier again for one more exchange of a session already open (HTTP keep-alive): the
   * same checks as openSession but the concurrent-connection count, which that session is in.
   */
  recheck(login: string, kind: InboundKind, exit: string): void;
}

export interface InboundContext {
  /** The inbound's name, as rules see it. */
  readonly name: string;
  readonly router: () => Router;
  /** null when this inbound does not require authentication. */
  readonly auth: () => Authenticator | null;
  readonly log: Logger;
  readonly timeouts: () => Timeouts;
  readonly limits: () => Limits;
  readonly http: () => HttpOptions;
  readonly accessLog: () => AccessLogMode;
  readonly tracker: ConnTracker;
  /** proxy (default), vpn or encrypted: what a tier's `inbounds` list is matched against. */
  readonly kind?: InboundKind;
  /** Tier enforcement; absent or null without a management store. */
  readonly usage?: () => UsageGate | null;
  /** Metrics (management plane); absent without. */
  readonly metrics?: SessionEvents;
  /** The open-session registry behind the admin API's /sessions; absent without. */
  readonly live?: import('./live-registry.js').LiveRegistry;
  /** Audit mode: where finished sessions' records go (the store's connection records). */
  readonly recordSink?: ConnectionSink;
}

/** A protocol handler: takes an accepted client socket (and bytes already read from it by a sniffer). */
export interface InboundHandler {
  handle(socket: import('node:net').Socket, head?: Buffer): void;
  /** Releases what the handler keeps between connections (idle origin connections). */
  close?(): void;
}

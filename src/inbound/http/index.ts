// The HTTP forward-proxy inbound (RFC 9110/9112 proxy semantics): absolute-form requests with
// keep-alive on both sides, CONNECT tunnels, Upgrade pass-through, Basic proxy authentication.
// The same handler serves `https` inbounds: the gateway hands it TLS sockets, which behave alike.
import type { Socket } from 'node:net';
import type { InboundContext, InboundHandler } from '../context.js';
import { ClientConn, type HandlerShared } from './client-conn.js';
import { OriginPool } from './origin-pool.js';

export interface HttpHandler extends InboundHandler {
  /** Idle origin connections currently pooled (for tests and metrics). */
  readonly pooledConnections: number;
  /** Closes the idle origin connections (on shutdown; live exchanges are the tracker's business). */
  close(): void;
}

/** Idle origin connections per destination, and in total. */
const POOL_PER_KEY = 64;
const POOL_TOTAL = 1024;
/**
 * An idle origin connection is closed after this (or timeouts.idle if shorter): long enough to
 * carry a burst of requests, short enough that most origins (nginx keeps 75 s) have not closed
 * it yet; a request without a body that hits a just-closed one is retried once anyway.
 */
const POOL_IDLE_MS = 15_000;

export function createHttpHandler(ctx: InboundContext): HttpHandler {
  const poolIdleMs = (): number => Math.min(POOL_IDLE_MS, ctx.timeouts().idleMs || POOL_IDLE_MS);
  const pool = new OriginPool(() => ({ perKey: POOL_PER_KEY, total: POOL_TOTAL, idleMs: poolIdleMs() }));
  const shared: HandlerShared = { ctx, pool, poolIdleMs };
  return {
    handle(socket: Socket, head?: Buffer): void {
      new ClientConn(socket, shared, head);
    },
    get pooledConnections(): number {
      return pool.size;
    },
    close(): void {
      pool.closeAll();
    },
  };
}

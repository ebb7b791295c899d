// Idle origin connections kept for reuse (HTTP/1.1 persistence, RFC 9112 §9.3). Small and bounded:
// per destination and in total, idle connections expire, and a connection is only ever returned to
// the pool by an exchange that read its response completely. The key is the outbound name plus the
// destination (or, for a connection to an HTTP upstream proxy, the proxy alone: proxyPoolKey), so
// an outbound that must not share connections (a rotating exit) gets its own keys;
// on take, the outbound and address-guard objects must also be the very ones the current routing
// decision chose, so a reload or a rule with a different guard never inherits another's socket.
import type { Socket } from 'node:net';
import type { Destination } from '../../core/session.js';
import type { Outbound } from '../../outbound/outbound.js';
import type { AddressGuard } from '../../router/address-guard.js';

/** What an exchange does with events of the origin connection it currently uses. */
export interface OriginOwner {
  onOriginData(chunk: Buffer): void;
  onOriginEnd(): void;
  onOriginClose(): void;
  onOriginDrain(): void;
  onOriginTimeout(): void;
}

export function poolKey(outbound: string, dest: Destination): string {
  return `${outbound} ${dest.host} ${dest.port}`;
}

/**
 * The key of a connection to an HTTP upstream proxy that carries absolute-form requests
 * (Outbound.httpProxy): any destination may ride it, so the destination is not part of the key.
 * The NUL keeps it apart from every poolKey.
 */
export function proxyPoolKey(forwardingKey: string): string {
  return `${forwardingKey}\0proxy`;
}

/**
 * An origin socket with listeners attached once for its lifetime (no per-request listener churn);
 * events go to the current owner, or, while idle in the pool, end the connection.
 */
export class OriginConn {
  owner: OriginOwner | null = null;
  idleSince = 0;
  /** True once it has served a request (a failure on it may be a stale keep-alive race). */
  reused = false;
  paused = false;
  private pool: OriginPool | null = null;

  constructor(
    readonly socket: Socket,
    readonly key: string,
    readonly outbound: Outbound,
    readonly guard: AddressGuard,
    idleMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('timeout', this.onTimeout);
    socket.on('error', noop); // 'close' follows and carries the consequence
    if (idleMs > 0) socket.setTimeout(idleMs);
  }

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  destroy(): void {
    this.pool?.drop(this);
    this.owner = null;
    this.socket.destroy();
  }

  /** Hands the socket over to a raw relay (101 Switching Protocols): our listeners go. */
  detach(): Socket {
    const s = this.socket;
    this.owner = null;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onClose);
    s.removeListener('drain', this.onDrain);
    s.removeListener('timeout', this.onTimeout);
    this.resume();
    return s;
  }

  /** @internal used by OriginPool */
  setPool(p: OriginPool | null): void {
    this.pool = p;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.owner !== null) this.owner.onOriginData(chunk);
    else this.destroy(); // an idle connection must be silent; anything else makes it unusable
  };
  private readonly onEnd = (): void => {
    if (this.owner !== null) this.owner.onOriginEnd();
    else this.destroy();
  };
  private readonly onClose = (): void => {
    this.pool?.drop(this);
    const o = this.owner;
    this.owner = null;
    o?.onOriginClose();
  };
  private readonly onDrain = (): void => {
    this.owner?.onOriginDrain();
  };
  private readonly onTimeout = (): void => {
    if (this.owner !== null) this.owner.onOriginTimeout();
    else this.destroy();
  };
}

function noop(): void {}

export interface PoolLimits {
  /** Idle connections kept per key. */
  perKey: number;
  /** Idle connections kept in total. */
  total: number;
  /** An idle connection older than this is closed (and never handed out). */
  idleMs: number;
}

export class OriginPool {
  private readonly idle = new Map<string, OriginConn[]>();
  private count = 0;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly limits: () => PoolLimits) {}

  get size(): number {
    return this.count;
  }

  /**
   * The most recently used idle connection for `key` that was opened by this very outbound under
   * this very guard and has been idle for less than maxIdleMs, or null.
   */
  take(key: string, outbound: Outbound, guard: AddressGuard, maxIdleMs: number): OriginConn | null {
    const list = this.idle.get(key);
    if (list === undefined) return null;
    const now = Date.now();
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i]!;
      if (c.outbound !== outbound || c.guard !== guard || now - c.idleSince > maxIdleMs) continue;
      list.splice(i, 1);
      if (list.length === 0) this.idle.delete(key);
      this.count--;
      c.setPool(null);
      c.socket.ref();
      return c;
    }
    return null;
  }

  /** Parks an idle connection; false when the pool is full (the caller closes it). */
  put(c: OriginConn): boolean {
    const lim = this.limits();
    if (this.count >= lim.total || c.socket.destroyed) return false;
    let list = this.idle.get(c.key);
    if (list === undefined) {
      list = [];
      this.idle.set(c.key, list);
    }
    if (list.length >= lim.perKey) return false;
    c.owner = null;
    c.reused = true;
    c.idleSince = Date.now();
    c.setPool(this);
    // An idle pooled connection must not keep the process alive on shutdown.
    c.socket.unref();
    list.push(c);
    this.count++;
    if (this.sweeper === null) {
      const period = Math.max(100, Math.min(1000, lim.idleMs >> 2));
      this.sweeper = setInterval(this.sweep, period);
      this.sweeper.unref();
    }
    return true;
  }

  /** Removes a connection that closed while idle. */
  drop(c: OriginConn): void {
    const list = this.idle.get(c.key);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.idle.delete(c.key);
    this.count--;
    c.setPool(null);
    if (this.count === 0) this.stopSweeper();
  }

  closeAll(): void {
    for (const list of this.idle.values()) for (const c of list.splice(0)) c.destroy();
    this.idle.clear();
    this.count = 0;
    this.stopSweeper();
  }

  private readonly sweep = (): void => {
    const cutoff = Date.now() - this.limits().idleMs;
    const expired: OriginConn[] = [];
    for (const list of this.idle.values()) {
      // Oldest first: each list is in release order.
      for (const c of list) {
        if (c.idleSince > cutoff) break;
        expired.push(c);
      }
    }
    for (const c of expired) c.destroy(); // destroy() drops it from the pool
    if (this.count === 0) this.stopSweeper();
  };

  private stopSweeper(): void {
    if (this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

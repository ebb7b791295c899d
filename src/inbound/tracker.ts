// Live client connections: counted for limits (in total and per user), listed for drain on
// shutdown, and for the tests that check nothing leaks after hostile input.
import type { Socket } from 'node:net';
import { FerryError } from '../core/errors.js';

export class ConnTracker {
  private readonly sockets = new Set<Socket>();
  private readonly perUser = new Map<string, number>();
  draining = false;

  get size(): number {
    return this.sockets.size;
  }

  /** Registers an accepted client socket; throws E_LIMIT / E_SHUTTING_DOWN when it must be refused. */
  admit(s: Socket, maxTotal: number): void {
    if (this.draining) throw new FerryError('E_SHUTTING_DOWN', 'the gateway is shutting down');
    if (this.sockets.size >= maxTotal)
      throw new FerryError('E_LIMIT', `connection limit (${maxTotal}) reached`);
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      if (this.sockets.size === 0) for (const w of this.emptyWaiters.splice(0)) w();
    });
  }

  private readonly emptyWaiters: (() => void)[] = [];

  /** Resolves when no tracked socket is left, or after ms (whichever is first). */
  waitEmpty(ms: number): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.emptyWaiters.push(done);
    });
  }

  /** Counts one session of `user`; throws E_LIMIT over the per-user limit. Undo with leaveUser. */
  enterUser(user: string, max: number): void {
    const n = this.perUser.get(user) ?? 0;
    if (n >= max) throw new FerryError('E_LIMIT', `user connection limit (${max}) reached`);
    this.perUser.set(user, n + 1);
  }

  /** Ends one session counted by enterUser (exactly once per enterUser). */
  leaveUser(user: string): void {
    const m = (this.perUser.get(user) ?? 1) - 1;
    if (m <= 0) this.perUser.delete(user);
    else this.perUser.set(user, m);
  }

  /** enterUser with a release function that may be called more than once. */
  acquireUser(user: string, max: number): () => void {
    this.enterUser(user, max);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leaveUser(user);
    };
  }

  userCount(user: string): number {
    return this.perUser.get(user) ?? 0;
  }

  /** Destroys every tracked socket (end of drain). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

// Bidirectional byte relay between two sockets: backpressure both ways, half-close forwarded, byte
// counts for accounting, rate limits through a Meter, an idle timeout. This is the hot path of every
// tunnel, so it does the minimum per chunk: a counter update, one write, one meter call; the
// listeners are created once per relay, never per chunk.
import type { Socket } from 'node:net';
import { NO_METER, type Meter } from './meter.js';

export interface RelayResult {
  /** Bytes from a (client) to b (destination). */
  up: number;
  /** Bytes from b to a. */
  down: number;
  /** What ended the relay. */
  reason: 'closed' | 'idle' | 'error' | 'aborted';
  error?: Error;
}

export interface RelayOptions {
  idleTimeoutMs: number;
  /** Aborting stops the relay and destroys both sockets (used to close sessions on quota/kill). */
  signal?: AbortSignal;
  /** Byte accounting and rate limits (default: none). */
  meter?: Meter;
}

export function relay(a: Socket, b: Socket, opts: RelayOptions): Promise<RelayResult> {
  return new Promise((resolve) => {
    const result: RelayResult = { up: 0, down: 0, reason: 'closed' };
    const meter = opts.meter ?? NO_METER;
    const signals = [opts.signal, meter.signal].filter((s): s is AbortSignal => s !== undefined);
    let ended = false;
    let aDone = false;
    let bDone = false;
    // A side is read only when neither its peer's write buffer is full nor the rate limit says wait.
    let aWaitDrain = false;
    let aWaitRate = false;
    let bWaitDrain = false;
    let bWaitRate = false;

    const finish = (reason: RelayResult['reason'], err?: Error): void => {
      if (ended) return;
      ended = true;
      if (result.reason === 'closed') result.reason = reason;
      if (err) result.error = err;
      for (const s of signals) s.removeEventListener('abort', onAbort);
      clearTimeout(aTimer);
      clearTimeout(bTimer);
      a.setTimeout(0);
      b.setTimeout(0);
      a.destroy();
      b.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish('aborted');
    if (signals.some((s) => s.aborted)) return finish('aborted');
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });

    let aTimer: NodeJS.Timeout | undefined;
    let bTimer: NodeJS.Timeout | undefined;
    const resumeA = (): void => {
      aWaitRate = false;
      if (!aWaitDrain && !ended) a.resume();
    };
    const resumeB = (): void => {
      bWaitRate = false;
      if (!bWaitDrain && !ended) b.resume();
    };

    a.on('data', (chunk: Buffer) => {
      result.up += chunk.length;
      if (!b.write(chunk)) {
        aWaitDrain = true;
        a.pause();
      }
      const wait = meter.up(chunk.length);
      if (wait > 0) {
        aWaitRate = true;
        a.pause();
        aTimer = setTimeout(resumeA, wait);
      }
    });
    b.on('data', (chunk: Buffer) => {
      result.down += chunk.length;
      if (!a.write(chunk)) {
        bWaitDrain = true;
        b.pause();
      }
      const wait = meter.down(chunk.length);
      if (wait > 0) {
        bWaitRate = true;
        b.pause();
        bTimer = setTimeout(resumeB, wait);
      }
    });
    b.on('drain', () => {
      aWaitDrain = false;
      if (!aWaitRate) a.resume();
    });
    a.on('drain', () => {
      bWaitDrain = false;
      if (!bWaitRate) b.resume();
    });
    // Half-close: when one side finishes sending, pass the FIN on and keep reading the other way.
    a.on('end', () => {
      aDone = true;
      b.end();
      if (bDone) finish('closed');
    });
    b.on('end', () => {
      bDone = true;
      a.end();
      if (aDone) finish('closed');
    });
    a.on('error', (e) => finish('error', e));
    b.on('error', (e) => finish('error', e));
    a.on('close', () => finish('closed'));
    b.on('close', () => finish('closed'));
    if (opts.idleTimeoutMs > 0) {
      // Node resets a socket's timeout on reads and writes, so a one-way transfer keeps both alive.
      a.setTimeout(opts.idleTimeoutMs, () => finish('idle'));
      b.setTimeout(opts.idleTimeoutMs, () => finish('idle'));
    }
    a.resume();
    b.resume();
  });
}

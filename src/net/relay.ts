// Bidirectional byte relay between two sockets: backpressure both ways, half-close forwarded, byte
// counts for accounting, an idle timeout. This is the hot path of every tunnel, so it does the
// minimum per chunk: one counter update and one write.
import type { Socket } from 'node:net';

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
}

export function relay(a: Socket, b: Socket, opts: RelayOptions): Promise<RelayResult> {
  return new Promise((resolve) => {
    const result: RelayResult = { up: 0, down: 0, reason: 'closed' };
    let ended = false;
    let aDone = false;
    let bDone = false;

    const finish = (reason: RelayResult['reason'], err?: Error): void => {
      if (ended) return;
      ended = true;
      if (result.reason === 'closed') result.reason = reason;
      if (err) result.error = err;
      opts.signal?.removeEventListener('abort', onAbort);
      a.setTimeout(0);
      b.setTimeout(0);
      a.destroy();
      b.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish('aborted');
    if (opts.signal?.aborted) return finish('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    a.on('data', (chunk: Buffer) => {
      result.up += chunk.length;
      if (!b.write(chunk)) a.pause();
    });
    b.on('data', (chunk: Buffer) => {
      result.down += chunk.length;
      if (!a.write(chunk)) b.pause();
    });
    b.on('drain', () => a.resume());
    a.on('drain', () => b.resume());
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

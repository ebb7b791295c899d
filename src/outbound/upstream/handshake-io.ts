// Request/response exchanges on a socket during an upstream handshake (HTTP CONNECT, SOCKS).
// Reads with 'readable' + read() rather than 'data', because removing the last 'readable' listener
// puts the stream back in its initial state (readableFlowing === null): whoever takes the socket
// next (relay, the HTTP inbound) attaches 'data' and gets every byte, including any the upstream
// sent right behind its reply, which we unshift.
import type { Duplex } from 'node:stream';
import { FerryError } from '../../core/errors.js';
import { exitFault } from './fault.js';

/**
 * Returns the length of the complete message at the start of `buf`, or 0 when more bytes are
 * needed. Throws (a FerryError) when the bytes cannot be a valid message.
 */
export type Framer = (buf: Buffer) => number;

export interface ExchangeLimits {
  deadline: number;
  signal?: AbortSignal | undefined;
  /** Longest acceptable reply. */
  maxBytes: number;
  /** For error messages: "upstream proxy x (10.0.0.1:3128)". */
  what: string;
}

/** Writes `out` (if any) and resolves with the reply message once `frame` says it is complete. */
export function exchange(
  sock: Duplex,
  out: Buffer | null,
  frame: Framer,
  lim: ExchangeLimits,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf: Buffer | null = null;
    let settled = false;
    const left = lim.deadline - Date.now();
    const timer = setTimeout(
      () => fail(exitFault(new FerryError('E_UPSTREAM_TIMEOUT', `${lim.what}: no handshake reply in time`))),
      Math.max(1, left),
    );
    const onAbort = (): void => fail(new FerryError('E_UPSTREAM_RESET', `${lim.what}: dial aborted`));
    const onEnd = (): void =>
      fail(
        exitFault(
          new FerryError('E_UPSTREAM_RESET', `${lim.what}: closed the connection during the handshake`),
        ),
      );
    const onError = (err: Error): void =>
      fail(exitFault(new FerryError('E_UPSTREAM_RESET', `${lim.what}: ${err.message}`, { cause: err })));
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = sock.read() as Buffer | null) !== null) {
        buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
        let n: number;
        try {
          n = frame(buf);
        } catch (err) {
          return fail(err as Error);
        }
        if (n > 0) {
          if (n < buf.length) sock.unshift(buf.subarray(n));
          cleanup();
          settled = true;
          resolve(buf.subarray(0, n));
          return;
        }
        if (buf.length > lim.maxBytes)
          return fail(
            exitFault(
              new FerryError('E_PROTOCOL', `${lim.what}: handshake reply exceeds ${lim.maxBytes} bytes`),
            ),
          );
      }
    };
    function cleanup(): void {
      clearTimeout(timer);
      lim.signal?.removeEventListener('abort', onAbort);
      sock.removeListener('readable', onReadable);
      sock.removeListener('end', onEnd);
      sock.removeListener('close', onEnd);
      sock.removeListener('error', onError);
    }
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      cleanup();
      reject(err);
    }
    if (lim.signal?.aborted) return fail(new FerryError('E_UPSTREAM_RESET', `${lim.what}: dial aborted`));
    lim.signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('end', onEnd);
    sock.on('close', onEnd);
    sock.on('error', onError);
    sock.on('readable', onReadable);
    if (out !== null) sock.write(out);
  });
}

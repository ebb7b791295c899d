// Opening a TCP connection with a deadline and a cancel signal: the one place outbounds dial from,
// so every dial fails the same way (ETIMEDOUT on the deadline, ECONNRESET on abort, which
// core/errors.ts fromDialError maps to stable codes) and leaves no listener or timer behind.
import { connect, type NetConnectOpts, type Socket } from 'node:net';

/**
 * Connects; resolves with the socket once connected. `prepare` runs on the socket right after it is
 * created (before any read), e.g. to bind fast-read state.
 */
export function connectSocket(
  opts: NetConnectOpts,
  timeoutMs: number,
  signal?: AbortSignal,
  prepare?: (s: Socket) => void,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(opts);
    prepare?.(s);
    const timer = setTimeout(
      () => fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    const onAbort = (): void => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      s.removeListener('error', fail);
      s.removeListener('connect', ok);
    }
    function fail(err: Error): void {
      cleanup();
      s.destroy();
      reject(err);
    }
    function ok(): void {
      cleanup();
      resolve(s);
    }
    s.once('error', fail);
    s.once('connect', ok);
  });
}

// Binding to an address that may not exist yet: the tunnel address appears when the VPN's TUN device
// is configured, which may race with starting the DNS forwarder. EADDRNOTAVAIL is retried until a
// deadline; every other error is final.
import { setTimeout as delay } from 'node:timers/promises';

const RETRY_MS = 100;

export async function bindWithRetry<T>(bind: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await bind();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL' || Date.now() >= deadline) throw e;
      await delay(RETRY_MS);
    }
  }
}

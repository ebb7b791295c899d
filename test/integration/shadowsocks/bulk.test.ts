// Bulk integrity of the fast data path, Ferry client ↔ Ferry server: 16 MiB of random bytes through
// a TCP echo origin, both directions at once, while the application reads in bursts with pauses. This
// drives every reuse decision of the hot path — sealed output buffers recycled after whole writes,
// the client's plaintext buffer reused only after the relay's write completed, frames straddling
// reads, fast-read destination sockets on the server — and any reuse too early corrupts the echo.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpConnectTunnel } from '../../helpers/clients.js';
import { startTcpEcho } from '../../helpers/origin.js';
import { AEAD_METHODS, startFerryClient, startFerryServer } from './harness.js';

const SIZE = 16 * 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const secretFor = (m: string): string =>
  m.startsWith('2022-') ? randomBytes(m.includes('128') ? 16 : 32).toString('base64') : 'bulk-test-secret';

/** Writes `data` in uneven pieces and collects the echo, pausing the reader now and then. */
function echoBulk(s: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let n = 0;
    let reads = 0;
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= data.length) {
        resolve(Buffer.concat(got));
        return;
      }
      // Stop reading for a while once (every buffer on the way back fills up and both Ferry
      // processes see partial writes), then briefly every few reads.
      reads++;
      if (reads === 3 || reads % 7 === 0) {
        s.pause();
        setTimeout(() => s.resume(), reads === 3 ? 400 : 10);
      }
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error(`closed after ${n} of ${data.length} bytes`)));
    let off = 0;
    const pump = (): void => {
      while (off < data.length) {
        const len = Math.min(data.length - off, 1000 + ((off * 7919) % 200_000));
        const ok = s.write(data.subarray(off, off + len));
        off += len;
        if (!ok) {
          s.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

describe('Shadowsocks bulk integrity, Ferry ↔ Ferry', () => {
  let echo: { port: number; close(): void };
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    echo = await startTcpEcho();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    echo?.close();
  });

  for (const method of [...AEAD_METHODS, '2022-blake3-aes-128-gcm', '2022-blake3-chacha20-poly1305']) {
    it(`${method}: 16 MiB echoed intact under backpressure`, async () => {
      const secret = secretFor(method);
      const server = await startFerryServer({ method, password: secret });
      cleanups.push(() => server.gw.close(0));
      const client = await startFerryClient(`127.0.0.1:${server.port}`, method, secret);
      cleanups.push(() => client.gw.close(0));
      const s = await httpConnectTunnel(client.port, `127.0.0.1:${echo.port}`);
      cleanups.push(() => void s.destroy());
      const data = randomBytes(SIZE);
      const back = await echoBulk(s, data);
      assert.equal(back.length, data.length);
      assert.equal(sha(back), sha(data));
      s.destroy();
    });
  }
});

// The server under hostile input: replayed first flights are refused, a bad first chunk gets neither
// an answer nor a close at a telling byte count (the connection stays open until the handshake
// timeout), garbage and truncated frames never crash it, and a capture of the client↔server wire holds
// no plaintext of a known request.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { start } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { curlSocks, firstFlight, startFerryClient, startFerryServer, startSsLocal } from './harness.js';

const HANDSHAKE_S = 1;

interface Outcome {
  /** Bytes the server sent back. */
  received: number;
  /** ms from the last write to the close. */
  closedAfterMs: number;
}

/** Sends `chunks` (each as its own write) and waits for the server to close the connection. */
function probe(port: number, chunks: Buffer[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let received = 0;
    let lastWrite = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => undefined);
    s.once('connect', () => {
      for (const c of chunks) s.write(c);
      lastWrite = Date.now();
    });
    s.once('close', () => resolve({ received, closedAfterMs: Date.now() - lastWrite }));
    setTimeout(() => reject(new Error('server never closed the probe')), 10_000).unref();
  });
}

/** Sends bytes on a fresh connection and resolves with all bytes received until the server closes. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const s = connect(port, '127.0.0.1', () => s.write(data));
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => undefined);
    s.once('close', () => resolve(Buffer.concat(parts)));
  });
}

describe('Shadowsocks server under hostile input', () => {
  let origin: HttpOrigin;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    origin = await startHttpOrigin();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await origin?.close();
  });

  for (const [method, password] of [
    ['aes-256-gcm', 'replay-test-pw'],
    ['2022-blake3-aes-128-gcm', randomBytes(16).toString('base64')],
  ] as const) {
    it(`${method}: a replayed first flight is refused`, async () => {
      const server = await startFerryServer({ method, password, handshake: HANDSHAKE_S });
      cleanups.push(() => server.gw.close(0));
      const flight = firstFlight(method, password, origin.port, `/replay-${method}`, 'close');
      const first = await exchange(server.port, flight);
      assert.ok(first.length > 0, 'the genuine request is answered');
      const before = origin.seen.filter((r) => r.url === `/replay-${method}`).length;
      assert.equal(before, 1);
      const replay = await exchange(server.port, flight);
      assert.equal(replay.length, 0, 'no answer to the replay');
      assert.equal(
        origin.seen.filter((r) => r.url === `/replay-${method}`).length,
        1,
        'the origin saw the request once',
      );
    });

    it(`${method}: a bad first chunk keeps the connection open until the timeout`, async () => {
      const server = await startFerryServer({ method, password, handshake: HANDSHAKE_S });
      cleanups.push(() => server.gw.close(0));
      // Random bytes (a wrong key looks the same), a drip of single bytes, and a valid flight with one
      // bit flipped in its first chunk.
      const flipped = firstFlight(method, password, origin.port, '/flip', 'close');
      flipped[flipped.length - 1]! ^= 0x01;
      for (const chunks of [
        [randomBytes(200)],
        Array.from({ length: 60 }, () => randomBytes(1)),
        [flipped],
      ]) {
        const o = await probe(server.port, chunks);
        assert.equal(o.received, 0, 'nothing is sent back');
        assert.ok(
          o.closedAfterMs >= HANDSHAKE_S * 1000 - 100,
          `closed after ${o.closedAfterMs} ms, before the timeout`,
        );
      }
    });
  }

  it('garbage, truncated frames and UDP junk never crash the server', async () => {
    const method = '2022-blake3-aes-256-gcm';
    const password = randomBytes(32).toString('base64');
    const aead = await startFerryServer({
      method: 'chacha20-ietf-poly1305',
      password: 'junk-pw',
      handshake: HANDSHAKE_S,
    });
    const s2022 = await startFerryServer({ method, password, handshake: HANDSHAKE_S });
    cleanups.push(
      () => aead.gw.close(0),
      () => s2022.gw.close(0),
    );
    const flights = [
      firstFlight('chacha20-ietf-poly1305', 'junk-pw', origin.port, '/t', 'close'),
      firstFlight(method, password, origin.port, '/t', 'close'),
    ];
    const conns: Socket[] = [];
    const u = createSocket('udp4');
    for (const [i, port] of [aead.port, s2022.port].entries()) {
      const flight = flights[i]!;
      for (let n = 0; n < 40; n++) {
        // Truncations of a valid flight, valid flights with junk appended, and pure junk.
        const variants = [
          flight.subarray(0, Math.floor(Math.random() * flight.length)),
          Buffer.concat([flight, randomBytes(n * 7)]),
          randomBytes(n * 13),
        ];
        for (const v of variants) {
          const s = connect(port, '127.0.0.1', () => s.end(v));
          s.on('error', () => undefined);
          conns.push(s);
          u.send(v, port, '127.0.0.1');
        }
      }
    }
    // Both servers still serve a genuine client.
    const back = await exchange(
      s2022.port,
      firstFlight(method, password, origin.port, '/still-alive', 'close'),
    );
    assert.ok(back.length > 0);
    const back2 = await exchange(
      aead.port,
      firstFlight('chacha20-ietf-poly1305', 'junk-pw', origin.port, '/still-alive-2', 'close'),
    );
    assert.ok(back2.length > 0);
    u.close();
    for (const s of conns) s.destroy();
  });

  it('a client facing a server that answers garbage fails the session, not the process', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    for (const method of ['aes-128-gcm', '2022-blake3-aes-128-gcm']) {
      const fake = createServer((s) => {
        s.on('error', () => undefined);
        s.once('data', () => s.end(randomBytes(500)));
      });
      await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => fake.close(() => r())));
      const password = method.startsWith('2022') ? randomBytes(16).toString('base64') : 'pw';
      const client = await startFerryClient(
        `127.0.0.1:${(fake.address() as { port: number }).port}`,
        method,
        password,
      );
      cleanups.push(() => client.gw.close(0));
      await assert.rejects(curlSocks(client.port, `http://127.0.0.1:${origin.port}/x`));
      await assert.rejects(curlSocks(client.port, `http://127.0.0.1:${origin.port}/y`));
    }
  });

  const capNeeds = { tools: ['tcpdump', 'ss-local', 'curl'] };
  it(
    'a capture of the client↔server wire holds no plaintext of a known request',
    { skip: skipReason(capNeeds) },
    async (t) => {
      if (!requirePrereqs(t, capNeeds)) return;
      const marker = `ferry-marker-${randomBytes(6).toString('hex')}`;
      const dir = mkdtempSync(join(tmpdir(), 'ferry-ss-cap-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      for (const method of ['aes-256-gcm', '2022-blake3-aes-256-gcm']) {
        const password = method.startsWith('2022') ? randomBytes(32).toString('base64') : 'capture-pw';
        const server = await startFerryServer({ method, password });
        cleanups.push(() => server.gw.close(0));
        const client = method.startsWith('2022')
          ? await startFerryClient(`127.0.0.1:${server.port}`, method, password).then((c) => ({
              port: c.port,
              stop: () => c.gw.close(0),
            }))
          : await startSsLocal(server.port, method, password).then((l) => ({
              port: l.port,
              stop: () => l.proc.kill(),
            }));
        cleanups.push(() => client.stop());
        const file = join(dir, `${method}.pcap`);
        const cap = start('tcpdump', [
          '-i',
          'lo',
          '--immediate-mode',
          '-U',
          '-n',
          '-s',
          '0',
          '-w',
          file,
          `tcp port ${server.port} or tcp port ${origin.port}`,
        ]);
        cleanups.push(() => cap.kill());
        await waitFor('tcpdump to listen', () => cap.output().includes('listening on'));
        await curlSocks(client.port, `http://127.0.0.1:${origin.port}/${marker}?q=${marker}`);
        // -U writes each packet as it comes: wait until the origin leg (plaintext) is in the file.
        await waitFor('the capture to hold the origin leg', () =>
          readFileSync(file).includes(Buffer.from(marker)),
        );
        await cap.kill('SIGINT');
        const pcap = readFileSync(file);
        // Control: the proxy↔origin leg is plaintext HTTP, so the capture did see the request…
        assert.ok(pcap.includes(Buffer.from(marker)), 'the capture contains the origin leg');
        // …and the marker appears only there: split the capture by port and look at the Shadowsocks leg.
        const ssOnly = join(dir, `${method}-ss.pcap`);
        const filt = start('tcpdump', ['-r', file, '-w', ssOnly, `tcp port ${server.port}`]);
        await filt.exited;
        const ssLeg = readFileSync(ssOnly);
        assert.ok(ssLeg.length > 200, 'the Shadowsocks leg was captured');
        assert.ok(!ssLeg.includes(Buffer.from(marker)), `${method}: plaintext on the wire`);
        assert.ok(!ssLeg.includes(Buffer.from('127.0.0.1')), `${method}: target address in clear`);
      }
    },
  );
});

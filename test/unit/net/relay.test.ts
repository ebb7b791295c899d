// The relay on real loopback sockets: integrity both ways (with and without fast reads), bytes the
// destination sent before the relay started, half-close, idle timeout, abort, and rate limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket, type Server } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { relay } from '../../../src/net/relay.js';
import { fastRead } from '../../../src/net/fast-read.js';
import { TokenBucket } from '../../../src/net/token-bucket.js';
import type { Meter } from '../../../src/net/meter.js';

/** A client socket pair (client end, server end) and a destination pair, wired like a proxy. */
async function rig(opts: { fast: boolean; onDest: (s: Socket) => void }): Promise<{
  client: Socket;
  proxySide: Socket;
  dest: Socket;
  close(): void;
}> {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  const destSrv = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    opts.onDest(s);
  });
  const front = createServer();
  servers.push(destSrv, front);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
  const accepted = once(front, 'connection') as Promise<[Socket]>;
  const client = connect((front.address() as { port: number }).port, '127.0.0.1');
  const [proxySide] = await accepted;
  const fr = opts.fast ? fastRead() : null;
  const dest = connect({
    port: (destSrv.address() as { port: number }).port,
    host: '127.0.0.1',
    ...(fr ? fr.options : {}),
  });
  fr?.bind(dest);
  await once(dest, 'connect');
  return {
    client,
    proxySide,
    dest,
    close: () => {
      for (const s of [client, proxySide, dest, ...sockets]) s.destroy();
      for (const s of servers) s.close();
    },
  };
}

for (const fast of [false, true]) {
  test(`20 MB each way arrive intact, FIN is passed on (fast reads: ${fast})`, async (t) => {
    const down = randomBytes(20 << 20);
    const up = randomBytes(20 << 20);
    const destGot = createHash('sha256');
    let destBytes = 0;
    let destEnded!: Promise<unknown>;
    const r = await rig({
      fast,
      onDest: (s) => {
        destEnded = once(s, 'end'); // the destination has read everything up to our FIN
        s.write(down.subarray(0, 1000)); // sent before the relay starts: must be held, not lost
        setImmediate(() => s.end(down.subarray(1000)));
        s.on('data', (d: Buffer) => {
          destGot.update(d);
          destBytes += d.length;
        });
      },
    });
    t.after(() => r.close()); // also when an assertion fails
    const result = relay(r.proxySide, r.dest, { idleTimeoutMs: 10_000 });
    const got = createHash('sha256');
    let gotBytes = 0;
    r.client.on('data', (d: Buffer) => {
      got.update(d);
      gotBytes += d.length;
    });
    const clientClosed = once(r.client, 'close'); // before awaiting: it may close first
    r.client.end(up);
    const res = await result;
    await clientClosed;
    await destEnded;
    assert.equal(gotBytes, down.length);
    assert.equal(got.digest('hex'), createHash('sha256').update(down).digest('hex'));
    assert.equal(destBytes, up.length);
    assert.equal(destGot.digest('hex'), createHash('sha256').update(up).digest('hex'));
    assert.equal(res.up, up.length);
    assert.equal(res.down, down.length);
    assert.equal(res.reason, 'closed');
  });
}

test('an idle tunnel is closed after the idle timeout, an active one is not', async (t) => {
  const r = await rig({ fast: true, onDest: (s) => s.on('data', () => undefined) });
  t.after(() => r.close()); // also when an assertion fails
  const started = Date.now();
  const ticker = setInterval(() => r.client.write('.'), 100);
  const res = relay(r.proxySide, r.dest, { idleTimeoutMs: 600 });
  await new Promise((ok) => setTimeout(ok, 1200)); // active for twice the timeout
  clearInterval(ticker);
  assert.equal(await Promise.race([res, Promise.resolve(null)]), null, 'still open while active');
  const done = await res;
  assert.equal(done.reason, 'idle');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 1200 + 600 - 50 && elapsed < 1200 + 600 + 1000, `closed ${elapsed} ms after start`);
});

test('aborting the signal or the meter ends the relay', async (t) => {
  const r = await rig({ fast: false, onDest: () => undefined });
  t.after(() => r.close()); // also when an assertion fails
  const ac = new AbortController();
  const res = relay(r.proxySide, r.dest, { idleTimeoutMs: 0, signal: ac.signal });
  ac.abort();
  assert.equal((await res).reason, 'aborted');
});

test('a meter with a 2 MB/s rate holds the download near that rate', async (t) => {
  const size = 3_000_000;
  const r = await rig({ fast: true, onDest: (s) => s.end(randomBytes(size)) });
  t.after(() => r.close()); // also when an assertion fails
  const bucket = new TokenBucket(2_000_000, 65536);
  let counted = 0;
  const meter: Meter = {
    up: () => 0,
    down: (n) => ((counted += n), bucket.take(n)),
    signal: undefined,
    close: () => undefined,
  };
  const started = performance.now();
  const res = relay(r.proxySide, r.dest, { idleTimeoutMs: 0, meter });
  let got = 0;
  r.client.on('data', (d: Buffer) => (got += d.length));
  r.client.end();
  await res;
  const secs = (performance.now() - started) / 1000;
  const rate = (size - 65536) / secs;
  assert.equal(got, size);
  assert.equal(counted, size);
  assert.ok(rate < 2_000_000 * 1.1 && rate > 2_000_000 * 0.8, `rate ${Math.round(rate)} B/s`);
});

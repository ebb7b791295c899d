// Hostile and broken clients: random bytes, every truncation of valid handshakes, zero-length and
// invalid host names, oversized fields, a client trickling bytes past the handshake deadline. Each
// connection must be closed with a log line, no socket may leak, and the handler must keep serving.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { greet5, open, readReply4, readReply5, request4, request5, type Reader } from './client.js';
import { badClientLines, PASSWORD, startOrigin, startRig, USER, type Origin, type Rig } from './harness.js';

const HANDSHAKE_MS = 400;

function login(user: string, password: string): Buffer {
  const u = Buffer.from(user);
  const p = Buffer.from(password);
  return Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]);
}

describe('SOCKS inbound against hostile clients', { timeout: 60_000 }, () => {
  let rig: Rig;
  let authed: Rig;
  let origin: Origin;
  const clients: Reader[] = [];
  const connect = async (r: Rig): Promise<Reader> => {
    const c = await open(r.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    origin = await startOrigin('127.0.0.1', 1024);
    rig = await startRig({ timeouts: { handshakeMs: HANDSHAKE_MS } });
    authed = await startRig({ auth: true, timeouts: { handshakeMs: HANDSHAKE_MS } });
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    await Promise.all([rig?.close(), authed?.close(), origin?.close()]);
  });

  /** The handler still serves a well-behaved client, and no connection is left behind. */
  async function stillServing(r: Rig): Promise<void> {
    const c = await connect(r);
    await greet5(c, r === authed ? { user: USER, password: PASSWORD } : undefined);
    c.socket.write(request5(1, '127.0.0.1', origin.port));
    assert.equal((await readReply5(c)).rep, 0);
    c.socket.write('GET /small HTTP/1.0\r\n\r\n');
    assert.match((await c.rest()).toString(), /hello from 127\.0\.0\.1/);
    await waitFor('no live connections', () => r.tracker.size === 0);
  }

  it('random bytes: closed, logged, nothing crashes', async () => {
    const before = badClientLines(rig).length;
    for (let i = 0; i < 50; i++) {
      const c = await connect(rig);
      const junk = randomBytes(1 + ((i * 37) % 600));
      if (i % 2 === 0)
        junk[0] = 0x05; // half of them get past the version byte
      else if (i % 4 === 1) junk[0] = 0x04;
      c.socket.write(junk);
      c.socket.end();
      await c.closed;
    }
    // Junk that happens to parse as a request is dialed (and refused), not logged as a bad client;
    // most of it is not.
    assert.ok(badClientLines(rig).length > before);
    await stillServing(rig);
  });

  it('non-SOCKS first byte (an HTTP request) is refused with a clear reason', async () => {
    const c = await connect(rig);
    c.socket.write('GET / HTTP/1.1\r\n\r\n');
    assert.equal((await c.rest()).length, 0);
    assert.ok(badClientLines(rig, 'E_PROTOCOL').some((l) => String(l.reason).includes('0x47')));
  });

  // Valid handshakes, cut at every byte offset. With FIN: closed at once, "truncated" logged unless
  // the cut falls between frames. Without FIN: closed by the handshake deadline.
  const u = Buffer.from(USER);
  const p = Buffer.from(PASSWORD);
  const cases: { name: string; rig: () => Rig; frames: Buffer[] }[] = [
    {
      name: 'SOCKS5 domain',
      rig: () => rig,
      frames: [Buffer.from([5, 2, 0, 1]), request5(1, 'localhost', 80)],
    },
    { name: 'SOCKS5 IPv6', rig: () => rig, frames: [Buffer.from([5, 1, 0]), request5(1, '::1', 80)] },
    {
      name: 'SOCKS5 + RFC 1929',
      rig: () => authed,
      frames: [
        Buffer.from([5, 1, 2]),
        Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]),
        request5(1, '127.0.0.1', 80),
      ],
    },
    { name: 'SOCKS4a', rig: () => rig, frames: [request4(1, '0.0.0.1', 80, 'someone', 'localhost')] },
  ];
  for (const tc of cases) {
    it(`truncated ${tc.name} handshake, cut at every offset, with FIN`, async () => {
      const r = tc.rig();
      const whole = Buffer.concat(tc.frames);
      const boundaries = new Set<number>();
      let acc = 0;
      for (const f of tc.frames) boundaries.add((acc += f.length));
      const before = badClientLines(r, 'E_PROTOCOL').length;
      const timeoutsBefore = badClientLines(r, 'E_TIMEOUT').length;
      let expectTruncated = 0;
      await Promise.all(
        Array.from({ length: whole.length - 1 }, async (_, i) => {
          const cut = i + 1;
          if (!boundaries.has(cut)) expectTruncated++;
          const c = await connect(r);
          c.socket.end(whole.subarray(0, cut));
          await c.closed;
        }),
      );
      // Closed by noticing the FIN, not by the handshake deadline.
      assert.equal(badClientLines(r, 'E_TIMEOUT').length, timeoutsBefore);
      await waitFor(
        'truncation log lines',
        () => badClientLines(r, 'E_PROTOCOL').length - before === expectTruncated,
      );
      await stillServing(r);
    });

    it(`truncated ${tc.name} handshake, cut at every offset, connection held open`, async () => {
      const r = tc.rig();
      const whole = Buffer.concat(tc.frames);
      const before = badClientLines(r, 'E_TIMEOUT').length;
      await Promise.all(
        Array.from({ length: whole.length - 1 }, async (_, i) => {
          const c = await connect(r);
          c.socket.write(whole.subarray(0, i + 1));
          await c.closed;
        }),
      );
      assert.equal(badClientLines(r, 'E_TIMEOUT').length - before, whole.length - 1);
      await stillServing(r);
    });
  }

  it('zero-length host name: SOCKS5 reply 0x01, SOCKS4a 0x5B, connection closed', async () => {
    const c = await connect(rig);
    await greet5(c);
    c.socket.write(Buffer.from([5, 1, 0, 3, 0, 0, 80]));
    assert.equal((await readReply5(c)).rep, 0x01);
    await c.closed;
    const c4 = await connect(rig);
    c4.socket.write(request4(1, '0.0.0.1', 80, '', ''));
    assert.equal((await readReply4(c4)).rep, 0x5b);
    await c4.closed;
    assert.ok(badClientLines(rig, 'E_BAD_REQUEST').some((l) => String(l.reason).includes('zero-length')));
  });

  it('invalid host names (control bytes, spaces, non-ASCII) are refused before any lookup', async () => {
    for (const name of [
      'evil\0host',
      'has space.example',
      'bad\nname',
      'caf\u00e9.example',
      '-lead.example',
    ]) {
      const c = await connect(rig);
      await greet5(c);
      const n = Buffer.from(name, 'latin1');
      c.socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, n.length]), n, Buffer.from([0, 80])]));
      assert.equal((await readReply5(c)).rep, 0x01, name);
      await c.closed;
    }
  });

  it('oversized SOCKS4 USERID (no NUL within 255 bytes) is refused', async () => {
    const c = await connect(rig);
    c.socket.write(Buffer.concat([Buffer.from([4, 1, 0, 80, 127, 0, 0, 1]), Buffer.alloc(300, 0x41)]));
    assert.equal((await readReply4(c)).rep, 0x5b);
    await c.closed;
    assert.ok(badClientLines(rig, 'E_BAD_REQUEST').some((l) => String(l.reason).includes('USERID')));
  });

  it('wrong versions inside the handshake close the connection', async () => {
    const c = await connect(rig);
    await greet5(c);
    c.socket.write(Buffer.from([4, 1, 0, 1, 127, 0, 0, 1, 0, 80]));
    assert.equal((await c.rest()).length, 0);
    const a = await connect(authed);
    a.socket.write(Buffer.from([5, 1, 2]));
    assert.deepEqual([...(await a.read(2))], [5, 2]);
    a.socket.write(Buffer.concat([Buffer.from([5]), login(USER, PASSWORD).subarray(1)])); // RFC 1929 VER must be 1
    assert.equal((await a.rest()).length, 0);
  });

  it('a client trickling a valid handshake slower than the deadline is cut off', async () => {
    const c = await connect(rig);
    const bytes = Buffer.concat([Buffer.from([5, 1, 0]), request5(1, 'localhost', origin.port)]);
    let i = 0;
    const timer = setInterval(() => {
      if (i < bytes.length && !c.socket.destroyed) c.socket.write(bytes.subarray(i, ++i));
    }, HANDSHAKE_MS / 8);
    try {
      const t0 = Date.now();
      await c.closed;
      const took = Date.now() - t0;
      assert.ok(i < bytes.length, 'closed before the handshake could complete');
      assert.ok(took >= HANDSHAKE_MS - 50 && took < HANDSHAKE_MS * 4, `closed after ${took} ms`);
    } finally {
      clearInterval(timer);
    }
    assert.ok(badClientLines(rig, 'E_TIMEOUT').length > 0);
    await stillServing(rig);
  });

  it('a normal curl request still works afterwards', { skip: skipReason({ tools: ['curl'] }) }, async () => {
    const r = await runAsync('curl', [
      '-sS',
      '--max-time',
      '10',
      '--socks5-hostname',
      `127.0.0.1:${rig.port}`,
      `http://localhost:${origin.port}/small`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from 127.0.0.1\n');
    const a = await runAsync('curl', [
      '-sS',
      '--max-time',
      '10',
      '-x',
      `socks5h://${USER}:${PASSWORD}@127.0.0.1:${authed.port}`,
      `http://localhost:${origin.port}/small`,
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.ok(!authed.rawLog().includes(PASSWORD));
  });
});

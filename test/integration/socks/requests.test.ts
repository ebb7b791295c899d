// SOCKS request handling with a raw client: the reply codes of RFC 1928 §6 for each kind of refusal,
// RFC 1929 failures, BND.ADDR/BND.PORT on success, and bytes the client sends before the reply.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../helpers/wait.js';
import { greet5, open, readReply4, readReply5, request4, request5, type Reader } from './client.js';
import { PASSWORD, startRig, USER, type Rig } from './harness.js';

/** A TCP origin that records its accepted sockets and echoes what it receives. */
async function echoOrigin(): Promise<{ port: number; accepted: Socket[]; server: Server }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { port: (server.address() as AddressInfo).port, accepted, server };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('SOCKS requests and replies', () => {
  let open5: Rig;
  let authed: Rig;
  let origin: Awaited<ReturnType<typeof echoOrigin>>;
  const clients: Reader[] = [];
  const connect = async (rig: Rig): Promise<Reader> => {
    const r = await open(rig.port);
    clients.push(r);
    return r;
  };

  before(async () => {
    origin = await echoOrigin();
    open5 = await startRig({
      rules: [{ name: 'no-discard', ports: [9], action: 'reject', reason: 'port 9 is closed by policy' }],
    });
    authed = await startRig({ auth: true });
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    await Promise.all([open5?.close(), authed?.close()]);
    origin?.accepted.forEach((s) => s.destroy());
    await new Promise<void>((resolve) => (origin ? origin.server.close(() => resolve()) : resolve()));
  });

  it('CONNECT succeeds with BND.ADDR/BND.PORT = the outbound socket’s local address', async () => {
    const r = await connect(open5);
    assert.equal(await greet5(r), 0x00);
    r.socket.write(request5(1, '127.0.0.1', origin.port));
    const rep = await readReply5(r);
    assert.equal(rep.rep, 0x00);
    const peer = await waitFor('origin accepted', () =>
      origin.accepted.find((s) => s.remotePort === rep.port),
    );
    assert.equal(peer.remoteAddress, rep.host);
    r.socket.write('ping');
    assert.equal((await r.read(4)).toString(), 'ping');
  });

  it('bytes sent together with the request (optimistic data) reach the destination, SOCKS5 and SOCKS4a', async () => {
    const r = await connect(open5);
    r.socket.write(
      Buffer.concat([
        Buffer.from([5, 1, 0]),
        request5(1, 'localhost', origin.port),
        Buffer.from('early bytes'),
      ]),
    );
    assert.deepEqual([...(await r.read(2))], [5, 0]);
    assert.equal((await readReply5(r)).rep, 0);
    assert.equal((await r.read(11)).toString(), 'early bytes');

    const r4 = await connect(open5);
    r4.socket.write(
      Buffer.concat([request4(1, '0.0.0.1', origin.port, 'someone', 'localhost'), Buffer.from('four-a')]),
    );
    assert.equal((await readReply4(r4)).rep, 0x5a);
    assert.equal((await r4.read(6)).toString(), 'four-a');
  });

  it('a policy rejection replies 0x02 (not allowed by ruleset) and closes', async () => {
    const r = await connect(open5);
    await greet5(r);
    r.socket.write(request5(1, '127.0.0.1', 9));
    assert.equal((await readReply5(r)).rep, 0x02);
    await r.closed;
    assert.ok(open5.logs.some((l) => l.msg === 'session refused' && l.code === 'E_POLICY_DENIED'));
  });

  it('a restricted destination (link-local metadata address) replies 0x02 without dialing', async () => {
    const r = await connect(open5);
    await greet5(r);
    r.socket.write(request5(1, '169.254.169.254', 80));
    assert.equal((await readReply5(r)).rep, 0x02);
    assert.ok(open5.logs.some((l) => l.msg === 'session refused' && l.code === 'E_DEST_FORBIDDEN'));
  });

  it('connection refused replies 0x05 (SOCKS5) and 0x5B (SOCKS4)', async () => {
    const port = await closedPort();
    const r = await connect(open5);
    await greet5(r);
    r.socket.write(request5(1, '127.0.0.1', port));
    assert.equal((await readReply5(r)).rep, 0x05);
    await r.closed;
    const r4 = await connect(open5);
    r4.socket.write(request4(1, '127.0.0.1', port));
    assert.equal((await readReply4(r4)).rep, 0x5b);
    await r4.closed;
  });

  it('an unknown command replies 0x07; SOCKS4 has no UDP ASSOCIATE (0x5B)', async () => {
    const r = await connect(open5);
    await greet5(r);
    r.socket.write(request5(0x09, '127.0.0.1', origin.port));
    assert.equal((await readReply5(r)).rep, 0x07);
    await r.closed;
    const r4 = await connect(open5);
    r4.socket.write(request4(3, '127.0.0.1', origin.port));
    assert.equal((await readReply4(r4)).rep, 0x5b);
    await r4.closed;
  });

  it('an unknown address type replies 0x08 and closes', async () => {
    const r = await connect(open5);
    await greet5(r);
    r.socket.write(Buffer.from([5, 1, 0, 0x02, 127, 0, 0, 1, 0, 80]));
    assert.equal((await readReply5(r)).rep, 0x08);
    await r.closed;
    assert.ok(open5.logs.some((l) => l.msg === 'client connection closed' && l.code === 'E_UNSUPPORTED'));
  });

  it('no acceptable method: 0xFF and close (auth listener offered only no-auth, and vice versa)', async () => {
    const r = await connect(authed);
    r.socket.write(Buffer.from([5, 1, 0]));
    assert.deepEqual([...(await r.rest())], [5, 0xff]);
    const r2 = await connect(open5);
    r2.socket.write(Buffer.from([5, 1, 2]));
    assert.deepEqual([...(await r2.rest())], [5, 0xff]);
    const r3 = await connect(authed);
    r3.socket.write(Buffer.from([5, 0]));
    assert.deepEqual([...(await r3.rest())], [5, 0xff]);
  });

  it('RFC 1929: a wrong password gets status 0x01 and the connection is closed', async () => {
    const r = await connect(authed);
    r.socket.write(Buffer.from([5, 2, 0, 2]));
    assert.deepEqual([...(await r.read(2))], [5, 2]);
    const u = Buffer.from(USER);
    const p = Buffer.from('not-the-password');
    r.socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    assert.deepEqual([...(await r.rest())], [1, 1]);
    assert.ok(authed.logs.some((l) => l.msg === 'session refused' && l.code === 'E_AUTH'));
  });

  it('RFC 1929: an unknown user and an empty name are refused the same way', async () => {
    for (const user of ['mallory', '']) {
      const r = await connect(authed);
      const u = Buffer.from(user);
      r.socket.write(Buffer.concat([Buffer.from([5, 1, 2, 1, u.length]), u, Buffer.from([1, 0x41])]));
      assert.deepEqual([...(await r.rest())], [5, 2, 1, 1]);
    }
  });

  it('RFC 1929: the right password, then a request in the same write', async () => {
    const r = await connect(authed);
    const u = Buffer.from(USER);
    const p = Buffer.from(PASSWORD);
    r.socket.write(
      Buffer.concat([
        Buffer.from([5, 1, 2, 1, u.length]),
        u,
        Buffer.from([p.length]),
        p,
        request5(1, '127.0.0.1', origin.port),
      ]),
    );
    assert.deepEqual([...(await r.read(4))], [5, 2, 1, 0]);
    assert.equal((await readReply5(r)).rep, 0);
    r.socket.write('authed');
    assert.equal((await r.read(6)).toString(), 'authed');
  });

  it('a per-user connection limit refuses the session beyond it', async () => {
    const limited = await startRig({ auth: true, limits: { maxConnectionsPerUser: 1 } });
    try {
      const first = await connect(limited);
      await greet5(first, { user: USER, password: PASSWORD });
      first.socket.write(request5(1, '127.0.0.1', origin.port));
      assert.equal((await readReply5(first)).rep, 0);
      const second = await connect(limited);
      await greet5(second, { user: USER, password: PASSWORD });
      second.socket.write(request5(1, '127.0.0.1', origin.port));
      assert.equal((await readReply5(second)).rep, 0x01);
      first.socket.destroy();
      await waitFor('slot released', () => limited.tracker.userCount(USER) === 0);
    } finally {
      await limited.close();
    }
  });
});

describe('SOCKS handshake lifecycle', () => {
  it('leaves no handshake listener or timer on a relayed connection', async () => {
    const origin = await echoOrigin();
    const events = ['data', 'end', 'error', 'close', 'timeout'] as const;
    const count = (s: Socket): Record<string, number> =>
      Object.fromEntries(events.map((e) => [e, s.listenerCount(e)]));
    let server: Socket | null = null;
    let fresh: Record<string, number> = {};
    // Counted before the handler sees the socket (Node and the rig's tracker add their own).
    const rig = await startRig({
      onSocket: (s) => {
        server = s;
        fresh = count(s);
      },
    });
    const c = await open(rig.port);
    try {
      await greet5(c);
      c.socket.write(request5(1, '127.0.0.1', origin.port));
      assert.equal((await readReply5(c)).rep, 0);
      c.socket.write('x');
      assert.equal((await c.read(1)).toString(), 'x');
      // Exactly the relay's own listeners were added: one each, and no 'timeout' (the relay's idle
      // timeout is a shared sweeper, not a timer per socket).
      const expected = Object.fromEntries(events.map((e) => [e, fresh[e]! + (e === 'timeout' ? 0 : 1)]));
      assert.deepEqual(count(server!), expected);
    } finally {
      c.socket.destroy();
      await rig.close();
      origin.accepted.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => origin.server.close(() => resolve()));
    }
  });
});

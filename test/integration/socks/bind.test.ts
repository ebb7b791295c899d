// BIND (RFC 1928 §4, SOCKS4 CD=2): the client asks the gateway to listen, a separate socket (the
// "application server") connects to the announced address, and data flows both ways.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { open, readReply4, readReply5, request4, request5, greet5, type Reader } from './client.js';
import { startRig, type Rig } from './harness.js';

describe('SOCKS BIND', () => {
  let rig: Rig;
  const sockets: Reader[] = [];
  const track = (r: Reader): Reader => (sockets.push(r), r);

  before(async () => {
    rig = await startRig({ timeouts: { connectMs: 1500 }, accessLog: 'audit' });
  });
  after(async () => {
    for (const s of sockets) s.socket.destroy();
    await rig?.close();
  });

  it('SOCKS5: two replies, then a relay between client and peer', async () => {
    const c = track(await open(rig.port));
    await greet5(c);
    c.socket.write(request5(2, '127.0.0.1', 0));
    const first = await readReply5(c);
    assert.equal(first.rep, 0);
    assert.equal(first.host, '127.0.0.1');
    assert.ok(first.port > 0);

    const peer = track(await open(first.port, first.host));
    const second = await readReply5(c);
    assert.equal(second.rep, 0);
    assert.equal(second.host, '127.0.0.1');
    assert.equal(second.port, peer.socket.localPort, 'second reply names the peer');

    peer.socket.write('from peer');
    assert.equal((await c.read(9)).toString(), 'from peer');
    c.socket.write('from client');
    assert.equal((await peer.read(11)).toString(), 'from client');
    c.socket.end();
    await peer.closed;
  });

  it('accepts only the announced peer address (a connection from 127.0.0.2 is turned away)', async () => {
    const c = track(await open(rig.port));
    await greet5(c);
    c.socket.write(request5(2, '127.0.0.1', 21));
    const first = await readReply5(c);
    assert.equal(first.rep, 0);

    const intruder = track(await open(first.port, first.host, '127.0.0.2'));
    await intruder.closed;
    assert.equal(c.pending, 0, 'no second reply for the intruder');

    const peer = track(await open(first.port, first.host));
    const second = await readReply5(c);
    assert.equal(second.port, peer.socket.localPort);
    peer.socket.write('ok');
    assert.equal((await c.read(2)).toString(), 'ok');
  });

  it('SOCKS4: grant with the listening address, then the peer', async () => {
    const c = track(await open(rig.port));
    c.socket.write(request4(2, '127.0.0.1', 0));
    const first = await readReply4(c);
    assert.equal(first.rep, 0x5a);
    assert.equal(first.host, '127.0.0.1');
    const peer = track(await open(first.port, first.host));
    const second = await readReply4(c);
    assert.equal(second.rep, 0x5a);
    assert.equal(second.port, peer.socket.localPort);
    c.socket.write('four');
    assert.equal((await peer.read(4)).toString(), 'four');
  });

  it('times out when no peer connects (0x04 host unreachable) and frees the port', async () => {
    const c = track(await open(rig.port));
    await greet5(c);
    c.socket.write(request5(2, '127.0.0.1', 0));
    const first = await readReply5(c);
    const second = await readReply5(c);
    assert.equal(second.rep, 0x04);
    await c.closed;
    const late = await open(first.port, first.host).then(
      (r) => (r.socket.destroy(), 'connected'),
      (e: NodeJS.ErrnoException) => e.code,
    );
    assert.equal(late, 'ECONNREFUSED');
  });

  it('the guard applies to the expected peer (a restricted address is refused with 0x02)', async () => {
    const c = track(await open(rig.port));
    await greet5(c);
    c.socket.write(request5(2, '10.1.2.3', 0));
    assert.equal((await readReply5(c)).rep, 0x02);
    await c.closed;
  });
});

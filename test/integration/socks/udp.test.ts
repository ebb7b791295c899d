// UDP ASSOCIATE (RFC 1928 §7) with real datagrams: a client written here (and one in Python, as an
// independent implementation) talks through the relay to a UDP echo server on loopback.
//
// Drops are proven without sleeping: the forbidden datagram is sent first, then an allowed one from
// the legitimate client; the relay handles datagrams in arrival order on one socket, so once the
// allowed one is echoed, the forbidden one would already have reached the echo server had it passed.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { encodeAddr, greet5, open, readReply5, request5, type Reader } from './client.js';
import { startRig, type Rig } from './harness.js';

interface Echo {
  port: number;
  seen: string[];
  sock: UdpSocket;
}

/** Dual-stack echo server: one port for 127.0.0.1 and ::1, so a name resolving to either works. */
async function startEcho(): Promise<Echo> {
  const sock = createSocket({ type: 'udp6', ipv6Only: false });
  const seen: string[] = [];
  sock.on('message', (m, r) => {
    seen.push(m.toString());
    sock.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address);
  });
  await new Promise<void>((resolve) => sock.bind({ address: '::', port: 0 }, resolve));
  return { port: sock.address().port, seen, sock };
}

async function udpClient(address = '127.0.0.1'): Promise<UdpSocket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind({ address, port: 0 }, resolve));
  return s;
}

function datagram(host: string, port: number, payload: string, frag = 0): Buffer {
  return Buffer.concat([Buffer.from([0, 0, frag]), encodeAddr(host, port), Buffer.from(payload)]);
}

/** Parses an RFC 1928 §7 header (IPv4/IPv6 only, as the relay sends). */
function parseDatagram(m: Buffer): { host: string; port: number; payload: string; atyp: number } {
  const atyp = m[3]!;
  const len = atyp === 1 ? 4 : 16;
  const a = m.subarray(4, 4 + len);
  const host =
    atyp === 1
      ? [...a].join('.')
      : Array.from({ length: 8 }, (_, i) => a.readUInt16BE(i * 2).toString(16)).join(':');
  return { atyp, host, port: m.readUInt16BE(4 + len), payload: m.subarray(6 + len).toString() };
}

function nextMessage(s: UdpSocket, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.removeListener('message', on);
      reject(new Error('no datagram within timeout'));
    }, timeoutMs);
    const on = (m: Buffer): void => {
      clearTimeout(t);
      resolve(m);
    };
    s.once('message', on);
  });
}

describe('SOCKS5 UDP ASSOCIATE', () => {
  let rig: Rig;
  let echo: Echo;
  const controls: Reader[] = [];
  const udps: UdpSocket[] = [];

  async function associate(
    declaredHost: string,
    declaredPort: number,
    r: Rig = rig,
  ): Promise<{ control: Reader; host: string; port: number }> {
    const control = await open(r.port);
    controls.push(control);
    await greet5(control);
    control.socket.write(request5(3, declaredHost, declaredPort));
    const rep = await readReply5(control);
    assert.equal(rep.rep, 0);
    return { control, host: rep.host, port: rep.port };
  }
  async function client(address?: string): Promise<UdpSocket> {
    const s = await udpClient(address);
    udps.push(s);
    return s;
  }

  before(async () => {
    rig = await startRig({ rules: [{ ports: [9], action: 'reject' }], accessLog: 'audit' });
    echo = await startEcho();
  });
  after(async () => {
    for (const c of controls) c.socket.destroy();
    for (const u of udps) u.close();
    echo?.sock.close();
    await rig?.close();
  });

  it('relays a datagram both ways, the reply header naming its source', async () => {
    const c = await client();
    const a = await associate('127.0.0.1', c.address().port);
    assert.equal(a.host, '127.0.0.1', 'relay bound on the address the client connected to');
    c.send(datagram('127.0.0.1', echo.port, 'hello'), a.port, a.host);
    const reply = parseDatagram(await nextMessage(c));
    assert.deepEqual(reply, { atyp: 1, host: '127.0.0.1', port: echo.port, payload: 'echo:hello' });
  });

  it('relays to an IPv6 destination and to a host name resolved by the gateway', async () => {
    const c = await client();
    const a = await associate('0.0.0.0', 0);
    c.send(datagram('::1', echo.port, 'six'), a.port, a.host);
    const r6 = parseDatagram(await nextMessage(c));
    assert.deepEqual(r6, { atyp: 4, host: '0:0:0:0:0:0:0:1', port: echo.port, payload: 'echo:six' });
    c.send(datagram('localhost', echo.port, 'by-name'), a.port, a.host);
    const rn = parseDatagram(await nextMessage(c));
    assert.equal(rn.payload, 'echo:by-name');
    assert.equal(rn.port, echo.port);
  });

  it('drops datagrams from another port than the declared one', async () => {
    const good = await client();
    const other = await client();
    const a = await associate('127.0.0.1', good.address().port);
    other.send(datagram('127.0.0.1', echo.port, 'intruder-port'), a.port, a.host);
    good.send(datagram('127.0.0.1', echo.port, 'legit-1'), a.port, a.host);
    assert.equal(parseDatagram(await nextMessage(good)).payload, 'echo:legit-1');
    assert.ok(!echo.seen.includes('intruder-port'));
  });

  it('without a declared port, locks to the first sender and drops other ports', async () => {
    const first = await client();
    const other = await client();
    const a = await associate('0.0.0.0', 0);
    first.send(datagram('127.0.0.1', echo.port, 'first'), a.port, a.host);
    assert.equal(parseDatagram(await nextMessage(first)).payload, 'echo:first');
    other.send(datagram('127.0.0.1', echo.port, 'second-port'), a.port, a.host);
    first.send(datagram('127.0.0.1', echo.port, 'first-again'), a.port, a.host);
    assert.equal(parseDatagram(await nextMessage(first)).payload, 'echo:first-again');
    assert.ok(!echo.seen.includes('second-port'));
  });

  it('drops datagrams from another IP address (127.0.0.2)', async () => {
    const good = await client();
    const foreign = await client('127.0.0.2');
    const a = await associate('0.0.0.0', 0);
    good.send(datagram('127.0.0.1', echo.port, 'lock'), a.port, a.host);
    await nextMessage(good);
    foreign.send(datagram('127.0.0.1', echo.port, 'intruder-ip'), a.port, a.host);
    good.send(datagram('127.0.0.1', echo.port, 'legit-2'), a.port, a.host);
    assert.equal(parseDatagram(await nextMessage(good)).payload, 'echo:legit-2');
    assert.ok(!echo.seen.includes('intruder-ip'));
  });

  it('drops fragments (FRAG ≠ 0), truncated headers and denied destinations', async () => {
    const c = await client();
    const a = await associate('127.0.0.1', c.address().port);
    c.send(datagram('127.0.0.1', echo.port, 'fragment', 1), a.port, a.host);
    c.send(Buffer.from([0, 0, 0, 1, 127, 0]), a.port, a.host);
    c.send(datagram('127.0.0.1', 9, 'to-port-9'), a.port, a.host);
    c.send(datagram('127.0.0.1', echo.port, 'legit-3'), a.port, a.host);
    assert.equal(parseDatagram(await nextMessage(c)).payload, 'echo:legit-3');
    assert.ok(!echo.seen.includes('fragment'));
    assert.ok(
      rig.logs.some(
        (l) => l.msg === 'session refused' && l.code === 'E_POLICY_DENIED' && l.dest === '127.0.0.1:9',
      ),
    );
  });

  it('ends the association (and frees the relay port) when the control connection closes', async () => {
    const c = await client();
    const a = await associate('127.0.0.1', c.address().port);
    c.send(datagram('127.0.0.1', echo.port, 'before-close'), a.port, a.host);
    await nextMessage(c);
    a.control.socket.end();
    await a.control.closed;
    await waitFor('relay port released', async () => {
      const probe = createSocket('udp4');
      const ok = await new Promise<boolean>((resolve) => {
        probe.once('error', () => resolve(false));
        probe.bind({ address: '127.0.0.1', port: a.port }, () => resolve(true));
      });
      probe.close();
      return ok;
    });
    await waitFor('access record', () =>
      rig.logs.find((l) => l.msg === 'session' && l.cmd === 'udp' && l.up === 'before-close'.length),
    );
  });

  it('closes an idle association after timeouts.idle', async () => {
    const idle = await startRig({ timeouts: { idleMs: 300 } });
    try {
      const c = await client();
      const a = await associate('127.0.0.1', c.address().port, idle);
      c.send(datagram('127.0.0.1', echo.port, 'once'), a.port, a.host);
      await nextMessage(c);
      const t0 = Date.now();
      await a.control.closed;
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await idle.close();
    }
  });

  it('works with an independent client (Python)', { skip: skipReason({ tools: ['python3'] }) }, async () => {
    const script = `
import socket, struct, sys
port, echo = int(sys.argv[1]), int(sys.argv[2])
t = socket.create_connection(("127.0.0.1", port), timeout=5)
t.sendall(b"\\x05\\x01\\x00")
assert t.recv(2) == b"\\x05\\x00"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5); u.bind(("127.0.0.1", 0))
t.sendall(b"\\x05\\x03\\x00\\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", u.getsockname()[1]))
rep = b""
while len(rep) < 10: rep += t.recv(10 - len(rep))
assert rep[1] == 0, rep
relay = (socket.inet_ntoa(rep[4:8]), struct.unpack("!H", rep[8:10])[0])
u.sendto(b"\\x00\\x00\\x00\\x03" + bytes([9]) + b"localhost" + struct.pack("!H", echo) + b"py", relay)
d, _ = u.recvfrom(2048)
assert d[3] in (1, 4), d
n = 4 if d[3] == 1 else 16
assert struct.unpack("!H", d[4+n:6+n])[0] == echo
print(d[6+n:].decode())
`;
    const r = await runAsync('python3', ['-c', script, String(rig.port), String(echo.port)], {
      timeoutMs: 15_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'echo:py');
  });
});

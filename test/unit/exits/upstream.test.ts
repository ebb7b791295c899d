// The upstream handshakes against scripted servers: what goes on the wire, how replies are framed,
// which failures are the exit's fault, and that bytes behind a reply reach the next reader.
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { FerryError } from '../../../src/core/errors.js';
import { makeDestination } from '../../../src/core/session.js';
import { isExitFault } from '../../../src/outbound/upstream/fault.js';
import { httpConnect } from '../../../src/outbound/upstream/http-connect.js';
import {
  frameSocks5Reply,
  socks5Connect,
  socks5Request,
  socks4aConnect,
} from '../../../src/outbound/upstream/socks-client.js';
import { randomInPrefix } from '../../../src/outbound/source-address.js';
import { classify } from '../../../src/cli/audit-proxy.js';
import { markMajority, type CheckRow } from '../../../src/cli/check.js';
import { cidrContains, parseCidr, parseIp } from '../../../src/net/cidr.js';

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

/** A server that runs `script` on each connection; resolves with a client socket connected to it. */
async function scripted(script: (s: Socket) => void): Promise<Socket> {
  const srv = createServer(script);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = connect((srv.address() as AddressInfo).port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  return c;
}

const lim = () => ({ deadline: Date.now() + 2000, what: 'upstream proxy t' });

/** Reads exactly n bytes from a server-side socket. */
function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let b = Buffer.alloc(0);
    const on = (d: Buffer): void => {
      b = Buffer.concat([b, d]);
      if (b.length >= n) {
        s.removeListener('data', on);
        s.pause();
        if (b.length > n) s.unshift(b.subarray(n));
        resolve(b.subarray(0, n));
      }
    };
    s.on('data', on);
    s.resume();
  });
}

describe('upstream handshakes', () => {
  it('HTTP CONNECT sends authority-form with Basic credentials; bytes after the reply are kept', async () => {
    let request = '';
    const c = await scripted((s) => {
      s.once('data', (d) => {
        request = d.toString('latin1');
        s.write('HTTP/1.1 200 Connection established\r\nX-Extra: 1\r\n\r\nEARLY');
      });
    });
    await httpConnect(c, makeDestination('::1', 443), 'Basic dTpw', lim());
    assert.equal(
      request,
      'CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n',
    );
    const early = await new Promise<string>((r) => c.once('data', (d) => r(d.toString())));
    assert.equal(early, 'EARLY');
    c.destroy();
  });

  it("CONNECT refusals: 407 is the exit's fault, 502 is the destination's", async () => {
    for (const [status, code, fault] of [
      [407, 'E_UPSTREAM_REFUSED', true],
      [502, 'E_UPSTREAM_UNREACHABLE', false],
      [403, 'E_POLICY_DENIED', false],
    ] as const) {
      const c = await scripted((s) =>
        s.once('data', () => s.write(`HTTP/1.1 ${status} No\r\nContent-Length: 0\r\n\r\n`)),
      );
      await assert.rejects(
        httpConnect(c, makeDestination('example.com', 80), null, lim()),
        (e: FerryError) => {
          assert.equal(e.code, code);
          assert.equal(isExitFault(e), fault, `${status}`);
          return true;
        },
      );
      c.destroy();
    }
  });

  it("a silent or closing upstream is a timeout / reset, and the exit's fault", async () => {
    const silent = await scripted(() => {});
    await assert.rejects(
      httpConnect(silent, makeDestination('a.example', 80), null, { deadline: Date.now() + 100, what: 't' }),
      (e: FerryError) => e.code === 'E_UPSTREAM_TIMEOUT' && isExitFault(e),
    );
    silent.destroy();
    const closing = await scripted((s) => s.end());
    await assert.rejects(
      socks5Connect(closing, makeDestination('a.example', 80), null, lim()),
      (e: FerryError) => e.code === 'E_UPSTREAM_RESET' && isExitFault(e),
    );
    closing.destroy();
  });

  it('SOCKS5: offers username/password, sends RFC 1929 credentials and a domain request', async () => {
    const seen: Buffer[] = [];
    const c = await scripted(async (s) => {
      seen.push(await readN(s, 4)); // 05 02 00 02
      s.write(Buffer.from([5, 2]));
      seen.push(await readN(s, 2 + 1 + 1 + 2)); // 01 01 'u' 02 'pw'
      s.write(Buffer.from([1, 0]));
      seen.push(await readN(s, 4 + 1 + 11 + 2));
      s.write(Buffer.from([5, 0, 0, 3, 4, 0x68, 0x6f, 0x73, 0x74, 0, 80])); // BND as a domain
    });
    await socks5Connect(c, makeDestination('example.com', 443), { username: 'u', password: 'pw' }, lim());
    assert.deepEqual([...seen[0]!], [5, 2, 0, 2]);
    assert.deepEqual([...seen[1]!], [1, 1, 0x75, 2, 0x70, 0x77]);
    assert.deepEqual([...seen[2]!], [...socks5Request(makeDestination('example.com', 443))]);
    c.destroy();
  });

  it("SOCKS5 replies: refused is the destination's failure; bad credentials the exit's", async () => {
    const refused = await scripted(async (s) => {
      await readN(s, 3);
      s.write(Buffer.from([5, 0]));
      await readN(s, 10);
      s.write(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
    });
    await assert.rejects(
      socks5Connect(refused, makeDestination('10.0.0.1', 80), null, lim()),
      (e: FerryError) => e.code === 'E_UPSTREAM_REFUSED' && !isExitFault(e),
    );
    refused.destroy();
    const badAuth = await scripted(async (s) => {
      await readN(s, 4);
      s.write(Buffer.from([5, 2]));
      await readN(s, 5);
      s.write(Buffer.from([1, 1]));
    });
    await assert.rejects(
      socks5Connect(badAuth, makeDestination('10.0.0.1', 80), { username: 'u', password: 'p' }, lim()),
      (e: FerryError) => isExitFault(e) && /credentials refused/.test(e.message),
    );
    badAuth.destroy();
  });

  it('SOCKS5 request and reply framing for every address type', () => {
    assert.deepEqual([...socks5Request(makeDestination('192.0.2.1', 80))], [5, 1, 0, 1, 192, 0, 2, 1, 0, 80]);
    const v6 = socks5Request(makeDestination('2001:db8::1', 443));
    assert.equal(v6.length, 4 + 16 + 2);
    assert.deepEqual([...v6.subarray(4, 8)], [0x20, 0x01, 0x0d, 0xb8]);
    assert.equal(frameSocks5Reply(Buffer.from([5, 0, 0, 1, 0, 0])), 0);
    assert.equal(frameSocks5Reply(Buffer.from([5, 0, 0, 1, 1, 2, 3, 4, 0, 80, 99])), 10);
    assert.equal(frameSocks5Reply(Buffer.from([5, 0, 0, 4, ...new Array(16).fill(0), 0, 80])), 22);
    assert.equal(frameSocks5Reply(Buffer.from([5, 0, 0, 3, 1, 0x61, 0, 80])), 8);
    assert.throws(() => frameSocks5Reply(Buffer.from([4, 0, 0, 1, 0, 0])), /not a SOCKS5 reply/);
  });

  it('SOCKS4a sends the name after DSTIP 0.0.0.1 and the user id', async () => {
    let req: Buffer | null = null;
    const c = await scripted((s) => {
      s.once('data', (d) => {
        req = d;
        s.write(Buffer.from([0, 90, 0, 0, 0, 0, 0, 0]));
      });
    });
    await socks4aConnect(c, makeDestination('example.com', 80), 'u:p', lim());
    assert.deepEqual(
      req,
      Buffer.concat([Buffer.from([4, 1, 0, 80, 0, 0, 0, 1]), Buffer.from('u:p\0example.com\0')]),
    );
    c.destroy();
  });
});

describe('exit helpers', () => {
  it('random addresses stay inside the prefix and differ', () => {
    const p = parseCidr('2001:db8:aa:bb::/64');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const a = randomInPrefix({ bytes: p.bytes, bits: 64 });
      assert.ok(cidrContains(p, parseIp(a)!), a);
      seen.add(a);
    }
    assert.equal(seen.size, 200);
    const tight = parseCidr('2001:db8::/126');
    for (let i = 0; i < 50; i++)
      assert.notEqual(
        randomInPrefix({ bytes: tight.bytes, bits: 126 }),
        '2001:db8::',
        'never the subnet-router anycast address',
      );
  });

  it('anonymity: our address in a header is transparent, proxy headers anonymous, none elite', () => {
    const ours = new Set(['10.0.0.7']);
    assert.equal(
      classify(
        [
          ['X-Forwarded-For', '10.0.0.7'],
          ['Via', '1.1 squid'],
        ],
        ours,
      ).anonymity,
      'transparent',
    );
    assert.equal(
      classify(
        [
          ['Via', '1.1 squid'],
          ['X-Forwarded-For', 'unknown'],
        ],
        ours,
      ).anonymity,
      'anonymous',
    );
    assert.equal(
      classify(
        [
          ['Host', 'o'],
          ['User-Agent', 'ferry-check'],
        ],
        ours,
      ).anonymity,
      'elite',
    );
  });

  it('ferry check marks bodies that differ from the majority', () => {
    const row = (exit: string, sha256: string | null): CheckRow => ({
      exit,
      tags: {},
      exitIp: null,
      status: 200,
      ms: 1,
      size: 1,
      tlsSubject: null,
      tlsIssuer: null,
      sha256,
      differs: null,
      error: null,
    });
    const rows = [row('a', 'x'), row('b', 'x'), row('c', 'y'), row('d', null)];
    markMajority(rows);
    assert.deepEqual(
      rows.map((r) => r.differs),
      [false, false, true, null],
    );
    const tie = [row('a', 'x'), row('b', 'y')];
    markMajority(tie);
    assert.deepEqual(
      tie.map((r) => r.differs),
      [null, null],
    );
  });
});

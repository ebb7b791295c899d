// The SOCKS frame codecs on their own: every prefix of a valid frame asks for more bytes (never
// throws, never reads past the end), malformed frames throw the right error, replies encode right.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FerryError } from '../../../src/core/errors.js';
import { AddressTypeError, ipv6Text, normalizeIp } from '../../../src/inbound/socks/address.js';
import { parseRequest4, reply4 } from '../../../src/inbound/socks/wire4.js';
import {
  parseGreeting,
  parseRequest5,
  parseUdpDatagram,
  parseUserPass,
  reply5,
  udpHeader,
} from '../../../src/inbound/socks/wire5.js';

const b = (...x: number[]): Buffer => Buffer.from(x);
const cat = (...x: (Buffer | string | number[])[]): Buffer =>
  Buffer.concat(
    x.map((p) =>
      Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p),
    ),
  );

/** Every strict prefix must be "need more" (null). Also checks parsing at a non-zero offset. */
function prefixesNeedMore(frame: Buffer, parse: (b: Buffer, o: number) => unknown): void {
  for (let n = 0; n < frame.length; n++) {
    assert.equal(parse(frame.subarray(0, n), 0), null, `prefix of ${n} bytes`);
    assert.equal(parse(cat([0xee, 0xee], frame.subarray(0, n)), 2), null, `prefix of ${n} bytes at offset 2`);
  }
}

function throwsCode(fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof FerryError && e.code === code && (!re || re.test(e.message)),
  );
}

describe('SOCKS5 greeting (RFC 1928 §3)', () => {
  it('parses offered methods and their count', () => {
    assert.deepEqual(parseGreeting(b(5, 2, 0, 2), 0), { length: 4, noAuth: true, userPass: true });
    assert.deepEqual(parseGreeting(b(5, 3, 1, 0x80, 2, 0xaa), 0), {
      length: 5,
      noAuth: false,
      userPass: true,
    });
    assert.deepEqual(parseGreeting(b(5, 0), 0), { length: 2, noAuth: false, userPass: false });
    prefixesNeedMore(b(5, 3, 0, 1, 2), parseGreeting);
  });
  it('refuses another version on its first byte', () => {
    throwsCode(() => parseGreeting(b(4), 0), 'E_PROTOCOL');
  });
});

describe('RFC 1929 username/password', () => {
  it('parses, including empty fields and UTF-8', () => {
    const frame = cat([1, 5], 'alice', [6], 'secret');
    assert.deepEqual(parseUserPass(frame, 0), { length: 14, user: 'alice', password: 'secret' });
    assert.deepEqual(parseUserPass(b(1, 0, 0), 0), { length: 3, user: '', password: '' });
    const u = Buffer.from('jörg');
    assert.equal(parseUserPass(cat([1, u.length], u, [1], 'x'), 0)?.user, 'jörg');
    prefixesNeedMore(frame, parseUserPass);
  });
  it('refuses a sub-negotiation version other than 1', () => {
    throwsCode(() => parseUserPass(b(5, 1, 0x41, 1, 0x41), 0), 'E_PROTOCOL', /RFC 1929/);
  });
});

describe('SOCKS5 request (RFC 1928 §4, §5)', () => {
  it('IPv4, IPv6 and domain destinations', () => {
    assert.deepEqual(parseRequest5(b(5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90), 0), {
      length: 10,
      cmd: 1,
      dest: { host: '127.0.0.1', port: 8080, kind: 'ipv4' },
    });
    const v6 = cat([5, 3, 0, 4], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0, 53]);
    assert.deepEqual(parseRequest5(v6, 0)?.dest, { host: '2001:db8::1', port: 53, kind: 'ipv6' });
    const name = cat([5, 1, 0, 3, 12], 'Example.COM.', [1, 187]);
    assert.deepEqual(parseRequest5(name, 0), {
      length: 19,
      cmd: 1,
      dest: { host: 'example.com', port: 443, kind: 'domain' },
    });
    for (const f of [b(5, 1, 0, 1, 127, 0, 0, 1, 0, 80), v6, name]) prefixesNeedMore(f, parseRequest5);
  });

  it('an IP literal in the name field becomes an IP destination', () => {
    assert.equal(parseRequest5(cat([5, 1, 0, 3, 9], '127.0.0.1', [0, 80]), 0)?.dest.kind, 'ipv4');
    assert.deepEqual(parseRequest5(cat([5, 1, 0, 3, 3], '::1', [0, 80]), 0)?.dest, {
      host: '::1',
      port: 80,
      kind: 'ipv6',
    });
  });

  it('leaves trailing bytes (optimistic data) alone', () => {
    const r = parseRequest5(cat([5, 1, 0, 1, 1, 2, 3, 4, 0, 80], 'GET /'), 0);
    assert.equal(r?.length, 10);
  });

  it('refuses an unknown address type with reply 0x08', () => {
    assert.throws(
      () => parseRequest5(b(5, 1, 0, 2, 1, 2, 3, 4), 0),
      (e: unknown) => e instanceof AddressTypeError && e.socks5Reply === 0x08 && e.code === 'E_UNSUPPORTED',
    );
  });

  it('refuses a zero-length name as soon as its length byte arrives', () => {
    throwsCode(() => parseRequest5(b(5, 1, 0, 3, 0), 0), 'E_BAD_REQUEST', /zero-length/);
  });

  it('refuses names that are not DNS names', () => {
    for (const n of ['a b', 'a\0b', 'caf\u00e9', 'x'.repeat(64) + '.com', 'a..b', '-a.com', '[::1']) {
      const nb = Buffer.from(n, 'latin1');
      throwsCode(() => parseRequest5(cat([5, 1, 0, 3, nb.length], nb, [0, 80]), 0), 'E_BAD_REQUEST');
    }
  });

  it('refuses a wrong version', () => {
    throwsCode(() => parseRequest5(b(4, 1, 0, 1), 0), 'E_PROTOCOL');
  });
});

describe('SOCKS4 / SOCKS4a request', () => {
  it('SOCKS4 with a USERID', () => {
    const f = cat([4, 1, 0, 80, 10, 1, 2, 3], 'bob', [0]);
    assert.deepEqual(parseRequest4(f, 0), {
      length: 12,
      cmd: 1,
      dest: { host: '10.1.2.3', port: 80, kind: 'ipv4' },
      userId: 'bob',
    });
    prefixesNeedMore(f, parseRequest4);
  });
  it('SOCKS4a: 0.0.0.x (x ≠ 0) marks a host name after the USERID', () => {
    const f = cat([4, 2, 0x1f, 0x90, 0, 0, 0, 7], 'u:p', [0], 'Host.Example', [0]);
    assert.deepEqual(parseRequest4(f, 0), {
      length: f.length,
      cmd: 2,
      dest: { host: 'host.example', port: 8080, kind: 'domain' },
      userId: 'u:p',
    });
    prefixesNeedMore(f, parseRequest4);
    // 0.0.0.0 is not the 4a marker.
    assert.equal(parseRequest4(cat([4, 1, 0, 80, 0, 0, 0, 0], [0]), 0)?.dest.host, '0.0.0.0');
  });
  it('bounds the NUL-terminated fields', () => {
    assert.equal(parseRequest4(cat([4, 1, 0, 80, 1, 2, 3, 4], 'a'.repeat(255)), 0), null);
    throwsCode(
      () => parseRequest4(cat([4, 1, 0, 80, 1, 2, 3, 4], 'a'.repeat(256)), 0),
      'E_BAD_REQUEST',
      /USERID/,
    );
    throwsCode(
      () => parseRequest4(cat([4, 1, 0, 80, 0, 0, 0, 1], [0], 'h'.repeat(256)), 0),
      'E_BAD_REQUEST',
      /host name/,
    );
    throwsCode(
      () => parseRequest4(cat([4, 1, 0, 80, 0, 0, 0, 1], [0, 0]), 0),
      'E_BAD_REQUEST',
      /zero-length/,
    );
  });
  it('refuses a wrong version', () => {
    throwsCode(() => parseRequest4(b(5), 0), 'E_PROTOCOL');
  });
  it('replies: VN 0, code, port, IPv4 (zeros when not IPv4)', () => {
    assert.deepEqual([...reply4(0x5a, '127.0.0.1', 1080)], [0, 0x5a, 4, 56, 127, 0, 0, 1]);
    assert.deepEqual([...reply4(0x5a, '::1', 1080)], [0, 0x5a, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...reply4(0x5b)], [0, 0x5b, 0, 0, 0, 0, 0, 0]);
  });
});

describe('SOCKS5 replies and UDP headers (RFC 1928 §6, §7)', () => {
  it('encodes IPv4, IPv6, IPv4-mapped and absent addresses', () => {
    assert.deepEqual([...reply5(0, '10.0.0.1', 443)], [5, 0, 0, 1, 10, 0, 0, 1, 1, 187]);
    assert.deepEqual([...reply5(0, '::ffff:10.0.0.1', 443)], [5, 0, 0, 1, 10, 0, 0, 1, 1, 187]);
    assert.deepEqual([...reply5(5)], [5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    const v6 = reply5(0, '2001:db8::2', 80);
    assert.equal(v6.length, 22);
    assert.equal(v6[3], 4);
    assert.equal(ipv6Text(v6, 4), '2001:db8::2');
    assert.deepEqual([...udpHeader('1.2.3.4', 53)], [0, 0, 0, 1, 1, 2, 3, 4, 0, 53]);
  });

  it('parses datagrams and drops fragments and truncated headers', () => {
    const d = cat([0, 0, 0, 1, 127, 0, 0, 1, 0, 7], 'payload');
    assert.deepEqual(parseUdpDatagram(d), { dest: { host: '127.0.0.1', port: 7, kind: 'ipv4' }, offset: 10 });
    const frag = Buffer.from(d);
    frag[2] = 1;
    assert.equal(parseUdpDatagram(frag), null);
    for (let n = 0; n < 10; n++) assert.equal(parseUdpDatagram(d.subarray(0, n)), null);
    assert.equal(parseUdpDatagram(b(0, 0, 0, 9, 1, 2, 3, 4, 0, 7)), null);
    assert.equal(parseUdpDatagram(b(0, 0, 0, 3, 0, 0, 7)), null);
  });
});

describe('address text', () => {
  it('formats IPv6 like the WHATWG URL serializer (RFC 5952 compression)', () => {
    const samples: number[][] = [
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 1],
      [1, 0, 0, 0, 0, 0, 0, 0],
      [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1],
      [0x2001, 0xdb8, 0, 1, 0, 0, 0, 1],
      [1, 0, 1, 0, 1, 0, 1, 0],
      [0xffff, 0, 0, 0xabcd, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1],
    ];
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      samples.push(
        Array.from({ length: 8 }, () =>
          (seed = (seed * 1103515245 + 12345) >>> 0) % 3 === 0 ? 0 : seed & 0xffff,
        ),
      );
    }
    for (const g of samples) {
      const buf = Buffer.alloc(16);
      g.forEach((v, i) => buf.writeUInt16BE(v, i * 2));
      const text = ipv6Text(buf, 0);
      const ref = new URL(`http://[${g.map((v) => v.toString(16)).join(':')}]/`).hostname.slice(1, -1);
      if (!ref.includes('.')) assert.equal(text, ref, g.join(','));
    }
  });
  it('normalizes IPv4-mapped peers', () => {
    assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('::1'), '::1');
    assert.equal(normalizeIp(undefined), '');
  });
});

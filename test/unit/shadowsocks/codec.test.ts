// The sans-IO pieces: chunk stream (split anywhere, tampering detected), address codec, replay
// filters, and UDP packets of both editions (2022 packets built independently from the spec).
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { blake3 } from '@noble/hashes/blake3.js';
import { encodeAddress, readAddress } from '../../../src/crypto/ss/address.js';
import { blake3DeriveKey } from '../../../src/crypto/ss/kdf.js';
import { buildKeyTable } from '../../../src/crypto/ss/keys.js';
import { methodInfo, METHOD_NAMES, serverKey, type AeadAlgorithm } from '../../../src/crypto/ss/methods.js';
import { createStreamAead, streamAeadKind } from '../../../src/crypto/ss/stream-aead.js';
import { PacketWindow, SaltPool, SaltRing } from '../../../src/crypto/ss/replay.js';
import { ChunkOpener, ChunkSealer } from '../../../src/crypto/ss/stream.js';
import {
  openAeadPacket,
  sealAeadPacket,
  Udp2022Client,
  Udp2022Server,
  Udp2022ServerSession,
} from '../../../src/crypto/ss/udp.js';

describe('chunk stream', () => {
  const kinds = streamAeadKind === 'native' ? (['native', 'js'] as const) : (['js'] as const);
  const mk = (alg: AeadAlgorithm, key: Buffer, enc: boolean, kind: 'native' | 'js') =>
    createStreamAead(alg, key, enc, kind);

  for (const kind of kinds)
    for (const alg of ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const) {
      it(`${kind} ${alg}: round trip through arbitrary splits, chunks capped at the maximum`, () => {
        const key = randomBytes(alg === 'aes-128-gcm' ? 16 : 32);
        const sealer = new ChunkSealer(mk(alg, key, true, kind), 0x3fff);
        const data = randomBytes(100_000);
        const first = Buffer.from(sealer.seal(data.subarray(0, 70_000)));
        const wire = Buffer.concat([first, sealer.seal(data.subarray(70_000))]);
        assert.equal(
          wire.length,
          data.length + Math.ceil(70_000 / 0x3fff) * 34 + Math.ceil(30_000 / 0x3fff) * 34,
        );
        // Opened in place, and into a caller's buffer, by the other implementation too.
        for (const okind of kinds)
          for (const intoDst of [false, true]) {
            const out: Buffer[] = [];
            const opener = new ChunkOpener(mk(alg, key, false, okind), 0x3fff, (p) =>
              out.push(Buffer.from(p)),
            );
            const dst = Buffer.alloc(5000 + 0x3fff + 16);
            for (let off = 0; off < wire.length;) {
              const n = 1 + Math.floor(Math.random() * 5000);
              assert.ok(opener.push(Buffer.from(wire.subarray(off, off + n)), intoDst ? dst : null));
              off += n;
            }
            assert.deepEqual(Buffer.concat(out), data, `${okind} into ${intoDst ? 'dst' : 'place'}`);
            assert.ok(out.every((p) => p.length <= (intoDst ? 5000 + 0x3fff : 0x3fff)));
          }
      });
    }

  for (const kind of kinds)
    for (const alg of ['aes-128-gcm', 'chacha20-poly1305'] as const) {
      it(`${kind} ${alg}: held-back tails keep the stream intact and fill the chunks of 64 KiB reads`, () => {
        const key = randomBytes(alg === 'aes-128-gcm' ? 16 : 32);
        for (const max of [0x3fff, 0xffff]) {
          const sealer = new ChunkSealer(mk(alg, key, true, kind), max);
          const reads = Array.from({ length: 40 }, () => randomBytes(65536));
          const wire: Buffer[] = [];
          const seen = new Set<ArrayBufferLike>();
          for (const r of reads) {
            const w = sealer.seal(r, true);
            seen.add(w.buffer);
            wire.push(Buffer.from(w));
            sealer.recycle(w); // as after the socket wrote it: the buffer is reused
          }
          assert.ok(seen.size <= 2, `output buffers reused (${seen.size} allocated)`);
          const flushed = sealer.flush();
          if (flushed) wire.push(Buffer.from(flushed));
          assert.equal(sealer.flush(), null);
          // Full chunks only, plus the final flush: 40 × 64 KiB in ceil(total / max) chunks.
          const total = 40 * 65536;
          const all = Buffer.concat(wire);
          assert.equal((all.length - total) / 34, Math.ceil(total / max));
          const out: Buffer[] = [];
          const opener = new ChunkOpener(mk(alg, key, false, kind), max, (p) => out.push(Buffer.from(p)));
          opener.batch = true;
          assert.ok(opener.push(all));
          assert.deepEqual(Buffer.concat(out), Buffer.concat(reads));
          assert.equal(out.length, 1, 'one read, one delivery');
        }
        // Short writes are never held: interactive data goes out at once.
        const s2 = new ChunkSealer(mk(alg, key, true, kind), 0x3fff);
        s2.seal(Buffer.from('ping'), true);
        assert.equal(s2.holding, false);
      });
    }

  for (const kind of kinds)
    it(`${kind}: a flipped bit fails authentication; an AEAD length above 0x3FFF is refused`, () => {
      const key = randomBytes(32);
      const wire = new ChunkSealer(mk('aes-256-gcm', key, true, kind), 0x3fff).seal(
        Buffer.from('some payload'),
      );
      wire[25]! ^= 1;
      const o = new ChunkOpener(mk('aes-256-gcm', key, false, kind), 0x3fff, () => undefined);
      assert.equal(o.push(wire), false);
      assert.equal(o.failure, 'auth');
      // A sealer allowed 0xFFFF (2022) produces a length an AEAD opener must refuse.
      const big = new ChunkSealer(mk('aes-256-gcm', key, true, kind), 0xffff).seal(randomBytes(0x4000));
      const o2 = new ChunkOpener(mk('aes-256-gcm', key, false, kind), 0x3fff, () => undefined);
      assert.equal(o2.push(big), false);
      assert.equal(o2.failure, 'length');
    });

  it('the stream AEAD matches the one-shot AEAD (independent implementations) message by message', () => {
    for (const alg of ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const) {
      const key = randomBytes(alg === 'aes-128-gcm' ? 16 : 32);
      const s = createStreamAead(alg, key, true);
      const nonce = Buffer.alloc(12);
      const ref = createCipheriv(alg, key, nonce, { authTagLength: 16 } as never);
      const msg = randomBytes(1000);
      const a = Buffer.alloc(1016);
      s.sealOne(msg, a, 0);
      const b = Buffer.concat([
        ref.update(msg),
        ref.final(),
        (ref as unknown as { getAuthTag(): Buffer }).getAuthTag(),
      ]);
      assert.deepEqual(a, b, alg);
      // Nonce 1 for the next message (little-endian counter).
      nonce[0] = 1;
      const ref2 = createCipheriv(alg, key, nonce, { authTagLength: 16 } as never);
      s.sealOne(msg, a, 0);
      const b2 = Buffer.concat([
        ref2.update(msg),
        ref2.final(),
        (ref2 as unknown as { getAuthTag(): Buffer }).getAuthTag(),
      ]);
      assert.deepEqual(a, b2, alg);
    }
  });
});

describe('address (RFC 1928 §5 form)', () => {
  it('round-trips IPv4, IPv6 and names, and waits for incomplete input', () => {
    for (const d of [
      { host: '192.0.2.7', port: 8080, kind: 'ipv4' as const },
      { host: '2001:db8::1', port: 443, kind: 'ipv6' as const },
      { host: 'example.org', port: 53, kind: 'domain' as const },
    ]) {
      const b = encodeAddress(d);
      assert.deepEqual(readAddress(b, 0), { dest: d, end: b.length });
      assert.equal(readAddress(b.subarray(0, b.length - 1), 0), null);
    }
    assert.throws(() => readAddress(Buffer.from([0x05, 1, 2, 3]), 0), /unknown address type/);
    assert.throws(() => readAddress(Buffer.from([0x03, 3, 0x61, 0x20, 0x62, 0, 80]), 0), /invalid host name/);
  });
});

describe('replay filters', () => {
  it('SaltPool remembers salts for at least the TTL, exactly', () => {
    let t = 0;
    const pool = new SaltPool(60_000, () => t);
    const a = randomBytes(32);
    assert.equal(pool.checkAndAdd(a), true);
    assert.equal(pool.checkAndAdd(a), false);
    t = 61_000; // one rotation: still remembered
    assert.equal(pool.checkAndAdd(a), false);
    t = 200_000; // two periods later: forgotten (the ±30 s timestamp check refuses it anyway)
    assert.equal(pool.checkAndAdd(a), true);
  });

  it('SaltRing keeps between N and 2N recent salts', () => {
    const ring = new SaltRing(2);
    const s = [1, 2, 3, 4, 5].map((i) => Buffer.alloc(16, i));
    for (const x of s) assert.equal(ring.checkAndAdd(x), true);
    assert.equal(ring.checkAndAdd(s[4]!), false);
    assert.equal(ring.checkAndAdd(s[2]!), false);
    assert.equal(ring.checkAndAdd(s[0]!), true, 'the oldest generation was dropped');
  });

  it('PacketWindow refuses duplicates and packets older than the window, accepts reordering', () => {
    const w = new PacketWindow();
    assert.equal(w.check(5n), true);
    assert.equal(w.check(3n), true);
    assert.equal(w.check(5n), false);
    assert.equal(w.check(3000n), true);
    assert.equal(w.check(10n), false, 'too old');
    assert.equal(w.check(2999n), true);
    assert.equal(w.check(2999n), false);
    assert.equal(w.check(2n ** 60n), false, 'beyond 2^53');
  });
});

describe('UDP packets', () => {
  it('AEAD: seal/open, with the right key chosen among several', () => {
    const m = methodInfo('chacha20-ietf-poly1305');
    const keys = [
      { user: 'a', key: serverKey(m, 'pw-a') },
      { user: 'b', key: serverKey(m, 'pw-b') },
    ];
    const pkt = sealAeadPacket(
      m,
      keys[1]!.key,
      { host: '198.51.100.1', port: 53, kind: 'ipv4' },
      Buffer.from('query'),
    );
    const r = openAeadPacket(m, keys, pkt);
    assert.equal(r?.key.user, 'b');
    assert.equal(r?.payload.toString(), 'query');
    assert.equal(openAeadPacket(m, keys.slice(0, 1), pkt), null);
  });

  it('2022 AES: a client packet built from the spec (with EIH) is opened by the server', () => {
    const m = methodInfo('2022-blake3-aes-128-gcm');
    const ipsk = randomBytes(16);
    const upsk = randomBytes(16);
    const now = 1_700_000_000_000;
    const table = buildKeyTable(m, { user: null, key: ipsk }, [{ user: 'dave', key: upsk }]);
    const sep = Buffer.concat([randomBytes(8), Buffer.from([0, 0, 0, 0, 0, 0, 0, 7])]);
    const ecb = (k: Buffer, b: Buffer): Buffer =>
      createCipheriv('aes-128-ecb', k, null).setAutoPadding(false).update(b);
    const hash = Buffer.from(blake3(upsk)).subarray(0, 16);
    const eih = ecb(ipsk, Buffer.from(hash.map((x, i) => x ^ sep[i]!)));
    const body = Buffer.alloc(1 + 8 + 2 + 7 + 4);
    body[0] = 0;
    body.writeBigUInt64BE(BigInt(now / 1000), 1);
    body.writeUInt16BE(0, 9);
    Buffer.from([1, 127, 0, 0, 1, 0x13, 0x88]).copy(body, 11);
    body.write('ping', 18);
    const subkey = blake3DeriveKey(
      'shadowsocks 2022 session subkey',
      Buffer.concat([upsk, sep.subarray(0, 8)]),
      16,
    );
    const c = createCipheriv('aes-128-gcm', subkey, sep.subarray(4, 16));
    const packet = Buffer.concat([ecb(ipsk, sep), eih, c.update(body), c.final(), c.getAuthTag()]);
    const r = new Udp2022Server(table, () => now).open(packet);
    assert.ok(r);
    assert.equal(r.user.user, 'dave');
    assert.equal(r.packetId, 7n);
    assert.deepEqual(r.dest, { host: '127.0.0.1', port: 5000, kind: 'ipv4' });
    assert.equal(r.payload.toString(), 'ping');
    assert.equal(new Udp2022Server(table, () => now + 31_000).open(packet), null, 'stale timestamp');
  });

  for (const name of METHOD_NAMES.filter((n) => n.startsWith('2022'))) {
    it(`${name}: client ↔ server session round trip; replies only for the right session`, () => {
      const m = methodInfo(name);
      const psk = randomBytes(m.keyLen);
      const table = buildKeyTable(m, { user: null, key: psk }, []);
      const client = new Udp2022Client(m, [psk]);
      const server = new Udp2022Server(table);
      const req = server.open(
        client.seal({ host: 'dns.example', port: 53, kind: 'domain' }, Buffer.from('q')),
      );
      assert.ok(req);
      assert.equal(req.dest.host, 'dns.example');
      const sess = new Udp2022ServerSession(m, psk, req.sessionId);
      const back = client.open(
        sess.seal({ host: '192.0.2.53', port: 53, kind: 'ipv4' }, Buffer.from('answer')),
      );
      assert.equal(back?.payload.toString(), 'answer');
      const stranger = new Udp2022ServerSession(m, psk, randomBytes(8));
      assert.equal(
        client.open(stranger.seal({ host: '192.0.2.53', port: 53, kind: 'ipv4' }, Buffer.from('x'))),
        null,
      );
      assert.equal(server.open(randomBytes(80)), null);
    });
  }
});

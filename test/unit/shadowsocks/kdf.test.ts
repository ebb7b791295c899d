// Known-answer tests for the key derivation of both editions and for the 2022 header layout.
// Expected values come from outside this code: OpenSSL's `enc -md md5 -nosalt -P` (EVP_BytesToKey),
// RFC 5869 appendix A.4 (HKDF-SHA1), the BLAKE3 team's test_vectors.json, and the SIP022 tables,
// decoded here with node:crypto directly rather than through Ferry's codec.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { blake3 } from '@noble/hashes/blake3.js';
import {
  aeadSubkey,
  blake3DeriveKey,
  evpBytesToKey,
  identitySubkey,
  pskHash16,
  sessionSubkey2022,
} from '../../../src/crypto/ss/kdf.js';
import { clientKeys, decodePsk, methodInfo } from '../../../src/crypto/ss/methods.js';
import { ClientStreamCodec, ServerStreamCodecForTest } from './fixtures.js';
import { buildKeyTable } from '../../../src/crypto/ss/keys.js';
import { RequestParser } from '../../../src/crypto/ss/tcp-server.js';
import { SaltPool } from '../../../src/crypto/ss/replay.js';

const B3_CONTEXT = 'BLAKE3 2019-12-27 16:29:52 test vectors context';
const b3input = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % 251);

describe('AEAD key derivation (SIP004)', () => {
  it('EVP_BytesToKey matches OpenSSL (openssl enc -md md5 -nosalt -k foobar -P)', () => {
    assert.equal(
      evpBytesToKey(Buffer.from('foobar'), 32).toString('hex'),
      '3858f62230ac3c915f300c664312c63f568378529614d22ddb49237d2f60bfdf',
    );
    assert.equal(
      evpBytesToKey(Buffer.from('foobar'), 16).toString('hex'),
      '3858f62230ac3c915f300c664312c63f',
    );
  });

  it('HKDF-SHA1 is RFC 5869 A.4, and the subkey uses info "ss-subkey"', () => {
    const okm = hkdfSync(
      'sha1',
      Buffer.alloc(11, 0x0b),
      Buffer.from('000102030405060708090a0b0c', 'hex'),
      Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'),
      42,
    );
    assert.equal(
      Buffer.from(okm).toString('hex'),
      '085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896',
    );
    const key = evpBytesToKey(Buffer.from('foobar'), 32);
    const salt = Buffer.alloc(32, 7);
    assert.deepEqual(
      aeadSubkey(key, salt),
      Buffer.from(hkdfSync('sha1', key, salt, Buffer.from('ss-subkey'), 32)),
    );
  });
});

describe('2022 key derivation (SIP022 §2, EIH)', () => {
  it('BLAKE3 hash and derive_key match the official test vectors', () => {
    assert.equal(
      Buffer.from(blake3(b3input(0))).toString('hex'),
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    );
    assert.equal(
      blake3DeriveKey(B3_CONTEXT, b3input(0)).toString('hex'),
      '2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d',
    );
    assert.equal(
      blake3DeriveKey(B3_CONTEXT, b3input(1)).toString('hex'),
      'b3e2e340a117a499c6cf2398a19ee0d29cca2bb7404c73063382693bf66cb06c',
    );
    assert.equal(
      blake3DeriveKey(B3_CONTEXT, b3input(1024)).toString('hex'),
      '7356cd7720d5b66b6d0697eb3177d9f8d73a4a5c5e968896eb6a689684302706',
    );
  });

  it('session and identity subkeys are derive_key over key‖salt with the spec contexts', () => {
    const key = Buffer.alloc(32, 0xab);
    const salt = Buffer.alloc(32, 0xcd);
    const material = Buffer.concat([key, salt]);
    assert.deepEqual(
      sessionSubkey2022(key, salt),
      blake3DeriveKey('shadowsocks 2022 session subkey', material, 32),
    );
    assert.deepEqual(
      identitySubkey(key, salt),
      blake3DeriveKey('shadowsocks 2022 identity subkey', material, 32),
    );
    assert.equal(
      sessionSubkey2022(key.subarray(0, 16), salt.subarray(0, 16)).length,
      16,
      'subkey as long as the key',
    );
    assert.deepEqual(pskHash16(key), Buffer.from(blake3(key)).subarray(0, 16));
  });

  it('PSKs must be base64 of exactly the key size; several keys form the EIH chain', () => {
    const m = methodInfo('2022-blake3-aes-128-gcm');
    assert.throws(() => decodePsk(m, Buffer.alloc(32).toString('base64')), /16 random bytes/);
    assert.throws(() => decodePsk(m, 'not base64!'), /not base64/);
    const k1 = Buffer.alloc(16, 1).toString('base64');
    const k2 = Buffer.alloc(16, 2).toString('base64');
    assert.equal(clientKeys(m, `${k1}:${k2}`).length, 2);
    const k32 = Buffer.alloc(32, 3).toString('base64');
    assert.throws(
      () => clientKeys(methodInfo('2022-blake3-chacha20-poly1305'), `${k32}:${k32}`),
      /AES method/,
    );
  });
});

describe('2022 TCP headers, decoded independently (SIP022 §3.1)', () => {
  const method = methodInfo('2022-blake3-aes-256-gcm');
  const psk = Buffer.alloc(32, 0x42);
  const now = 1_700_000_000_000;
  const nonce = (n: number): Buffer => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(n, 0);
    return b;
  };
  const open = (key: Buffer, n: number, sealed: Buffer): Buffer => {
    const d = createDecipheriv('aes-256-gcm', key, nonce(n));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  };
  const seal = (key: Buffer, n: number, plain: Buffer): Buffer => {
    const c = createCipheriv('aes-256-gcm', key, nonce(n));
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  };

  it('request: salt, fixed header {type 0, timestamp, length}, variable header {addr, padding, payload}', () => {
    const c = new ClientStreamCodec({
      method,
      keys: [psk],
      dest: { host: 'example.com', port: 443, kind: 'domain' },
      sink: () => undefined,
      now: () => now,
    });
    const wire = c.encode(Buffer.from('hello'));
    const salt = wire.subarray(0, 32);
    const subkey = blake3DeriveKey('shadowsocks 2022 session subkey', Buffer.concat([psk, salt]), 32);
    const fixed = open(subkey, 0, wire.subarray(32, 32 + 11 + 16));
    assert.equal(fixed[0], 0, 'HeaderTypeClientStream');
    assert.equal(fixed.readBigUInt64BE(1), BigInt(now / 1000));
    const varLen = fixed.readUInt16BE(9);
    const v = open(subkey, 1, wire.subarray(59, 59 + varLen + 16));
    assert.equal(59 + varLen + 16, wire.length, 'nothing after the header chunks');
    assert.deepEqual([...v.subarray(0, 2)], [0x03, 11], 'ATYP domain, length 11');
    assert.equal(v.toString('latin1', 2, 13), 'example.com');
    assert.equal(v.readUInt16BE(13), 443);
    const padding = v.readUInt16BE(15);
    assert.ok(padding <= 900, 'MaxPaddingLength');
    assert.equal(v.subarray(17 + padding).toString(), 'hello');
  });

  it('an empty first flight carries non-zero padding', () => {
    const c = new ClientStreamCodec({
      method,
      keys: [psk],
      dest: { host: '10.0.0.1', port: 80, kind: 'ipv4' },
      sink: () => undefined,
      now: () => now,
    });
    const wire = c.encode(Buffer.alloc(0));
    const subkey = sessionSubkey2022(psk, wire.subarray(0, 32));
    const v = open(subkey, 1, wire.subarray(59));
    assert.ok(v.readUInt16BE(7) >= 1);
  });

  it('response: the client accepts {type 1, timestamp, request salt, length} built from the spec, and refuses another salt', () => {
    const got: Buffer[] = [];
    const c = new ClientStreamCodec({
      method,
      keys: [psk],
      dest: { host: '10.0.0.1', port: 80, kind: 'ipv4' },
      sink: (p) => got.push(p),
      now: () => now,
    });
    const requestSalt = c.encode(Buffer.from('x')).subarray(0, 32);
    const build = (reqSalt: Buffer): Buffer => {
      const salt = Buffer.alloc(32, 0x77);
      const subkey = sessionSubkey2022(psk, salt);
      const h = Buffer.alloc(1 + 8 + 32 + 2);
      h[0] = 1;
      h.writeBigUInt64BE(BigInt(now / 1000), 1);
      reqSalt.copy(h, 9);
      h.writeUInt16BE(5, 41);
      return Buffer.concat([salt, seal(subkey, 0, h), seal(subkey, 1, Buffer.from('world'))]);
    };
    assert.equal(c.decode(build(requestSalt)), true, c.failure ?? '');
    assert.deepEqual(got.map(String), ['world']);
    const other = new ClientStreamCodec({
      method,
      keys: [psk],
      dest: { host: '10.0.0.1', port: 80, kind: 'ipv4' },
      sink: () => undefined,
      now: () => now,
    });
    other.encode(Buffer.from('y'));
    assert.equal(other.decode(build(requestSalt)), false);
    assert.match(other.failure ?? '', /another request/);
  });

  it('EIH: an identity header built from the spec (AES(identity subkey, BLAKE3(uPSK)[0..16])) selects the user', () => {
    const m128 = methodInfo('2022-blake3-aes-128-gcm');
    const ipsk = Buffer.alloc(16, 1);
    const upsk = Buffer.alloc(16, 2);
    const table = buildKeyTable(m128, { user: null, key: ipsk }, [{ user: 'carol', key: upsk }]);
    const salt = Buffer.alloc(16, 9);
    const idKey = blake3DeriveKey('shadowsocks 2022 identity subkey', Buffer.concat([ipsk, salt]), 16);
    const ecb = createCipheriv('aes-128-ecb', idKey, null).setAutoPadding(false);
    const eih = ecb.update(Buffer.from(blake3(upsk)).subarray(0, 16));
    const subkey = blake3DeriveKey('shadowsocks 2022 session subkey', Buffer.concat([upsk, salt]), 16);
    const sealed128 = (n: number, plain: Buffer): Buffer => {
      const cph = createCipheriv('aes-128-gcm', subkey, nonce(n));
      return Buffer.concat([cph.update(plain), cph.final(), cph.getAuthTag()]);
    };
    const varHeader = Buffer.from([1, 127, 0, 0, 1, 0, 80, 0, 0, ...Buffer.from('GET')]);
    const fixed = Buffer.alloc(11);
    fixed.writeBigUInt64BE(BigInt(now / 1000), 1);
    fixed.writeUInt16BE(varHeader.length, 9);
    const p = new RequestParser(table, new SaltPool(60_000, () => now), () => now);
    assert.equal(
      p.feed(Buffer.concat([salt, eih, sealed128(0, fixed), sealed128(1, varHeader)])),
      'done',
      p.reason,
    );
    assert.equal(p.userKey?.user, 'carol');
    assert.deepEqual(p.dest, { host: '127.0.0.1', port: 80, kind: 'ipv4' });
    assert.deepEqual(p.initial.map(String), ['GET']);
  });

  it('the server response echoes the request salt (decoded independently)', () => {
    const reqSalt = Buffer.alloc(32, 5);
    const s = new ServerStreamCodecForTest(method, psk, reqSalt, () => now);
    const wire = s.encode(Buffer.from('payload'));
    const subkey = sessionSubkey2022(psk, wire.subarray(0, 32));
    const h = open(subkey, 0, wire.subarray(32, 32 + 43 + 16));
    assert.equal(h[0], 1);
    assert.deepEqual(h.subarray(9, 41), reqSalt);
    assert.equal(h.readUInt16BE(41), 7);
    assert.equal(open(subkey, 1, wire.subarray(32 + 59)).toString(), 'payload');
  });
});

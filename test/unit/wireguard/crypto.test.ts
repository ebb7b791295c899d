// Known-answer tests for the primitives of crypto.ts, against published vectors or an independent
// implementation (Node's OpenSSL for X25519/ChaCha20-Poly1305, @noble/hashes' HMAC for HMAC/HKDF).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import {
  aeadDecryptInto,
  aeadEncryptInto,
  dh,
  hash,
  hmac,
  kdf1,
  kdf2,
  kdf3,
  mac,
  publicKeyFrom,
  setNonce,
  xaeadOpen,
  xaeadSeal,
} from '../../../src/wireguard/crypto.js';
import { compareTai64n, tai64n } from '../../../src/wireguard/tai64n.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('BLAKE2s-256 of "abc" (RFC 7693 Appendix B)', () => {
  assert.equal(
    toHex(hash(new TextEncoder().encode('abc'))),
    '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
  );
  // Concatenated parts hash like one message.
  assert.deepEqual(
    hash(Uint8Array.of(0x61), Uint8Array.of(0x62, 0x63)),
    hash(new TextEncoder().encode('abc')),
  );
});

test('MAC is keyed BLAKE2s with a 16-byte digest', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const msg = new TextEncoder().encode('WireGuard mac1 input');
  const out = mac(key, msg);
  assert.equal(out.length, 16);
  // Independently: keyed BLAKE2s differs from unkeyed truncated, and is deterministic.
  assert.notEqual(toHex(out), toHex(blake2s(msg, { dkLen: 16 })));
  assert.equal(toHex(out), toHex(mac(key, msg)));
});

test('HMAC-BLAKE2s matches @noble/hashes hmac (short and long keys)', () => {
  for (const keyLen of [0, 1, 32, 64, 65, 200]) {
    const key = Uint8Array.from({ length: keyLen }, (_, i) => (i * 7 + 3) & 0xff);
    const msg = Uint8Array.from({ length: 100 }, (_, i) => i & 0xff);
    assert.equal(toHex(hmac(key, msg)), toHex(nobleHmac(blake2s, key, msg)), `key length ${keyLen}`);
    assert.equal(
      toHex(hmac(key, msg.subarray(0, 40), msg.subarray(40))),
      toHex(nobleHmac(blake2s, key, msg)),
    );
  }
});

test('KDF1/2/3 equal HKDF-BLAKE2s with empty info (independent HKDF)', () => {
  const key = hex('60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
  const input = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  const ref = hkdf(blake2s, input, key, new Uint8Array(0), 96);
  assert.equal(toHex(kdf1(key, input)), toHex(ref.subarray(0, 32)));
  const [a, b] = kdf2(key, input);
  assert.equal(toHex(a) + toHex(b), toHex(ref.subarray(0, 64)));
  const [x, y, z] = kdf3(key, input);
  assert.equal(toHex(x) + toHex(y) + toHex(z), toHex(ref));
  // Empty input (used for the transport keys, §5.4.5).
  const ref0 = hkdf(blake2s, new Uint8Array(0), key, new Uint8Array(0), 64);
  const [s, r] = kdf2(key, new Uint8Array(0));
  assert.equal(toHex(s) + toHex(r), toHex(ref0));
});

const LADIES = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

test('ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('070000004041424344454647');
  const aad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected =
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116' +
    '1ae10b594f09e26a7e902ecbd0600691';
  const out = new Uint8Array(LADIES.length + 16);
  aeadEncryptInto(out, key, nonce, LADIES, aad);
  assert.equal(toHex(out), expected);
  const back = new Uint8Array(LADIES.length);
  assert.ok(aeadDecryptInto(back, key, nonce, out, aad));
  assert.deepEqual(back, LADIES);
  out[5]! ^= 1;
  assert.equal(aeadDecryptInto(back, key, nonce, out, aad), false);
});

test('AEAD nonce layout: 32 zero bits then the 64-bit counter little-endian; agrees with OpenSSL', () => {
  const n = new Uint8Array(12);
  setNonce(n, 0x0102030405060);
  assert.equal(toHex(n), '00000000' + '6050403020100000');
  const key = nodeCrypto.randomBytes(32);
  const msg = nodeCrypto.randomBytes(77);
  const counter = 2 ** 40 + 5;
  setNonce(n, counter);
  const out = new Uint8Array(msg.length + 16);
  aeadEncryptInto(out, key, n, msg, null);
  const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, n, { authTagLength: 16 });
  const ref = Buffer.concat([c.update(msg), c.final(), c.getAuthTag()]);
  assert.equal(toHex(out), ref.toString('hex'));
});

test('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha §A.3.1)', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const aad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39' +
    'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e' +
    'c0875924c1c7987947deafd8780acf49';
  const sealed = xaeadSeal(key, nonce, LADIES, aad);
  assert.equal(toHex(sealed), expected);
  assert.deepEqual(xaeadOpen(key, nonce, sealed, aad), LADIES);
  assert.equal(xaeadOpen(key, nonce, sealed, hex('00')), null);
});

test('X25519 (RFC 7748 §5.2 and §6.1)', () => {
  const scalar = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
  const u = hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
  assert.equal(toHex(dh(scalar, u)!), 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');

  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  assert.equal(
    toHex(publicKeyFrom(alice)),
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  );
  assert.equal(toHex(publicKeyFrom(bob)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(dh(alice, publicKeyFrom(bob))!), shared);
  assert.equal(toHex(dh(bob, publicKeyFrom(alice))!), shared);
});

test('X25519 agrees with OpenSSL on random keys', () => {
  const pkcs8 = hex('302e020100300506032b656e04220420');
  const spki = hex('302a300506032b656e032100');
  for (let i = 0; i < 5; i++) {
    const a = nodeCrypto.randomBytes(32);
    const b = nodeCrypto.randomBytes(32);
    const pubB = publicKeyFrom(b);
    const ref = nodeCrypto.diffieHellman({
      privateKey: nodeCrypto.createPrivateKey({
        key: Buffer.concat([pkcs8, a]),
        format: 'der',
        type: 'pkcs8',
      }),
      publicKey: nodeCrypto.createPublicKey({
        key: Buffer.concat([spki, pubB]),
        format: 'der',
        type: 'spki',
      }),
    });
    assert.equal(toHex(dh(a, pubB)!), ref.toString('hex'));
  }
});

test('X25519 with a small-order public key yields null (all-zero output rejected)', () => {
  const priv = nodeCrypto.randomBytes(32);
  assert.equal(dh(priv, new Uint8Array(32)), null); // u = 0
  const one = new Uint8Array(32);
  one[0] = 1;
  assert.equal(dh(priv, one), null); // u = 1, order 1
  // A point of order 8 (from the curve25519 small-order list).
  assert.equal(dh(priv, hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')), null);
});

test('TAI64N: 2^62+10+secs big-endian, whitened nanoseconds, ordered bytewise', () => {
  const t = tai64n(1_700_000_000_123.456);
  const view = new DataView(t.buffer);
  assert.equal(view.getBigUint64(0), 2n ** 62n + 10n + 1_700_000_000n);
  const nanos = view.getUint32(8);
  assert.equal(nanos & 0xffffff, 0);
  assert.ok(nanos <= 123_456_000 && nanos > 123_456_000 - 0x1000000);
  assert.ok(compareTai64n(tai64n(1_700_000_001_000), t) > 0);
  assert.ok(compareTai64n(t, tai64n(1_699_999_999_999)) > 0);
  assert.equal(compareTai64n(t, tai64n(1_700_000_000_123.456)), 0);
});

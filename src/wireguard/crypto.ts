// Cryptographic primitives of §5.4 of the whitepaper, as thin, typed wrappers:
//   DH (X25519), HASH (BLAKE2s-256), MAC (keyed BLAKE2s-128), HMAC (HMAC-BLAKE2s), KDF1..3,
//   AEAD (ChaCha20-Poly1305, 96-bit nonce of 32 zero bits + 64-bit little-endian counter) and
//   XAEAD (XChaCha20-Poly1305, for cookie replies).
// libsodium (sodium-native) does the curve and cipher work; BLAKE2s comes from @noble/hashes because
// libsodium only ships BLAKE2b.

import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { AEAD_TAG_SIZE, KEY_SIZE, MAC_SIZE } from './constants.js';

/** The subset of sodium-native used here (it ships no type declarations). */
interface Sodium {
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  sodium_memzero(b: Uint8Array): void;
}

const sodium = createRequire(import.meta.url)('sodium-native') as Sodium;

/** The empty string ε of §5.4 (transport-key derivation, the response's empty payload). */
export const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// X25519

/** Generates a private key with the RFC 7748 clamping applied (as `wg genkey` does). */
export function generatePrivateKey(random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  const k = Uint8Array.from(random(KEY_SIZE));
  clampPrivateKey(k);
  return k;
}

/** RFC 7748 §5 clamping, in place. X25519 clamps internally anyway; this keeps stored keys canonical. */
export function clampPrivateKey(k: Uint8Array): void {
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
}

export function publicKeyFrom(privateKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_SIZE);
  sodium.crypto_scalarmult_base(out, privateKey);
  return out;
}

/**
 * DH(priv, pub). Returns null when the result is all zeros, i.e. `pub` is of small order: §5.4 and
 * the Noise spec require rejecting such a result, otherwise an attacker fixes the shared secret.
 * libsodium already refuses that case (it returns -1, which sodium-native turns into a throw).
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  const out = new Uint8Array(KEY_SIZE);
  try {
    sodium.crypto_scalarmult(out, privateKey, publicKey);
  } catch {
    return null;
  }
  return isZero(out) ? null : out;
}

// ---------------------------------------------------------------------------------------------
// BLAKE2s: HASH, MAC, HMAC, KDF

/** HASH(a || b || ...): BLAKE2s with a 32-byte digest. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ dkLen: 32 });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte digest (mac1, mac2 and cookies, §5.4.4). */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: MAC_SIZE });
}

const HMAC_BLOCK = 64; // BLAKE2s block size
const ipadKey = new Uint8Array(HMAC_BLOCK);
const opadKey = new Uint8Array(HMAC_BLOCK);

/** HMAC(key, input) per RFC 2104 instantiated with BLAKE2s-256 (§5.4: "HMAC-BLAKE2s"). */
export function hmac(key: Uint8Array, ...input: Uint8Array[]): Uint8Array {
  const k = key.length > HMAC_BLOCK ? hash(key) : key;
  ipadKey.fill(0x36);
  opadKey.fill(0x5c);
  for (let i = 0; i < k.length; i++) {
    ipadKey[i]! ^= k[i]!;
    opadKey[i]! ^= k[i]!;
  }
  const inner = blake2s.create({ dkLen: 32 }).update(ipadKey);
  for (const p of input) inner.update(p);
  const result = blake2s.create({ dkLen: 32 }).update(opadKey).update(inner.digest()).digest();
  ipadKey.fill(0);
  opadKey.fill(0);
  return result;
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/**
 * KDFn(key, input) of §5.4: HKDF with HMAC-BLAKE2s and an empty info string —
 * τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i-1) || i).
 */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  t0.fill(0);
  return t1;
}

export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, TWO);
  t0.fill(0);
  return [t1, t2];
}

export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, TWO);
  const t3 = hmac(t0, t2, THREE);
  t0.fill(0);
  return [t1, t2, t3];
}

// ---------------------------------------------------------------------------------------------
// AEAD

/** Writes the §5.4 AEAD nonce for `counter` (< 2^53 here; the handshake only uses 0) into `nonce`. */
export function setNonce(nonce: Uint8Array, counter: number): void {
  nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
  let lo = counter >>> 0;
  let hi = Math.floor(counter / 4294967296) >>> 0;
  for (let i = 4; i < 8; i++, lo >>>= 8) nonce[i] = lo & 0xff;
  for (let i = 8; i < 12; i++, hi >>>= 8) nonce[i] = hi & 0xff;
}

const zeroNonce = new Uint8Array(12);

/**
 * AEAD(key, counter, plaintext, aad) into `out` (plaintext.length + 16 bytes). Returns bytes written.
 * `nonce` is a caller-owned 12-byte scratch buffer so the data path allocates nothing.
 */
export function aeadEncryptInto(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array | null,
): number {
  return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key);
}

/** Inverse of aeadEncryptInto; returns false when authentication fails. `out` is ciphertext.length - 16. */
export function aeadDecryptInto(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array | null,
): boolean {
  if (ciphertext.length < AEAD_TAG_SIZE) return false;
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, aad, nonce, key);
    return true;
  } catch {
    return false;
  }
}

/** Handshake-path convenience: AEAD with counter 0 (each handshake key is used once, §5.4.2). */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_SIZE);
  aeadEncryptInto(out, key, zeroNonce, plaintext, aad);
  return out;
}

export function aeadOpen(key: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_SIZE) return null;
  const out = new Uint8Array(ciphertext.length - AEAD_TAG_SIZE);
  return aeadDecryptInto(out, key, zeroNonce, ciphertext, aad) ? out : null;
}

/** XAEAD(key, nonce24, plaintext, aad): XChaCha20-Poly1305 (§5.4.7, cookie replies). */
export function xaeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_SIZE);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key);
  return out;
}

export function xaeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_SIZE) return null;
  const out = new Uint8Array(ciphertext.length - AEAD_TAG_SIZE);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, aad, nonce, key);
    return out;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

export function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** Constant-time equality for MACs and keys (length is public). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}

/** Overwrites key material; libsodium's memzero is not optimised away. */
export function wipe(b: Uint8Array | null | undefined): void {
  if (b && b.length > 0) sodium.sodium_memzero(b);
}

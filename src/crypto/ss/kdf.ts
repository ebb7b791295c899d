// Key derivation for both editions.
//   EVP_BytesToKey (OpenSSL, MD5, one iteration, no salt): the AEAD master key from a password (SIP004).
//   HKDF-SHA1(key, salt, info "ss-subkey"): the AEAD per-session subkey (SIP004, RFC 5869).
//   BLAKE3 derive_key: the 2022 session subkey and EIH identity subkey (SIP022 §2.2; EIH spec "TCP").
import { createHash, hkdfSync } from 'node:crypto';
import { blake3 } from '@noble/hashes/blake3.js';

const SS_SUBKEY_INFO = Buffer.from('ss-subkey');
const SESSION_CONTEXT = new TextEncoder().encode('shadowsocks 2022 session subkey');
const IDENTITY_CONTEXT = new TextEncoder().encode('shadowsocks 2022 identity subkey');

/** D_i = MD5(D_{i-1} || password), concatenated until keyLen bytes (EVP_BytesToKey with count 1). */
export function evpBytesToKey(password: Buffer, keyLen: number): Buffer {
  const out = Buffer.alloc(keyLen);
  let prev = Buffer.alloc(0);
  let filled = 0;
  while (filled < keyLen) {
    prev = createHash('md5').update(prev).update(password).digest();
    filled += prev.copy(out, filled);
  }
  return out;
}

/** SIP004: subkey = HKDF-SHA1(IKM = master key, salt, info = "ss-subkey"), as long as the key. */
export function aeadSubkey(key: Buffer, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha1', key, salt, SS_SUBKEY_INFO, key.length));
}

/** SIP022 §2.2: blake3::derive_key("shadowsocks 2022 session subkey", key || salt). */
export function sessionSubkey2022(key: Uint8Array, salt: Uint8Array): Buffer {
  return deriveKey(SESSION_CONTEXT, key, salt, key.length);
}

/** EIH "TCP": blake3::derive_key("shadowsocks 2022 identity subkey", iPSK || salt). */
export function identitySubkey(ipsk: Uint8Array, salt: Uint8Array): Buffer {
  return deriveKey(IDENTITY_CONTEXT, ipsk, salt, ipsk.length);
}

/** EIH: the first 16 bytes of blake3::hash(PSK), which names a key without revealing it. */
export function pskHash16(psk: Uint8Array): Buffer {
  return Buffer.from(blake3(psk, { dkLen: 16 }));
}

function deriveKey(context: Uint8Array, a: Uint8Array, b: Uint8Array, len: number): Buffer {
  const material = new Uint8Array(a.length + b.length);
  material.set(a, 0);
  material.set(b, a.length);
  return Buffer.from(blake3(material, { context, dkLen: len }));
}

/** blake3::derive_key(context, material) with a string context (exported for known-answer tests). */
export function blake3DeriveKey(context: string, material: Uint8Array, len = 32): Buffer {
  return Buffer.from(blake3(material, { context: new TextEncoder().encode(context), dkLen: len }));
}

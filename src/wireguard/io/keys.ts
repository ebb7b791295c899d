// Curve25519 keys as `wg genkey`/`wg pubkey`/`wg genpsk` produce them (base64 of 32 bytes).
// X25519 comes from node:crypto (OpenSSL), so key handling needs neither the core nor the addon.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';

/** RFC 7748 section 5 clamping; wg(8) stores private keys already clamped. */
export function clamp(k: Uint8Array): Uint8Array {
  const out = Uint8Array.from(k);
  out[0]! &= 248;
  out[31]! &= 127;
  out[31]! |= 64;
  return out;
}

export function generatePrivateKey(): Uint8Array {
  return clamp(randomBytes(32));
}

export function generatePresharedKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410 section 7): fixed 16-byte prefix.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  const der = Buffer.concat([PKCS8_X25519_PREFIX, privateKey]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  const spki = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

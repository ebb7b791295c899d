// The Shadowsocks methods Ferry speaks, and how each turns the configured secret into keys.
//
// AEAD (SIP004, amended by SIP007): the password goes through OpenSSL's EVP_BytesToKey (MD5) to the
// master key; each stream/packet has a random salt as long as the key, and HKDF-SHA1 derives the
// subkey from both. 2022 edition (SIP022 §2.1): the secret *is* the key — base64, exactly key-size
// bytes, never stretched from a password; several keys joined by ':' are the EIH chain (iPSK…:uPSK).
import { FerryError } from '../../core/errors.js';
import { evpBytesToKey } from './kdf.js';

export type AeadAlgorithm = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

export interface MethodInfo {
  readonly name: string;
  /** 'aead' = SIP004/SIP007, '2022' = SIP022. */
  readonly edition: 'aead' | '2022';
  readonly algorithm: AeadAlgorithm;
  /** Key length = salt length, in bytes (SIP004 table; SIP022 §2.1 table). */
  readonly keyLen: number;
  /** Largest payload per TCP chunk: 0x3FFF for AEAD (SIP004), 0xFFFF for 2022 (SIP022 §3.1.2). */
  readonly maxPayload: number;
}

const TABLE: readonly MethodInfo[] = [
  { name: 'aes-128-gcm', edition: 'aead', algorithm: 'aes-128-gcm', keyLen: 16, maxPayload: 0x3fff },
  { name: 'aes-256-gcm', edition: 'aead', algorithm: 'aes-256-gcm', keyLen: 32, maxPayload: 0x3fff },
  {
    name: 'chacha20-ietf-poly1305',
    edition: 'aead',
    algorithm: 'chacha20-poly1305',
    keyLen: 32,
    maxPayload: 0x3fff,
  },
  {
    name: '2022-blake3-aes-128-gcm',
    edition: '2022',
    algorithm: 'aes-128-gcm',
    keyLen: 16,
    maxPayload: 0xffff,
  },
  {
    name: '2022-blake3-aes-256-gcm',
    edition: '2022',
    algorithm: 'aes-256-gcm',
    keyLen: 32,
    maxPayload: 0xffff,
  },
  {
    name: '2022-blake3-chacha20-poly1305',
    edition: '2022',
    algorithm: 'chacha20-poly1305',
    keyLen: 32,
    maxPayload: 0xffff,
  },
];

/** Names accepted in configuration and ss:// links (v2ray's alias for chacha included). */
export const METHOD_NAMES = TABLE.map((m) => m.name);

const ALIASES: Record<string, string> = { 'chacha20-poly1305': 'chacha20-ietf-poly1305' };

export function methodInfo(name: string): MethodInfo {
  const n = ALIASES[name.toLowerCase()] ?? name.toLowerCase();
  const m = TABLE.find((t) => t.name === n);
  if (!m)
    throw new FerryError(
      'E_CONFIG',
      `unknown Shadowsocks method '${name}' (supported: ${METHOD_NAMES.join(', ')})`,
    );
  return m;
}

/**
 * Decodes one SIP022 PSK (standard base64, padding optional). Throws E_CONFIG naming what is wrong
 * but never echoing the key itself.
 */
export function decodePsk(method: MethodInfo, b64: string, what = 'key'): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64))
    throw new FerryError('E_CONFIG', `${method.name}: the ${what} is not base64`);
  const k = Buffer.from(b64, 'base64');
  if (k.length !== method.keyLen) {
    throw new FerryError(
      'E_CONFIG',
      `${method.name}: the ${what} must be ${method.keyLen} random bytes in base64 (got ${k.length}); ` +
        `make one with: openssl rand -base64 ${method.keyLen}`,
    );
  }
  return k;
}

/**
 * The key chain a client uses: AEAD → [EVP_BytesToKey(password)]; 2022 → the PSKs of `a:b:c`
 * (iPSKs first, the user's PSK last; SIP022 EIH "Scenarios").
 */
export function clientKeys(method: MethodInfo, secret: string): Buffer[] {
  if (method.edition === 'aead') {
    if (secret.length === 0) throw new FerryError('E_CONFIG', `${method.name}: empty password`);
    return [evpBytesToKey(Buffer.from(secret, 'utf8'), method.keyLen)];
  }
  const parts = secret.split(':');
  const keys = parts.map((p, i) => decodePsk(method, p, parts.length > 1 ? `key #${i + 1}` : 'key'));
  if (keys.length > 1 && method.algorithm === 'chacha20-poly1305') {
    // EIH encrypts identity headers with an AES block cipher: defined for the AES methods only.
    throw new FerryError('E_CONFIG', `${method.name}: identity headers (several keys) need an AES method`);
  }
  return keys;
}

/** One key from a configured secret (server side): EVP_BytesToKey for AEAD, the base64 PSK for 2022. */
export function serverKey(method: MethodInfo, secret: string, what = 'password'): Buffer {
  if (method.edition === 'aead') {
    if (secret.length === 0) throw new FerryError('E_CONFIG', `${method.name}: empty ${what}`);
    return evpBytesToKey(Buffer.from(secret, 'utf8'), method.keyLen);
  }
  return decodePsk(method, secret, what);
}

// Password hashes in a self-describing string: scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>.
// scrypt (RFC 7914) is in Node's crypto, memory-hard, and needs no native dependency.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEYLEN = 32;
// N = 2^15, r = 8, p = 1: ~32 MiB and tens of milliseconds per check, OWASP's scrypt minimum.
const DEFAULT = { logN: 15, r: 8, p: 1 };

function scryptAsync(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEYLEN, { ...opts, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, params = DEFAULT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, { N: 2 ** params.logN, r: params.r, p: params.p });
  return `scrypt$${params.logN}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function isPasswordHash(s: string): boolean {
  return /^scrypt\$\d{1,2}\$\d{1,2}\$\d{1,2}\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(s);
}

/** Constant-time check of a password against a stored hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!isPasswordHash(stored)) return false;
  const [, logN, r, p, saltB64, hashB64] = stored.split('$');
  const expected = Buffer.from(hashB64!, 'base64');
  const key = await scryptAsync(password, Buffer.from(saltB64!, 'base64'), {
    N: 2 ** Number(logN),
    r: Number(r),
    p: Number(p),
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

// Secrets the service hands out exactly once: proxy passwords and API tokens. Only hashes are
// stored — scrypt for passwords (they may be chosen by people), SHA-256 for tokens (256 random bits
// need no stretching, and a fast hash lets every API request be checked without a cache).
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'fy_';
/** fy_ + base64url of 32 bytes (43 characters, no padding). */
export const TOKEN_PATTERN = /^fy_[A-Za-z0-9_-]{43}$/;

/** 24 random bytes: 192 bits, 32 base64url characters — safe in URLs, shells and Basic auth. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

// Store users' Shadowsocks keys, and the link a user's client needs.
//
// The store keeps one key per user that does not depend on the inbound's method, so that changing
// the method (or serving one user on several inbounds) needs no new keys: 32 random bytes in base64.
// The secret for a method is derived from it:
//   - AEAD methods (SIP004): the base64 text itself is the password (EVP_BytesToKey stretches it);
//   - 2022 methods (SIP022 §2.1, keys of exactly the method's size): the first keyLen bytes, base64.
// Config-file users give their exact secret in `ss_password` instead; nothing is derived for them.
import { randomBytes } from 'node:crypto';
import { FerryError } from '../core/errors.js';
import type { MethodInfo } from '../crypto/ss/methods.js';
import { formatSsUri } from './ss-uri.js';

const STORED_KEY_BYTES = 32;

export function newShadowsocksKey(): string {
  return randomBytes(STORED_KEY_BYTES).toString('base64');
}

/** The user's secret for `method` from the stored key. */
export function userSecretFor(method: MethodInfo, stored: string): string {
  if (method.edition === 'aead') return stored;
  const raw = Buffer.from(stored, 'base64');
  if (raw.length < method.keyLen)
    throw new FerryError('E_CONFIG', `stored Shadowsocks key too short for ${method.name}`);
  return raw.subarray(0, method.keyLen).toString('base64');
}

export interface UserLinkInput {
  method: MethodInfo;
  /** The inbound's password: the shared AEAD password, or the 2022 server key (iPSK with users). */
  inboundPassword: string | undefined;
  /** The user's own secret for this method (userSecretFor, or a config user's ss_password). */
  userSecret: string | null;
  host: string;
  port: number;
  tag?: string;
}

/**
 * The SIP002 link for one user of an inbound, as the server's key table will accept it:
 *   AEAD: the user's own password (or the shared one when the user has none);
 *   2022 AES with user keys: `<server key>:<user key>` (identity headers, SIP022 EIH);
 *   2022 otherwise (ChaCha, or no user key): the server key alone — one key for everyone.
 */
export function userLink(i: UserLinkInput): string {
  let password: string | undefined;
  if (i.method.edition === 'aead') password = i.userSecret ?? i.inboundPassword;
  else if (i.userSecret && i.method.algorithm !== 'chacha20-poly1305' && i.inboundPassword)
    password = `${i.inboundPassword}:${i.userSecret}`;
  else password = i.inboundPassword;
  if (!password) throw new FerryError('E_CONFIG', 'the inbound has no password and the user no key');
  return formatSsUri({
    method: i.method.name,
    password,
    host: i.host,
    port: i.port,
    ...(i.tag ? { tag: i.tag } : {}),
  });
}

// The server's key table: who may connect and with which key. Built by the inbound from its
// configuration (today: the inbound's password and the users' `ss_password`; later: the store), and
// swapped whole on reload, so lookups never see a half-updated table.
import { AesBlock } from './aead.js';
import { pskHash16 } from './kdf.js';
import type { MethodInfo } from './methods.js';

export interface UserKey {
  /** The Ferry user this key belongs to; null for an inbound-wide key without a user. */
  user: string | null;
  key: Buffer;
}

export interface ServerKeyTable {
  method: MethodInfo;
  /**
   * AEAD: candidate keys, tried in order on a new connection (AEAD has no user field, so a server
   * with several users finds the one whose key opens the first chunk, as outline-ss-server does).
   */
  aeadKeys: UserKey[];
  /** 2022: the server PSK (the identity PSK when `users` is set). */
  psk: UserKey | null;
  /** 2022 EIH: users by the first 16 bytes of BLAKE3(uPSK), hex. Null for a single-key server. */
  users: Map<string, UserKey> | null;
  /** AES block cipher keyed with the PSK (UDP separate header, EIH of UDP). */
  pskBlock: AesBlock | null;
}

export function buildKeyTable(
  method: MethodInfo,
  inboundKey: UserKey | null,
  userKeys: UserKey[],
): ServerKeyTable {
  if (method.edition === 'aead') {
    const aeadKeys = [...userKeys];
    if (inboundKey) aeadKeys.push(inboundKey);
    return { method, aeadKeys, psk: null, users: null, pskBlock: null };
  }
  if (!inboundKey) throw new Error('a 2022 server needs its PSK');
  const multi = userKeys.length > 0 && method.algorithm !== 'chacha20-poly1305';
  const users = multi ? new Map(userKeys.map((u) => [pskHash16(u.key).toString('hex'), u])) : null;
  const pskBlock = method.algorithm === 'chacha20-poly1305' ? null : new AesBlock(inboundKey.key);
  return { method, aeadKeys: [], psk: inboundKey, users, pskBlock };
}

// Shadowsocks UDP packets, sans-IO.
//
// AEAD (SIP004 "UDP"): [salt][AEAD(subkey(salt), nonce 0, address‖payload)‖tag], replies the same
// with the source address; every packet stands alone.
// 2022 (SIP022 §3.2): session-based. AES methods: [AES(PSK, sessionID‖packetID)][EIH…]
// [AEAD(blake3(key‖sessionID), nonce = separate header[4..16], main header‖payload)], the main header
// being type, timestamp, (server: client session ID), padding length, padding, address.
// ChaCha method (§4.1): [24-byte nonce][XChaCha20-Poly1305(PSK, sessionID‖packetID‖main header‖payload)].
import { randomBytes, randomInt } from 'node:crypto';
import type { Destination } from '../../core/session.js';
import { AesBlock, createAead, NONCE_LEN, sodium, TAG_LEN, type Aead } from './aead.js';
import { addressLength, readAddress, writeAddress } from './address.js';
import { aeadSubkey, pskHash16, sessionSubkey2022 } from './kdf.js';
import type { ServerKeyTable, UserKey } from './keys.js';
import type { MethodInfo } from './methods.js';
import { HEADER_TYPE_CLIENT, HEADER_TYPE_SERVER, MAX_TIME_DIFF_S } from './constants.js';

const ZERO_NONCE = Buffer.alloc(NONCE_LEN);
const XNONCE_LEN = 24;

export interface UdpMessage {
  dest: Destination;
  payload: Buffer;
}

// ------------------------------------------------------------------------------------------------
// AEAD (SIP004)

export function sealAeadPacket(method: MethodInfo, key: Buffer, addr: Destination, payload: Buffer): Buffer {
  const salt = randomBytes(method.keyLen);
  const alen = addressLength(addr);
  const plain = Buffer.allocUnsafe(alen + payload.length);
  writeAddress(addr, plain, 0);
  payload.copy(plain, alen);
  const out = Buffer.allocUnsafe(salt.length + plain.length + TAG_LEN);
  salt.copy(out, 0);
  createAead(method.algorithm, aeadSubkey(key, salt)).seal(ZERO_NONCE, plain, out, salt.length);
  return out;
}

/** Opens a packet with the first of `keys` that authenticates it. Throws on a bad address. */
export function openAeadPacket(
  method: MethodInfo,
  keys: readonly UserKey[],
  packet: Buffer,
): (UdpMessage & { key: UserKey; salt: Buffer }) | null {
  const keyLen = method.keyLen;
  if (packet.length < keyLen + TAG_LEN + 7) return null;
  const salt = packet.subarray(0, keyLen);
  for (const k of keys) {
    // Decrypt a copy: sodium opens in place, and a failed try must leave the packet for the next key.
    const plain = createAead(method.algorithm, aeadSubkey(k.key, salt)).open(
      ZERO_NONCE,
      Buffer.from(packet.subarray(keyLen)),
    );
    if (!plain) continue;
    const a = readAddress(plain, 0);
    if (!a) return null;
    return { dest: a.dest, payload: plain.subarray(a.end), key: k, salt: Buffer.from(salt) };
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// 2022 (SIP022 §3.2, §4.1)

function nowSeconds(now: () => number): bigint {
  return BigInt(Math.floor(now() / 1000));
}

function fresh(ts: bigint, now: () => number): boolean {
  return Math.abs(Number(ts) - now() / 1000) <= MAX_TIME_DIFF_S;
}

/** Main header + payload, for either direction (clientSession set = server-to-client). */
function writeBody(
  type: number,
  clientSession: Buffer | null,
  addr: Destination,
  payload: Buffer,
  now: () => number,
): Buffer {
  // Pad only DNS-sized packets; bulk datagrams gain nothing from it.
  const padding = payload.length < 128 ? randomInt(0, 64) : 0;
  const alen = addressLength(addr);
  const b = Buffer.allocUnsafe(1 + 8 + (clientSession ? 8 : 0) + 2 + padding + alen + payload.length);
  b[0] = type;
  b.writeBigUInt64BE(nowSeconds(now), 1);
  let p = 9;
  if (clientSession) p += clientSession.copy(b, p);
  p = b.writeUInt16BE(padding, p);
  if (padding) b.fill(0, p, p + padding);
  p += padding;
  p = writeAddress(addr, b, p);
  payload.copy(b, p);
  return b;
}

interface ParsedBody extends UdpMessage {
  clientSession: Buffer | null;
}

/** Parses a main header; null when type, timestamp or layout is wrong. Throws on a bad address. */
function readBody(b: Buffer, expectType: number, now: () => number): ParsedBody | null {
  const withSession = expectType === HEADER_TYPE_SERVER;
  const min = 1 + 8 + (withSession ? 8 : 0) + 2;
  if (b.length < min || b[0] !== expectType) return null;
  if (!fresh(b.readBigUInt64BE(1), now)) return null;
  let p = 9;
  let clientSession: Buffer | null = null;
  if (withSession) {
    clientSession = b.subarray(9, 17);
    p = 17;
  }
  const padding = b.readUInt16BE(p);
  p += 2 + padding;
  if (p > b.length) return null;
  const a = readAddress(b, p);
  if (!a) return null;
  return { dest: a.dest, payload: b.subarray(a.end), clientSession };
}

/** Per-session AEAD ciphers, derived once (SIP022 §3.2.4: "cache the session AEAD ciphers"). */
class SessionCiphers {
  private readonly byId = new Map<string, Aead>();
  constructor(private readonly method: MethodInfo) {}
  get(key: Buffer, sessionId: Buffer): Aead {
    const k = sessionId.toString('hex');
    let a = this.byId.get(k);
    if (!a) {
      if (this.byId.size >= 64) this.byId.clear();
      a = createAead(this.method.algorithm, sessionSubkey2022(key, sessionId));
      this.byId.set(k, a);
    }
    return a;
  }
}

function xseal(key: Buffer, plain: Buffer): Buffer {
  const out = Buffer.allocUnsafe(XNONCE_LEN + plain.length + TAG_LEN);
  const nonce = randomBytes(XNONCE_LEN);
  nonce.copy(out, 0);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(XNONCE_LEN), plain, null, null, nonce, key);
  return out;
}

function xopen(key: Buffer, packet: Buffer): Buffer | null {
  if (packet.length < XNONCE_LEN + 16 + TAG_LEN) return null;
  const c = packet.subarray(XNONCE_LEN);
  const m = Buffer.allocUnsafe(c.length - TAG_LEN);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, c, null, packet.subarray(0, XNONCE_LEN), key);
  } catch {
    return null;
  }
  return m;
}

/** The client end of one 2022 UDP session. */
export class Udp2022Client {
  readonly sessionId = randomBytes(8);
  private packetId = 0n;
  private readonly userKey: Buffer;
  private readonly firstBlock: AesBlock | null;
  private readonly userBlock: AesBlock | null;
  private readonly eih: { block: AesBlock; hash: Buffer }[] = [];
  private readonly ciphers: SessionCiphers;

  constructor(
    method: MethodInfo,
    keys: Buffer[],
    private readonly now: () => number = Date.now,
  ) {
    this.userKey = keys[keys.length - 1]!;
    this.ciphers = new SessionCiphers(method);
    const aes = method.algorithm !== 'chacha20-poly1305';
    this.firstBlock = aes ? new AesBlock(keys[0]!) : null;
    this.userBlock = aes ? new AesBlock(this.userKey) : null;
    // EIH "UDP": header i is AES(iPSK_i, hash(next key) XOR separate header).
    if (aes)
      for (let i = 0; i < keys.length - 1; i++)
        this.eih.push({ block: new AesBlock(keys[i]!), hash: pskHash16(keys[i + 1]!) });
  }

  seal(dest: Destination, payload: Buffer): Buffer {
    const sep = Buffer.allocUnsafe(16);
    this.sessionId.copy(sep, 0);
    sep.writeBigUInt64BE(this.packetId++, 8);
    const body = writeBody(HEADER_TYPE_CLIENT, null, dest, payload, this.now);
    if (!this.firstBlock) return xseal(this.userKey, Buffer.concat([sep, body]));
    const out = Buffer.allocUnsafe(16 + 16 * this.eih.length + body.length + TAG_LEN);
    this.firstBlock.encrypt(sep).copy(out, 0);
    let off = 16;
    for (const e of this.eih) {
      const x = Buffer.allocUnsafe(16);
      for (let i = 0; i < 16; i++) x[i] = e.hash[i]! ^ sep[i]!;
      off += e.block.encrypt(x).copy(out, off);
    }
    this.ciphers.get(this.userKey, this.sessionId).seal(sep.subarray(4, 16), body, out, off);
    return out;
  }

  /** Opens a server packet; null when it is not for this session or fails any check. */
  open(packet: Buffer): (UdpMessage & { serverSession: string; packetId: bigint }) | null {
    let sep: Buffer;
    let body: Buffer | null;
    if (!this.userBlock) {
      const plain = xopen(this.userKey, packet);
      if (!plain || plain.length < 16) return null;
      sep = plain.subarray(0, 16);
      body = plain.subarray(16);
    } else {
      if (packet.length < 16 + TAG_LEN) return null;
      sep = this.userBlock.decrypt(packet.subarray(0, 16));
      body = this.ciphers
        .get(this.userKey, sep.subarray(0, 8))
        .open(sep.subarray(4, 16), Buffer.from(packet.subarray(16)));
      if (!body) return null;
    }
    let parsed: ParsedBody | null;
    try {
      parsed = readBody(body, HEADER_TYPE_SERVER, this.now);
    } catch {
      return null;
    }
    if (!parsed || !parsed.clientSession!.equals(this.sessionId)) return null;
    return {
      dest: parsed.dest,
      payload: parsed.payload,
      serverSession: sep.toString('hex', 0, 8),
      packetId: sep.readBigUInt64BE(8),
    };
  }
}

export interface Udp2022Request extends UdpMessage {
  user: UserKey;
  sessionId: Buffer;
  packetId: bigint;
}

/** Server side: opens client packets with the key table; seals replies per session. */
export class Udp2022Server {
  private readonly ciphers: SessionCiphers;
  constructor(
    private readonly table: ServerKeyTable,
    private readonly now: () => number = Date.now,
  ) {
    this.ciphers = new SessionCiphers(table.method);
  }

  /** Null for anything that does not authenticate or parse (the caller drops it silently). */
  open(packet: Buffer): Udp2022Request | null {
    const psk = this.table.psk!;
    let sep: Buffer;
    let body: Buffer | null;
    let user = psk;
    if (!this.table.pskBlock) {
      const plain = xopen(psk.key, packet);
      if (!plain || plain.length < 16) return null;
      sep = plain.subarray(0, 16);
      body = plain.subarray(16);
    } else {
      let off = 16;
      if (packet.length < off + TAG_LEN) return null;
      sep = this.table.pskBlock.decrypt(packet.subarray(0, 16));
      if (this.table.users) {
        if (packet.length < 32 + TAG_LEN) return null;
        const id = this.table.pskBlock.decrypt(packet.subarray(16, 32));
        for (let i = 0; i < 16; i++) id[i]! ^= sep[i]!;
        const u = this.table.users.get(id.toString('hex'));
        if (!u) return null;
        user = u;
        off = 32;
      }
      body = this.ciphers
        .get(user.key, sep.subarray(0, 8))
        .open(sep.subarray(4, 16), Buffer.from(packet.subarray(off)));
      if (!body) return null;
    }
    let parsed: ParsedBody | null;
    try {
      parsed = readBody(body, HEADER_TYPE_CLIENT, this.now);
    } catch {
      return null;
    }
    if (!parsed) return null;
    return {
      dest: parsed.dest,
      payload: parsed.payload,
      user,
      sessionId: Buffer.from(sep.subarray(0, 8)),
      packetId: sep.readBigUInt64BE(8),
    };
  }
}

/** The server end of one client session: its own session ID and packet counter (§3.2.2). */
export class Udp2022ServerSession {
  readonly serverSessionId = randomBytes(8);
  private packetId = 0n;
  private readonly block: AesBlock | null;
  private readonly aead: Aead | null;

  constructor(
    method: MethodInfo,
    private readonly userKey: Buffer,
    private readonly clientSessionId: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    const aes = method.algorithm !== 'chacha20-poly1305';
    // Replies use the user's key for the separate header (the client opens with its last key).
    this.block = aes ? new AesBlock(userKey) : null;
    this.aead = aes ? createAead(method.algorithm, sessionSubkey2022(userKey, this.serverSessionId)) : null;
  }

  seal(from: Destination, payload: Buffer): Buffer {
    const sep = Buffer.allocUnsafe(16);
    this.serverSessionId.copy(sep, 0);
    sep.writeBigUInt64BE(this.packetId++, 8);
    const body = writeBody(HEADER_TYPE_SERVER, this.clientSessionId, from, payload, this.now);
    if (!this.block) return xseal(this.userKey, Buffer.concat([sep, body]));
    const out = Buffer.allocUnsafe(16 + body.length + TAG_LEN);
    this.block.encrypt(sep).copy(out, 0);
    this.aead!.seal(sep.subarray(4, 16), body, out, 16);
    return out;
  }
}

// Server side of a Shadowsocks TCP stream, sans-IO.
//
// RequestParser reads the request's first flight: salt, [EIH], header; it identifies the user, checks
// freshness and replay, and yields the target address and the first payload. Its verdict on bad
// input is just 'fail': the inbound then behaves the same whatever the reason (SIP022 §3.1.3
// "Detection Prevention"), so a prober learns nothing from how or when the server reacts.
// ServerStreamCodec seals the response stream.
import { randomBytes } from 'node:crypto';
import type { Destination } from '../../core/session.js';
import { AesBlock, TAG_LEN } from './aead.js';
import { createStreamAead } from './stream-aead.js';
import { readAddress } from './address.js';
import { aeadSubkey, identitySubkey, sessionSubkey2022 } from './kdf.js';
import type { ServerKeyTable, UserKey } from './keys.js';
import type { MethodInfo } from './methods.js';
import type { SaltFilter } from './replay.js';
import { ChunkOpener, ChunkSealer } from './stream.js';
import { HEADER_TYPE_CLIENT, HEADER_TYPE_SERVER, MAX_TIME_DIFF_S, REQUEST_FIXED_LEN } from './constants.js';

/** The first length chunk (length + tag) of an AEAD stream, copied for trial decryption. */
const LEN_SCRATCH = Buffer.alloc(2 + TAG_LEN);

/** An AEAD request's address must arrive within this many plaintext bytes. */
const MAX_AEAD_ADDRESS_BYTES = 1 + 1 + 255 + 2;

export type ParseStatus = 'more' | 'done' | 'fail';

export class RequestParser {
  private readonly method: MethodInfo;
  private buffered: Buffer | null = null;
  private reads = 0;
  /** Set once the header authenticated. */
  opener: ChunkOpener | null = null;
  userKey: UserKey | null = null;
  requestSalt: Buffer | null = null;
  dest: Destination | null = null;
  /** Payload that came with the request (and any chunks after it in the same reads). */
  readonly initial: Buffer[] = [];
  reason = '';
  private status: ParseStatus = 'more';
  /** AEAD: plaintext of the first chunk(s) until the address is complete. */
  private addrBuf: Buffer | null = null;

  constructor(
    private readonly table: ServerKeyTable,
    private readonly salts: SaltFilter,
    private readonly now: () => number = Date.now,
  ) {
    this.method = table.method;
  }

  /** Feeds the next bytes read from the client. After 'done', pass later bytes to `opener`. */
  feed(data: Buffer): ParseStatus {
    if (this.status !== 'more') return this.status;
    this.reads++;
    if (this.opener) {
      // Header verified; waiting for the rest of the first payload (variable header / address).
      if (!this.opener.push(data)) return this.fail(`stream corrupt (${this.opener.failure})`);
      return this.status;
    }
    return this.method.edition === 'aead' ? this.feedAead(data) : this.feed2022(data);
  }

  private feedAead(data: Buffer): ParseStatus {
    const buf = this.buffered ? Buffer.concat([this.buffered, data]) : data;
    const keyLen = this.method.keyLen;
    const need = keyLen + 2 + TAG_LEN;
    if (buf.length < need) {
      // Wait (until the handshake timeout) rather than react at a byte count a prober could measure.
      this.buffered = buf;
      return 'more';
    }
    this.buffered = null;
    const salt = buf.subarray(0, keyLen);
    const sealedLen = buf.subarray(keyLen, need);
    for (const uk of this.table.aeadKeys) {
      // Trial decryption of the first length chunk, on a copy (it opens in place, and a wrong key must
      // leave the bytes as they came). The context that opens it becomes the stream's: its nonce has
      // moved past the length chunk, and the opener goes on from the payload that chunk announced.
      sealedLen.copy(LEN_SCRATCH);
      const aead = createStreamAead(this.method.algorithm, aeadSubkey(uk.key, salt), false);
      if (!aead.openOne(LEN_SCRATCH)) continue;
      if (!this.salts.checkAndAdd(salt)) return this.fail('replayed salt');
      const n = LEN_SCRATCH.readUInt16BE(0);
      if (n > this.method.maxPayload) return this.fail('stream corrupt (length)');
      this.userKey = uk;
      this.requestSalt = Buffer.from(salt);
      this.opener = new ChunkOpener(aead, this.method.maxPayload, this.onAeadPayload);
      this.opener.expectPayload(n);
      if (!this.opener.push(buf.subarray(need))) return this.fail(`stream corrupt (${this.opener.failure})`);
      return this.status;
    }
    return this.fail('no key opens the first chunk');
  }

  private readonly onAeadPayload = (p: Buffer): void => {
    if (this.status !== 'more') {
      this.initial.push(p);
      return;
    }
    const buf = this.addrBuf ? Buffer.concat([this.addrBuf, p]) : p;
    let a;
    try {
      a = readAddress(buf, 0);
    } catch (e) {
      this.fail((e as Error).message);
      return;
    }
    if (!a) {
      if (buf.length >= MAX_AEAD_ADDRESS_BYTES) this.fail('address too long');
      else this.addrBuf = buf;
      return;
    }
    this.addrBuf = null;
    this.dest = a.dest;
    if (a.end < buf.length) this.initial.push(buf.subarray(a.end));
    this.status = 'done';
  };

  private feed2022(data: Buffer): ParseStatus {
    const keyLen = this.method.keyLen;
    const eih = this.table.users ? 16 : 0;
    const need = keyLen + eih + REQUEST_FIXED_LEN + TAG_LEN;
    // SIP022 §3.1.3: salt and fixed header are processed from exactly one read.
    if (this.reads > 1 || data.length < need) return this.fail('short first read');
    const salt = data.subarray(0, keyLen);
    let uk: UserKey = this.table.psk!;
    if (this.table.users) {
      const id = new AesBlock(identitySubkey(uk.key, salt)).decrypt(data.subarray(keyLen, keyLen + 16));
      const found = this.table.users.get(id.toString('hex'));
      if (!found) return this.fail('unknown identity');
      uk = found;
    }
    const aead = createStreamAead(this.method.algorithm, sessionSubkey2022(uk.key, salt), false);
    const opener = new ChunkOpener(aead, this.method.maxPayload, this.onVarHeader);
    const h = opener.openOne(data.subarray(keyLen + eih, need));
    if (!h) return this.fail('header does not decrypt');
    if (h[0] !== HEADER_TYPE_CLIENT) return this.fail('wrong header type');
    const ts = Number(h.readBigUInt64BE(1));
    if (Math.abs(ts - this.now() / 1000) > MAX_TIME_DIFF_S)
      return this.fail('timestamp off by more than 30 s');
    // §3.1.4: the salt is checked only after the timestamp passed.
    if (!this.salts.checkAndAdd(salt)) return this.fail('replayed salt');
    const varLen = h.readUInt16BE(9);
    if (varLen === 0) return this.fail('empty variable header');
    opener.expectPayload(varLen);
    this.userKey = uk;
    this.requestSalt = Buffer.from(salt);
    this.opener = opener;
    if (!opener.push(data.subarray(need))) return this.fail(`stream corrupt (${opener.failure})`);
    return this.status;
  }

  private readonly onVarHeader = (v: Buffer): void => {
    if (this.status !== 'more') {
      this.initial.push(v);
      return;
    }
    let a;
    try {
      a = readAddress(v, 0);
    } catch (e) {
      this.fail((e as Error).message);
      return;
    }
    // §3.1.3: the header (padding included) must not extend beyond the header chunk.
    if (!a || a.end + 2 > v.length) return void this.fail('truncated variable header');
    const padding = v.readUInt16BE(a.end);
    const payloadAt = a.end + 2 + padding;
    if (payloadAt > v.length) return void this.fail('padding beyond the header');
    if (padding === 0 && payloadAt === v.length) return void this.fail('neither payload nor padding');
    this.dest = a.dest;
    if (payloadAt < v.length) this.initial.push(v.subarray(payloadAt));
    this.status = 'done';
  };

  private fail(reason: string): ParseStatus {
    this.reason = reason;
    this.status = 'fail';
    return 'fail';
  }
}

/** Seals the response stream: salt, then (2022) the fixed header bound to the request salt. */
export class ServerStreamCodec {
  private readonly sealer: ChunkSealer;
  private readonly salt: Buffer;
  private started = false;

  constructor(
    private readonly method: MethodInfo,
    userKey: Buffer,
    private readonly requestSalt: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.salt = randomBytes(method.keyLen);
    const subkey =
      method.edition === 'aead' ? aeadSubkey(userKey, this.salt) : sessionSubkey2022(userKey, this.salt);
    this.sealer = new ChunkSealer(createStreamAead(method.algorithm, subkey, true), method.maxPayload);
  }

  /** Seals what encode() held back (see ChunkSealer.seal); null when nothing is held. */
  flush(): Buffer | null {
    return this.sealer.flush();
  }

  /** The socket has written `wire` (see ChunkSealer.recycle). */
  recycle(wire: Buffer): void {
    this.sealer.recycle(wire);
  }

  encode(data: Buffer): Buffer {
    if (this.started) return this.sealer.seal(data, true);
    this.started = true;
    const keyLen = this.method.keyLen;
    if (this.method.edition === 'aead') {
      const out = Buffer.allocUnsafe(keyLen + this.sealer.sizeFor(data.length));
      this.salt.copy(out, 0);
      return out.subarray(0, this.sealer.sealChunks(data, out, keyLen));
    }
    // SIP022 §3.1.2: the response header doubles as the first length chunk.
    const first = Math.min(data.length, 0xffff);
    const rest = data.subarray(first);
    const hlen = 1 + 8 + keyLen + 2;
    const out = Buffer.allocUnsafe(
      keyLen + hlen + TAG_LEN + first + TAG_LEN + (rest.length ? this.sealer.sizeFor(rest.length) : 0),
    );
    let off = this.salt.copy(out, 0);
    const h = Buffer.allocUnsafe(hlen);
    h[0] = HEADER_TYPE_SERVER;
    h.writeBigUInt64BE(BigInt(Math.floor(this.now() / 1000)), 1);
    this.requestSalt.copy(h, 9);
    h.writeUInt16BE(first, 9 + keyLen);
    off = this.sealer.sealOne(h, out, off);
    off = this.sealer.sealOne(first === data.length ? data : data.subarray(0, first), out, off);
    if (rest.length) off = this.sealer.sealChunks(rest, out, off);
    return out.subarray(0, off);
  }
}

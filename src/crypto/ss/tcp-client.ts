// Client side of a Shadowsocks TCP stream, sans-IO: turns application bytes into the request stream
// and the response stream back into application bytes.
//
// AEAD (SIP004): [salt][chunks…], the first chunk's plaintext starting with the target address.
// 2022 (SIP022 §3.1): [salt][identity headers (EIH)][fixed header chunk][variable header chunk]
// [chunks…]; the response is [salt][fixed header: type 1, timestamp, request salt, length][payload]…
// and is accepted only when its type, timestamp (±30 s) and echoed request salt check out and its salt
// is new (§3.1.4: clients store incoming salts too).
import { randomBytes, randomInt } from 'node:crypto';
import type { Destination } from '../../core/session.js';
import { AesBlock, TAG_LEN } from './aead.js';
import { createStreamAead } from './stream-aead.js';
import { addressLength, writeAddress } from './address.js';
import { aeadSubkey, identitySubkey, pskHash16, sessionSubkey2022 } from './kdf.js';
import type { MethodInfo } from './methods.js';
import type { SaltFilter } from './replay.js';
import { ChunkOpener, ChunkSealer } from './stream.js';
import {
  HEADER_TYPE_CLIENT,
  HEADER_TYPE_SERVER,
  MAX_PADDING,
  MAX_TIME_DIFF_S,
  REQUEST_FIXED_LEN,
} from './constants.js';

export interface ClientStreamOptions {
  method: MethodInfo;
  /** AEAD: [master key]; 2022: [iPSK…, user PSK] (one key without EIH). */
  keys: Buffer[];
  dest: Destination;
  /** Receives response payloads. */
  sink: (payload: Buffer) => void;
  /** 2022: response salts already seen by this client. */
  saltFilter?: SaltFilter;
  now?: () => number;
}

export class ClientStreamCodec {
  private readonly method: MethodInfo;
  private readonly keys: Buffer[];
  private readonly dest: Destination;
  private readonly now: () => number;
  private readonly salt: Buffer;
  private readonly sealer: ChunkSealer;
  private opener: ChunkOpener | null = null;
  private headerSent = false;
  /** Response bytes received before the response header was complete. */
  private head: Buffer | null = null;
  failure: string | null = null;

  constructor(private readonly opts: ClientStreamOptions) {
    this.method = opts.method;
    this.keys = opts.keys;
    this.dest = opts.dest;
    this.now = opts.now ?? Date.now;
    this.salt = randomBytes(this.method.keyLen);
    const userKey = this.keys[this.keys.length - 1]!;
    const subkey =
      this.method.edition === 'aead' ? aeadSubkey(userKey, this.salt) : sessionSubkey2022(userKey, this.salt);
    this.sealer = new ChunkSealer(
      createStreamAead(this.method.algorithm, subkey, true),
      this.method.maxPayload,
    );
  }

  get started(): boolean {
    return this.headerSent;
  }

  /** Wire bytes for data; the first call carries salt and header (with data, or padding when empty). */
  encode(data: Buffer): Buffer {
    if (this.headerSent) return this.sealer.seal(data, true);
    this.headerSent = true;
    return this.method.edition === 'aead' ? this.firstAead(data) : this.first2022(data);
  }

  private firstAead(data: Buffer): Buffer {
    const alen = addressLength(this.dest);
    const plain = Buffer.allocUnsafe(alen + data.length);
    writeAddress(this.dest, plain, 0);
    data.copy(plain, alen);
    const out = Buffer.allocUnsafe(this.salt.length + this.sealer.sizeFor(plain.length));
    this.salt.copy(out, 0);
    const end = this.sealer.sealChunks(plain, out, this.salt.length);
    return out.subarray(0, end);
  }

  private first2022(data: Buffer): Buffer {
    const alen = addressLength(this.dest);
    // SIP022 §3.1.3: padding or payload must be present; pad short first flights to hide their size.
    const padding =
      data.length === 0
        ? randomInt(1, MAX_PADDING + 1)
        : data.length < MAX_PADDING
          ? randomInt(0, MAX_PADDING + 1)
          : 0;
    const varFixed = alen + 2 + padding;
    const inHeader = Math.min(data.length, 0xffff - varFixed);
    const varLen = varFixed + inHeader;
    const rest = data.subarray(inHeader);
    const eihCount = this.keys.length - 1;
    const size =
      this.salt.length +
      16 * eihCount +
      REQUEST_FIXED_LEN +
      TAG_LEN +
      varLen +
      TAG_LEN +
      (rest.length ? this.sealer.sizeFor(rest.length) : 0);
    const out = Buffer.allocUnsafe(size);
    let off = this.salt.copy(out, 0);
    // EIH "TCP": one identity header per iPSK, each naming the next key by its hash.
    for (let i = 0; i < eihCount; i++) {
      const block = new AesBlock(identitySubkey(this.keys[i]!, this.salt));
      off += block.encrypt(pskHash16(this.keys[i + 1]!)).copy(out, off);
    }
    const fixed = Buffer.allocUnsafe(REQUEST_FIXED_LEN);
    fixed[0] = HEADER_TYPE_CLIENT;
    fixed.writeBigUInt64BE(BigInt(Math.floor(this.now() / 1000)), 1);
    fixed.writeUInt16BE(varLen, 9);
    off = this.sealer.sealOne(fixed, out, off);
    const v = Buffer.allocUnsafe(varLen);
    let p = writeAddress(this.dest, v, 0);
    p = v.writeUInt16BE(padding, p);
    if (padding) randomBytes(padding).copy(v, p);
    p += padding;
    data.copy(v, p, 0, inHeader);
    off = this.sealer.sealOne(v, out, off);
    if (rest.length) off = this.sealer.sealChunks(rest, out, off);
    return out.subarray(0, off);
  }

  /** Seals what encode() held back (see ChunkSealer.seal); null when nothing is held. */
  flush(): Buffer | null {
    return this.sealer.flush();
  }

  /** The socket has written `wire` (see ChunkSealer.recycle). */
  recycle(wire: Buffer): void {
    this.sealer.recycle(wire);
  }

  /** Feeds bytes from the server. Returns false (with `failure` set) when the stream must be dropped. */
  decode(data: Buffer, dst: Buffer | null = null): boolean {
    if (this.opener) {
      if (this.opener.push(data, dst)) return true;
      this.failure = `response stream failed (${this.opener.failure})`;
      return false;
    }
    const buf: Buffer = this.head ? Buffer.concat([this.head, data]) : data;
    const keyLen = this.method.keyLen;
    const headLen = keyLen + (this.method.edition === 'aead' ? 0 : 1 + 8 + keyLen + 2 + TAG_LEN);
    if (buf.length < headLen) {
      // A copy: `data` may be a read buffer that is reused.
      this.head = buf === data ? Buffer.from(data) : buf;
      return true;
    }
    this.head = null;
    const salt = buf.subarray(0, keyLen);
    const userKey = this.keys[this.keys.length - 1]!;
    if (this.method.edition === 'aead') {
      this.opener = new ChunkOpener(
        createStreamAead(this.method.algorithm, aeadSubkey(userKey, salt), false),
        this.method.maxPayload,
        this.opts.sink,
      );
      this.opener.batch = true;
      return this.decode(buf.subarray(keyLen), dst);
    }
    const opener = new ChunkOpener(
      createStreamAead(this.method.algorithm, sessionSubkey2022(userKey, salt), false),
      this.method.maxPayload,
      this.opts.sink,
    );
    const h = opener.openOne(buf.subarray(keyLen, headLen));
    if (!h) return this.fail('response header does not decrypt (wrong key?)');
    if (h[0] !== HEADER_TYPE_SERVER) return this.fail('response header has the wrong type');
    const ts = Number(h.readBigUInt64BE(1));
    if (Math.abs(ts - this.now() / 1000) > MAX_TIME_DIFF_S)
      return this.fail('response timestamp is off by more than 30 s');
    if (!h.subarray(9, 9 + keyLen).equals(this.salt))
      return this.fail('response is bound to another request');
    if (this.opts.saltFilter && !this.opts.saltFilter.checkAndAdd(salt))
      return this.fail('response salt replayed');
    opener.expectPayload(h.readUInt16BE(9 + keyLen));
    opener.batch = true;
    this.opener = opener;
    return this.decode(buf.subarray(headLen), dst);
  }

  private fail(why: string): boolean {
    this.failure = why;
    return false;
  }
}

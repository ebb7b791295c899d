// The chunked TCP stream shared by both editions (SIP004 "TCP"; SIP022 §3.1.2): each chunk is
// [encrypted 2-byte big-endian length][tag][encrypted payload][tag], every AEAD operation using the
// next value of a little-endian counter nonce that starts at zero.
//
// Hot path. The sealer writes a whole batch of chunks into one buffer (one allocation, one socket
// write per read from the source); the opener decrypts frames where they lie in the received buffer
// and copies only a frame that straddles two reads.
import { incrementNonce, NONCE_LEN, TAG_LEN, type Aead } from './aead.js';

/** Overhead of one chunk: sealed length (2 + tag) and the payload's tag. */
export const CHUNK_OVERHEAD = 2 + TAG_LEN + TAG_LEN;

export class ChunkSealer {
  private readonly nonce = Buffer.alloc(NONCE_LEN);
  private readonly len = Buffer.alloc(2);
  /** Plaintext held back by seal(…, hold) for the next call. */
  private tail: Buffer | null = null;

  constructor(
    private readonly aead: Aead,
    readonly maxPayload: number,
  ) {}

  /** Wire bytes for `n` payload bytes. */
  sizeFor(n: number): number {
    return n + Math.ceil(n / this.maxPayload) * CHUNK_OVERHEAD;
  }

  /** Seals one AEAD message (a header chunk) at off with the next nonce; returns the offset after it. */
  sealOne(plain: Uint8Array, out: Buffer, off: number): number {
    const end = this.aead.seal(this.nonce, plain, out, off);
    incrementNonce(this.nonce);
    return end;
  }

  /** Seals data as length+payload chunks into out at off; returns the offset after the last chunk. */
  sealChunks(data: Buffer, out: Buffer, off: number): number {
    return this.sealJoined(null, data, data.length, out, off);
  }

  /**
   * Seals data into a new buffer, after the tail held back by the previous call, if any.
   *
   * With `hold`, a last partial chunk shorter than a quarter of the maximum is held back and goes out
   * at the head of the next call (or by flush()). A socket delivers reads of 64 KiB — four 0x3FFF
   * chunks and 4 bytes, or one 0xFFFF chunk and 1 byte — so without this every read would pay two
   * extra AEAD calls for a few bytes; with it, a bulk transfer seals only full chunks. The caller
   * must flush() when no more data follows at once (SecureStream does so on the next turn of the
   * event loop), so nothing waits longer than that.
   */
  seal(data: Buffer, hold = false): Buffer {
    const max = this.maxPayload;
    const tail = this.tail;
    const total = (tail ? tail.length : 0) + data.length;
    let n = total;
    if (hold && total > max) {
      const rest = total % max;
      if (rest !== 0 && rest < max >> 2) n = total - rest;
    }
    const out = Buffer.allocUnsafe(this.sizeFor(n));
    const end = this.sealJoined(tail, data, n, out, 0);
    // The held bytes all come from `data`: the old tail (< max/4) went out in the first chunk.
    this.tail = n < total ? Buffer.from(data.subarray(data.length - (total - n))) : null;
    return end === out.length ? out : out.subarray(0, end);
  }

  /** True while seal() holds bytes back. */
  get holding(): boolean {
    return this.tail !== null;
  }

  /** Seals the held-back tail, if any. */
  flush(): Buffer | null {
    return this.tail ? this.seal(EMPTY) : null;
  }

  /** Seals the first n bytes of tail‖data as chunks. */
  private sealJoined(tail: Buffer | null, data: Buffer, n: number, out: Buffer, off: number): number {
    const max = this.maxPayload;
    const tl = tail ? tail.length : 0;
    for (let done = 0; done < n;) {
      const c = Math.min(max, n - done);
      this.len.writeUInt16BE(c, 0);
      off = this.sealOne(this.len, out, off);
      if (done === 0 && tail) {
        off = this.aead.sealParts(this.nonce, tail, data.subarray(0, c - tl), out, off);
        incrementNonce(this.nonce);
      } else {
        const s = done - tl;
        off = this.sealOne(s === 0 && c === data.length ? data : data.subarray(s, s + c), out, off);
      }
      done += c;
    }
    return off;
  }
}

const EMPTY = Buffer.alloc(0);

/** Why an opener stopped: the stream is corrupt or was tampered with; nothing after it is trusted. */
export type OpenFailure = 'auth' | 'length';

export class ChunkOpener {
  private readonly nonce = Buffer.alloc(NONCE_LEN);
  /** Bytes of the next frame: a sealed length (2 + tag) or a sealed payload (n + tag). */
  private need = 2 + TAG_LEN;
  private expectLength = true;
  /** A frame that straddles reads is assembled here. */
  private partial: Buffer | null = null;
  private partialLen = 0;
  failure: OpenFailure | null = null;
  /**
   * Deliver the payloads of one push() as one buffer (copied together) instead of one call per
   * chunk: the consumer then writes 64 KiB per syscall instead of four 16 KiB writes. Off while a
   * server still parses the request, where the first payload must arrive on its own.
   */
  batch = false;
  private pending: Buffer[] = [];

  /**
   * @param sink receives each payload; it may keep the buffer (it is never reused). Replaceable: a
   *   server hands the stream from its request parser to the relay.
   */
  constructor(
    private readonly aead: Aead,
    private readonly maxPayload: number,
    public sink: (payload: Buffer) => void,
  ) {}

  /** Opens one whole AEAD message with the next nonce (a header chunk); null when it does not verify. */
  openOne(sealed: Buffer): Buffer | null {
    const p = this.aead.open(this.nonce, sealed);
    incrementNonce(this.nonce);
    return p;
  }

  /** The next frame is a payload of n bytes (SIP022: the header carries the first length). */
  expectPayload(n: number): void {
    this.need = n + TAG_LEN;
    this.expectLength = false;
  }

  /** Feeds received bytes. Returns false (and sets `failure`) when the stream must be abandoned. */
  push(data: Buffer): boolean {
    if (this.failure) return false;
    const ok = this.consume(data);
    const p = this.pending;
    if (p.length > 0) {
      this.pending = [];
      this.sink(p.length === 1 ? p[0]! : Buffer.concat(p));
    }
    return ok;
  }

  private consume(data: Buffer): boolean {
    let off = 0;
    const end = data.length;
    if (this.partial) {
      const take = Math.min(this.need - this.partialLen, end);
      data.copy(this.partial, this.partialLen, 0, take);
      this.partialLen += take;
      off = take;
      if (this.partialLen < this.need) return true;
      const frame = this.partial;
      this.partial = null;
      if (!this.frame(frame)) return false;
    }
    while (end - off >= this.need) {
      const frame = data.subarray(off, off + this.need);
      off += this.need;
      if (!this.frame(frame)) return false;
    }
    if (off < end) {
      this.partial = Buffer.allocUnsafe(this.need);
      this.partialLen = data.copy(this.partial, 0, off, end);
    }
    return true;
  }

  private frame(sealed: Buffer): boolean {
    const plain = this.openOne(sealed);
    if (plain === null) {
      this.failure = 'auth';
      return false;
    }
    if (this.expectLength) {
      const n = plain.readUInt16BE(0);
      if (n > this.maxPayload) {
        // SIP004: the top two bits of an AEAD length are reserved and must be zero.
        this.failure = 'length';
        return false;
      }
      this.need = n + TAG_LEN;
      this.expectLength = false;
    } else {
      this.need = 2 + TAG_LEN;
      this.expectLength = true;
      if (plain.length > 0) {
        if (this.batch) this.pending.push(plain);
        else this.sink(plain);
      }
    }
    return true;
  }
}

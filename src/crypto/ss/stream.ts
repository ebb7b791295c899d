// The chunked TCP stream shared by both editions (SIP004 "TCP"; SIP022 §3.1.2): each chunk is
// [encrypted 2-byte big-endian length][tag][encrypted payload][tag], every AEAD operation using the
// next value of a little-endian counter nonce that starts at zero (kept by the StreamAead).
//
// Hot path. The sealer writes every chunk of one read into one buffer (one AEAD batch call, one
// socket write), and reuses that buffer once the socket has written it. The opener opens every whole
// frame of one read in one batch call, either in place (payloads moved down over the framing, so a
// read yields one contiguous plaintext) or into a caller's buffer; only a frame that straddles two
// reads is copied aside.
import { TAG_LEN } from './aead.js';
import { ST_EXPECT_LENGTH, ST_FAILURE, ST_NEED, ST_OUT_END, type StreamAead } from './stream-aead.js';

/** Overhead of one chunk: sealed length (2 + tag) and the payload's tag. */
export const CHUNK_OVERHEAD = 2 + TAG_LEN + TAG_LEN;

/** Output buffers are allocated in steps of this size, so that one fits the next batch too. */
const OUT_STEP = 64 * 1024;
/** Written output buffers kept for reuse: enough for the writes a socket has in flight at once. */
const MAX_FREE = 2;

export class ChunkSealer {
  /** Plaintext held back by seal(…, hold) for the next call. */
  private tail: Buffer | null = null;
  /** Output buffers this sealer allocated (only those are taken back by recycle()). */
  private readonly mine = new WeakSet<ArrayBufferLike>();
  /** Output buffers the socket has finished writing, ready for reuse (at most MAX_FREE). */
  private readonly free: Buffer[] = [];

  constructor(
    private readonly aead: StreamAead,
    readonly maxPayload: number,
  ) {}

  /** Wire bytes for `n` payload bytes. */
  sizeFor(n: number): number {
    return n + Math.ceil(n / this.maxPayload) * CHUNK_OVERHEAD;
  }

  /** Seals one AEAD message (a header chunk) at off with the next nonce; returns the offset after it. */
  sealOne(plain: Uint8Array, out: Buffer, off: number): number {
    return this.aead.sealOne(plain, out, off);
  }

  /** Seals data as length+payload chunks into out at off; returns the offset after the last chunk. */
  sealChunks(data: Buffer, out: Buffer, off: number): number {
    return this.aead.sealChunks(null, data, data.length, out, off, this.maxPayload);
  }

  /**
   * Seals data, after the tail held back by the previous call, if any. The result may live in a
   * buffer this sealer reuses after recycle().
   *
   * With `hold`, a last partial chunk shorter than a quarter of the maximum is held back and goes out
   * at the head of the next call (or by flush()). A socket read is rarely a multiple of 0x3FFF, so
   * without this every read would end in a chunk of a few bytes (34 bytes of overhead and two AEAD
   * calls); with it, a bulk transfer seals only full chunks. The caller must flush() when no more data
   * follows at once (SecureStream does so on the next turn of the event loop).
   */
  seal(data: Buffer, hold = false): Buffer {
    const max = this.maxPayload;
    const tail = this.tail;
    const tl = tail ? tail.length : 0;
    const total = tl + data.length;
    let n = total;
    if (hold && total > max) {
      const rest = total % max;
      if (rest !== 0 && rest < max >> 2) n = total - rest;
    }
    const size = this.sizeFor(n);
    let out = this.free.pop();
    if (out === undefined || out.length < size) {
      out = Buffer.allocUnsafe(Math.ceil(size / OUT_STEP) * OUT_STEP);
      this.mine.add(out.buffer);
    }
    // The held tail (< max/4) always fits in the first chunk, so it is passed as that chunk's head.
    const end = this.aead.sealChunks(tail, data, n, out, 0, max);
    this.tail = n < total ? Buffer.from(data.subarray(data.length - (total - n))) : null;
    return out.subarray(0, end);
  }

  /**
   * The socket has finished writing `wire` (any buffer; ones this sealer did not make are ignored):
   * its memory may be sealed into again. Reusing output buffers spares an allocation, its page
   * faults and the garbage collector's work per batch.
   */
  recycle(wire: Buffer): void {
    if (this.free.length < MAX_FREE && this.mine.has(wire.buffer))
      this.free.push(Buffer.from(wire.buffer, 0, wire.buffer.byteLength));
  }

  /** True while seal() holds bytes back. */
  get holding(): boolean {
    return this.tail !== null;
  }

  /** Seals the held-back tail, if any. */
  flush(): Buffer | null {
    return this.tail ? this.seal(EMPTY) : null;
  }
}

const EMPTY = Buffer.alloc(0);

/** Why an opener stopped: the stream is corrupt or was tampered with; nothing after it is trusted. */
export type OpenFailure = 'auth' | 'length';

export class ChunkOpener {
  /** openFrames state: next frame size, whether it is a length, max payload, failure, output end. */
  private readonly st: Int32Array;
  /** A frame that straddles reads is assembled here (kept for the stream's next straddling frame). */
  private partial: Buffer | null = null;
  private partialLen = 0;
  private assembling = false;
  failure: OpenFailure | null = null;
  /**
   * Deliver the payloads of one push() as one buffer instead of one call per chunk: the consumer then
   * writes a whole read per syscall. Off while a server still parses the request, where the first
   * payload must arrive on its own.
   */
  batch = false;

  /**
   * @param sink receives payloads. A payload opened in place lives in the buffer given to push(); one
   *   opened into push()'s `dst` lives there. Replaceable: a server hands the stream from its request
   *   parser to the relay.
   */
  constructor(
    private readonly aead: StreamAead,
    maxPayload: number,
    public sink: (payload: Buffer) => void,
  ) {
    this.st = new Int32Array([2 + TAG_LEN, 1, maxPayload, 0, 0]);
  }

  /** Opens one whole AEAD message in place with the next nonce (a header chunk); null when it fails. */
  openOne(sealed: Buffer): Buffer | null {
    return this.aead.openOne(sealed) ? sealed.subarray(0, sealed.length - TAG_LEN) : null;
  }

  /** The next frame is a payload of n bytes (SIP022: the header carries the first length). */
  expectPayload(n: number): void {
    this.st[ST_NEED] = n + TAG_LEN;
    this.st[ST_EXPECT_LENGTH] = 0;
  }

  /**
   * Feeds received bytes, which the opener may overwrite (in place) and does not keep. With `dst`, all
   * payloads of this call are written there from offset 0 and delivered as one buffer (dst must hold
   * data.length + the largest frame). Returns false (and sets `failure`) when the stream must be
   * abandoned.
   */
  push(data: Buffer, dst: Buffer | null = null): boolean {
    if (this.failure) return false;
    const st = this.st;
    let off = 0;
    let w = 0;
    if (this.assembling) {
      const part = this.partial!;
      const need = st[ST_NEED]!;
      const take = Math.min(need - this.partialLen, data.length);
      data.copy(part, this.partialLen, 0, take);
      this.partialLen += take;
      off = take;
      if (this.partialLen < need) return true;
      this.assembling = false;
      if (!this.open(part, 0, need, dst ?? part, 0)) return false;
      if (dst) w = st[ST_OUT_END]!;
      else {
        // The sink may keep what it gets: this buffer is not reused for the next straddling frame.
        this.partial = null;
        if (st[ST_OUT_END]! > 0) this.sink(part.subarray(0, st[ST_OUT_END]));
      }
    }
    const end = data.length;
    while (off < end) {
      // Unbatched: one frame per call, so each payload is delivered on its own.
      const lim = this.batch || dst ? end : Math.min(end, off + st[ST_NEED]!);
      const start = off;
      const from = dst ? w : off;
      off = this.openRange(data, off, lim, dst ?? data, from);
      if (off < 0) return false;
      if (dst) w = st[ST_OUT_END]!;
      else if (st[ST_OUT_END]! > from) this.sink(data.subarray(from, st[ST_OUT_END]));
      if (off === start || (off < lim && lim === end)) break; // incomplete frame left
    }
    if (off < end) {
      const need = st[ST_NEED]!;
      if (this.partial === null || this.partial.length < need) this.partial = Buffer.allocUnsafe(need);
      this.partialLen = data.copy(this.partial, 0, off, end);
      this.assembling = true;
    }
    if (dst && w > 0) this.sink(dst.subarray(0, w));
    return true;
  }

  private openRange(src: Buffer, off: number, end: number, dst: Buffer, dstOff: number): number {
    const r = this.aead.openFrames(src, off, end, dst, dstOff, this.st);
    if (this.st[ST_FAILURE] !== 0) {
      this.failure = this.st[ST_FAILURE] === 2 ? 'length' : 'auth';
      return -1;
    }
    return r;
  }

  private open(src: Buffer, off: number, end: number, dst: Buffer, dstOff: number): boolean {
    return this.openRange(src, off, end, dst, dstOff) >= 0;
  }
}

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
    const max = this.maxPayload;
    for (let i = 0; i < data.length; i += max) {
      const n = Math.min(max, data.length - i);
      this.len.writeUInt16BE(n, 0);
      off = this.sealOne(this.len, out, off);
      off = this.sealOne(i === 0 && n === data.length ? data : data.subarray(i, i + n), out, off);
    }
    return off;
  }

  /** Seals data into a new buffer. */
  seal(data: Buffer): Buffer {
    const out = Buffer.allocUnsafe(this.sizeFor(data.length));
    this.sealChunks(data, out, 0);
    return out;
  }
}

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

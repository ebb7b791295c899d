// The chunked transfer coding (RFC 9112 §7.1) as a byte-level state machine. The proxy forwards the
// chunked bytes untouched; this only finds where the body ends (so the next message on the
// connection is framed the same way the peer frames it) and refuses malformed framing. For an
// HTTP/1.0 client it can also decode, handing each run of chunk data to a sink.
import { FerryError, type ErrorCode } from '../../core/errors.js';
import { CR, HEX, HTAB, LF, SP, TCHAR } from './chars.js';

const SIZE = 0; // reading chunk-size hex digits
const SIZE_WS = 1; // BWS after the size, before ";" or CRLF
const EXT = 2; // chunk-ext, skipped up to CR
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7; // start of a trailer field line, or the final CRLF
const TRAILER_LINE = 8;
const TRAILER_LF = 9;
const FINAL_LF = 10;
const DONE = 11;

/** 13 hex digits = 2^52: chunk sizes stay exact integers. */
const MAX_SIZE_DIGITS = 13;

export interface ChunkSink {
  /** Chunk data buf[start, end) (decode mode only). */
  chunkData(buf: Buffer, start: number, end: number): void;
}

export class ChunkedScanner {
  private st = SIZE;
  private size = 0;
  private digits = 0;
  /** Bytes of chunk extensions and trailer fields seen; bounded so they cannot grow without limit. */
  private meta = 0;

  constructor(
    /** Limit for chunk-ext + trailer bytes over the whole body. */
    private readonly maxMeta: number,
    /** Error code for malformed input: E_BAD_REQUEST for requests, an upstream code for responses. */
    private readonly code: ErrorCode,
  ) {}

  reset(): void {
    this.st = SIZE;
    this.size = 0;
    this.digits = 0;
    this.meta = 0;
  }

  get done(): boolean {
    return this.st === DONE;
  }

  /**
   * Advances over buf[start..]. Returns the index just past the end of the chunked body, or -1 when
   * every byte was consumed and the body continues. With a sink, chunk data goes to the sink.
   * Throws FerryError on malformed framing.
   */
  scan(buf: Buffer, start: number, sink: ChunkSink | null): number {
    const n = buf.length;
    let i = start;
    let st = this.st;
    while (i < n) {
      if (st === DATA) {
        const avail = n - i;
        const take = this.size < avail ? this.size : avail;
        if (sink !== null) sink.chunkData(buf, i, i + take);
        i += take;
        this.size -= take;
        if (this.size === 0) st = DATA_CR;
        continue;
      }
      const c = buf[i++]!;
      switch (st) {
        case SIZE: {
          const v = HEX[c]!;
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw this.err('chunk size too large');
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) {
            throw this.err('invalid chunk size');
          } else if (c === CR) {
            st = SIZE_LF;
          } else if (c === 0x3b) {
            st = EXT;
          } else if (c === SP || c === HTAB) {
            st = SIZE_WS;
          } else {
            throw this.err('invalid chunk size');
          }
          break;
        }
        case SIZE_WS:
          if (c === CR) st = SIZE_LF;
          else if (c === 0x3b) st = EXT;
          else if (c !== SP && c !== HTAB) throw this.err('invalid chunk size line');
          break;
        case EXT:
          // chunk-ext is ignored, but a bare LF or control byte in it is refused: parsers that end
          // the size line at a bare LF would frame the body differently.
          if (c === CR) st = SIZE_LF;
          else if ((c < 0x20 && c !== HTAB) || c === 0x7f)
            throw this.err('control character in chunk extension');
          else if (++this.meta > this.maxMeta) throw this.err('chunk extensions too long');
          break;
        case SIZE_LF:
          if (c !== LF) throw this.err('bare CR in chunk size line');
          if (this.size === 0) {
            st = TRAILER_START;
          } else {
            st = DATA;
          }
          this.digits = 0;
          break;
        case DATA_CR:
          if (c !== CR) throw this.err('chunk data longer than its size');
          st = DATA_LF;
          break;
        case DATA_LF:
          if (c !== LF) throw this.err('chunk data not followed by CRLF');
          st = SIZE;
          break;
        case TRAILER_START:
          if (c === CR) st = FINAL_LF;
          else if (TCHAR[c] === 1) st = TRAILER_LINE;
          else throw this.err('invalid trailer field');
          if (++this.meta > this.maxMeta) throw this.err('trailer section too large');
          break;
        case TRAILER_LINE:
          if (c === CR) st = TRAILER_LF;
          else if ((c < 0x20 && c !== HTAB) || c === 0x7f)
            throw this.err('control character in trailer field');
          if (++this.meta > this.maxMeta) throw this.err('trailer section too large');
          break;
        case TRAILER_LF:
          if (c !== LF) throw this.err('bare CR in trailer field');
          st = TRAILER_START;
          break;
        case FINAL_LF:
          if (c !== LF) throw this.err('bare CR after the last chunk');
          this.st = DONE;
          return i;
        default:
          throw this.err('data after the end of the chunked body');
      }
    }
    this.st = st;
    return -1;
  }

  private err(msg: string): FerryError {
    return new FerryError(this.code, `malformed chunked body: ${msg}`);
  }
}

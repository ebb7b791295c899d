// A Shadowsocks stream as a Duplex: plaintext in and out on one side, the encrypted TCP socket on the
// other. It answers the parts of the net.Socket surface that relay() and the inbounds use
// (setTimeout, setNoDelay, local/remote address), so an outbound can return it where a Socket is
// expected and the server inbound can hand it to the same relay every other inbound uses.
//
// Per socket read it does one decode and one delivery; per write, one encode and one socket write:
// no closures, no copies beyond what the AEAD makes.
//
// Fast mode (a wire socket dialled with net/fast-read.ts, for a stream that will only be relayed):
// the wire is read into a reused buffer, opened into a reused plaintext buffer, and handed straight
// to relay()'s sink as a fast-read source (no Readable machinery); like a fast-read socket, reading
// stops until the relay's write of that plaintext has completed. In every mode the sealed output
// buffer is reused when the socket took the previous one whole.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { TAG_LEN } from './aead.js';
import { attachSink, FAST_READ_MAX, fastSource, type FastReadState } from '../../net/fast-read.js';

export interface WireCodec {
  /** Plaintext → wire bytes (the first call may add salt and header). */
  encode(data: Buffer): Buffer;
  /**
   * Wire bytes (which the codec may overwrite, and does not keep) → plaintext delivered to the sink
   * given at construction: in place, or into `dst` when given (see ChunkOpener.push). False when
   * corrupt.
   */
  decode(data: Buffer, dst?: Buffer | null): boolean;
  readonly failure: string | null;
  /** False until the first encode (the client's request header goes out with the first data). */
  readonly started?: boolean;
  /** Seals bytes encode() held back to fill chunks; null when none. */
  flush?(): Buffer | null;
  /** The socket has written this encode()/flush() output: its memory may be reused. */
  recycle?(wire: Buffer): void;
}

/** Plaintext buffer of a fast-mode stream: a whole read plus one frame that straddled reads. */
const MAX_FRAME = 0xffff + TAG_LEN;
const PLAIN_SIZE = FAST_READ_MAX + MAX_FRAME;

export class StreamCorruptError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'StreamCorruptError';
  }
}

export interface SecureStreamOptions {
  /**
   * Client side: send the request header on its own after this many ms without application data
   * (protocols where the server speaks first). SIP022 §3.1.3 allows waiting "typically less than one
   * second" so that the header and the first payload share one packet.
   */
  headerDelayMs?: number;
  /** The socket was dialled with fast reads (net/fast-read.ts) and this stream only feeds relay(). */
  fastRead?: boolean;
}

export class SecureStream extends Duplex {
  readonly codec: WireCodec;
  private headerTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  /** Fast mode: relay()'s sink state (this stream as a fast-read source) and the plaintext buffer. */
  private readonly fast: FastReadState | null = null;
  private plain: Buffer | null = null;

  constructor(
    readonly socket: Socket,
    makeCodec: (sink: (plain: Buffer) => void) => WireCodec,
    opts: SecureStreamOptions = {},
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.codec = makeCodec(this.deliver);
    if (opts.fastRead) {
      this.fast = fastSource(this);
      for (const held of attachSink(socket, this.onWireFast)) this.onWireFast(socket, held, false);
    } else {
      socket.on('data', this.onWire);
    }
    socket.on('end', this.onWireEnd);
    socket.on('error', this.onWireError);
    socket.on('close', this.onWireClose);
    socket.on('drain', this.onWireDrain);
    if (opts.headerDelayMs !== undefined && !this.codec.started) {
      this.headerTimer = setTimeout(this.flushHeader, opts.headerDelayMs);
      this.headerTimer.unref();
    }
  }

  // --- wire → plaintext ---------------------------------------------------------------------
  private readonly onWire = (data: Buffer): void => {
    if (!this.codec.decode(data))
      this.destroy(new StreamCorruptError(this.codec.failure ?? 'corrupt stream'));
  };
  private readonly deliver = (plain: Buffer): void => {
    const fast = this.fast;
    if (fast === null) {
      if (!this.push(plain)) this.socket.pause();
      return;
    }
    const reused = plain.buffer === this.plain?.buffer;
    if (fast.sink === null) {
      // relay() has not attached yet: keep a private copy and stop reading (as fast-read does).
      (fast.held ??= []).push(reused ? Buffer.from(plain) : plain);
      this.wantMore = false;
    } else if (!fast.sink(this as unknown as Socket, plain, reused)) {
      this.wantMore = false;
    }
  };
  /** Cleared by a delivery that asks to stop reading (fast mode). */
  private wantMore = true;
  private readonly onWireFast = (_s: Socket, data: Buffer, reused: boolean): boolean => {
    // A small read (a private copy) is opened in place. A bulk read lies in the socket's reused
    // buffer: it is opened into this stream's reused plaintext buffer, and since the wire bytes are
    // consumed before this returns (a straddling frame is copied aside), the read buffer is free
    // again at once; the plaintext buffer is read into again only after relay() wrote it.
    let dst: Buffer | null = null;
    if (reused) {
      dst = this.plain ??= Buffer.allocUnsafe(PLAIN_SIZE);
      if (data.length + MAX_FRAME > dst.length) dst = Buffer.allocUnsafe(data.length + MAX_FRAME);
    }
    this.wantMore = true;
    if (!this.codec.decode(data, dst)) {
      this.destroy(new StreamCorruptError(this.codec.failure ?? 'corrupt stream'));
      return false;
    }
    return this.wantMore;
  };
  override _read(): void {
    this.socket.resume();
  }
  /** Fast mode: relay() resumes this stream to read the wire again (net.Socket does the same). */
  override resume(): this {
    if (this.fast === null) return super.resume();
    this.socket.resume();
    return this;
  }
  override pause(): this {
    if (this.fast === null) return super.pause();
    this.socket.pause();
    return this;
  }
  private readonly onWireEnd = (): void => {
    this.push(null);
    // Fast mode never makes the readable side flow; let it, so that 'end' is emitted.
    if (this.fast !== null) super.resume();
  };
  private readonly onWireError = (err: Error): void => {
    this.destroy(err);
  };
  private readonly onWireClose = (): void => {
    if (!this.destroyed) this.destroy();
  };

  // --- plaintext → wire -----------------------------------------------------------------------
  private pendingCb: ((err?: Error | null) => void) | null = null;
  private readonly onWireDrain = (): void => {
    const cb = this.pendingCb;
    this.pendingCb = null;
    cb?.();
  };

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.clearHeaderTimer();
    let wire: Buffer;
    try {
      wire = this.codec.encode(chunk);
    } catch (e) {
      cb(e as Error);
      return;
    }
    if (this.codec.flush && !this.flushScheduled) {
      // The codec may hold a partial chunk back for the next write; if none comes before the event
      // loop turns, send it then.
      this.flushScheduled = true;
      setImmediate(this.flushHeld);
    }
    // `chunk` is sealed into `wire` already: the writer may reuse it as soon as the socket accepts.
    if (this.writeWire(wire)) {
      cb();
    } else {
      this.pendingCb = cb;
    }
  }

  private readonly flushHeld = (): void => {
    this.flushScheduled = false;
    if (this.destroyed || !this.socket.writable) return;
    const wire = this.codec.flush?.();
    if (wire) this.writeWire(wire);
  };

  /**
   * Writes wire bytes, remembering them until their write completes: a net.Socket completes writes
   * in order, so one callback (no closure per write) hands the oldest back to the codec for reuse.
   */
  private readonly inFlight: Buffer[] = [];
  private writeWire(wire: Buffer): boolean {
    if (!this.codec.recycle) return this.socket.write(wire);
    this.inFlight.push(wire);
    return this.socket.write(wire, this.onWireWritten);
  }
  private readonly onWireWritten = (err?: Error | null): void => {
    const wire = this.inFlight.shift();
    if (wire && !err) this.codec.recycle?.(wire);
  };

  override _final(cb: (err?: Error | null) => void): void {
    this.clearHeaderTimer();
    // A client that sends nothing and half-closes still has to tell the server where to connect.
    if (this.codec.started === false) this.writeWire(this.codec.encode(Buffer.alloc(0)));
    const held = this.codec.flush?.();
    if (held) this.writeWire(held);
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearHeaderTimer();
    this.socket.destroy();
    const p = this.pendingCb;
    this.pendingCb = null;
    p?.(err);
    cb(err);
  }

  private readonly flushHeader = (): void => {
    this.headerTimer = null;
    if (this.codec.started === false && !this.destroyed && this.socket.writable)
      this.writeWire(this.codec.encode(Buffer.alloc(0)));
  };
  private clearHeaderTimer(): void {
    if (this.headerTimer) clearTimeout(this.headerTimer);
    this.headerTimer = null;
  }

  // --- the net.Socket surface relay() and inbounds use ------------------------------------------
  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms);
    if (cb) this.socket.once('timeout', cb);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }
  ref(): this {
    this.socket.ref();
    return this;
  }
  unref(): this {
    this.socket.unref();
    return this;
  }
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.socket.localPort;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }
}

// A Shadowsocks stream as a Duplex: plaintext in and out on one side, the encrypted TCP socket on the
// other. It answers the parts of the net.Socket surface that relay() and the inbounds use
// (setTimeout, setNoDelay, local/remote address), so an outbound can return it where a Socket is
// expected and the server inbound can hand it to the same relay every other inbound uses.
//
// Per chunk it does one encode and one socket write (or one decode and one push): no closures, no
// copies beyond what the AEAD library makes.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface WireCodec {
  /** Plaintext → wire bytes (the first call may add salt and header). */
  encode(data: Buffer): Buffer;
  /** Wire bytes → plaintext delivered to the sink given at construction; false when corrupt. */
  decode(data: Buffer): boolean;
  readonly failure: string | null;
  /** False until the first encode (the client's request header goes out with the first data). */
  readonly started?: boolean;
  /** Seals bytes encode() held back to fill chunks; null when none. */
  flush?(): Buffer | null;
}

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
}

export class SecureStream extends Duplex {
  readonly codec: WireCodec;
  private headerTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;

  constructor(
    readonly socket: Socket,
    makeCodec: (sink: (plain: Buffer) => void) => WireCodec,
    opts: SecureStreamOptions = {},
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.codec = makeCodec(this.deliver);
    socket.on('data', this.onWire);
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
    if (!this.push(plain)) this.socket.pause();
  };
  override _read(): void {
    this.socket.resume();
  }
  private readonly onWireEnd = (): void => {
    this.push(null);
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
    if (this.socket.write(wire)) cb();
    else this.pendingCb = cb;
  }

  private readonly flushHeld = (): void => {
    this.flushScheduled = false;
    if (this.destroyed || !this.socket.writable) return;
    const wire = this.codec.flush?.();
    if (wire) this.socket.write(wire);
  };

  override _final(cb: (err?: Error | null) => void): void {
    this.clearHeaderTimer();
    // A client that sends nothing and half-closes still has to tell the server where to connect.
    if (this.codec.started === false) this.socket.write(this.codec.encode(Buffer.alloc(0)));
    const held = this.codec.flush?.();
    if (held) this.socket.write(held);
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
      this.socket.write(this.codec.encode(Buffer.alloc(0)));
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

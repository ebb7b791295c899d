// Allocation-free reads for destination sockets that will be relayed. A normal net.Socket reads
// every chunk into a freshly allocated 64 KiB buffer: for a bulk transfer that is ~16,000
// allocations (and page faults, and GC) per GB. With `onread`, Node reads into a buffer we supply
// and hands it to a callback; the relay writes it straight to the client and, if the kernel did not
// take all of it at once, stops reading until the client side drains, so the buffer is never
// overwritten while a write still refers to it.
//
// Buffers: small reads land in one shared 16 KiB buffer and are copied out (a copy of a few bytes is
// cheaper than a buffer per socket, and idle tunnels stay small); a socket whose read fills the
// shared buffer is doing bulk transfer and gets a buffer of its own.
//
// Until a sink is attached (the relay starts after the client's reply is sent), incoming bytes are
// copied aside and reading pauses; attachSink hands them over first.
import type { OnReadOpts, Socket } from 'node:net';

const SHARED_SIZE = 16 * 1024;
const OWN_SIZE = 256 * 1024;
/** The largest read a fast-read socket delivers. */
export const FAST_READ_MAX = OWN_SIZE;
const shared = Buffer.allocUnsafe(SHARED_SIZE);

/**
 * Receives read bytes; return false to stop reading. When `reused` is true, `buf` is this socket's
 * own read buffer: the next read overwrites it, so the sink must stop reading until whatever it
 * did with the bytes no longer refers to them. Otherwise `buf` is a private copy.
 */
export type Sink = (socket: Socket, buf: Buffer, reused: boolean) => boolean;

export interface FastReadState {
  own: Buffer | null;
  sink: Sink | null;
  /** Bytes read before a sink was attached (private copies), handed over by attachSink. */
  held: Buffer[] | null;
}

const kState = Symbol('ferry.fastRead');
type FastSocket = Socket & { [kState]?: FastReadState };

function onRead(this: FastSocket, n: number, buf: Buffer): boolean {
  const st = this[kState]!;
  const own = buf !== shared;
  if (!own && n === SHARED_SIZE) st.own = Buffer.allocUnsafe(OWN_SIZE); // bulk: next reads go there
  if (st.sink === null) {
    (st.held ??= []).push(Buffer.from(buf.subarray(0, n)));
    return false;
  }
  // Shared-buffer bytes must not outlive the call (another socket reads into it next).
  return own
    ? st.sink(this, buf.subarray(0, n), true)
    : st.sink(this, Buffer.from(buf.subarray(0, n)), false);
}

export interface FastRead {
  /** Spread into net.connect's options. */
  readonly options: { onread: OnReadOpts };
  /** Call with the socket net.connect returned. */
  bind(s: Socket): void;
}

/**
 * Fast-read options for one socket. Node asks for the next read buffer without telling which socket
 * it is for, so the buffer choice is a small closure over this socket's state.
 */
export function fastRead(): FastRead {
  const st: FastReadState = { own: null, sink: null, held: null };
  return {
    options: {
      onread: {
        buffer: () => st.own ?? shared,
        callback: onRead as unknown as (n: number, b: Uint8Array) => boolean,
      },
    },
    bind(s: Socket): void {
      (s as FastSocket)[kState] = st;
    },
  };
}

/**
 * Makes a socket-like stream that reads into reused buffers by itself (a decrypting stream over a
 * fast-read socket) a fast-read source for relay(): relay() attaches its sink to the returned state;
 * the source calls `state.sink(source, buf, reused)` and, when that returns false, stops reading until
 * relay() calls its resume().
 */
export function fastSource(source: object): FastReadState {
  const st: FastReadState = { own: null, sink: null, held: null };
  (source as FastSocket)[kState] = st;
  return st;
}

export function isFastRead(s: Socket): boolean {
  return (s as FastSocket)[kState] !== undefined;
}

/**
 * Attaches the relay's sink; returns the bytes read before it was attached (to be written first).
 * The caller resumes the socket when it is ready for more.
 */
export function attachSink(s: Socket, sink: Sink): Buffer[] {
  const st = (s as FastSocket)[kState]!;
  st.sink = sink;
  const held = st.held ?? [];
  st.held = null;
  return held;
}

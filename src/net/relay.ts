// Bidirectional byte relay between two sockets: backpressure both ways, half-close forwarded, byte
// counts for accounting, rate limits through a Meter, and an idle timeout. This is the hot path of
// every tunnel, and thousands of tunnels sit idle at once, so:
//   - per chunk it does a counter update, one write and one meter call — nothing else;
//   - per tunnel it allocates one state object: the socket listeners are module-level functions
//     that find the state through a symbol on the socket, and the abort listener is the state
//     itself (EventTarget accepts objects with handleEvent), so an idle tunnel holds no closures;
//   - idle detection is one shared sweeper for all tunnels instead of a timer per socket that every
//     read and write would have to re-arm;
//   - destination sockets dialled with fast reads (net/fast-read.ts) are read into reused buffers.
import type { Socket } from 'node:net';
import { attachSink, isFastRead } from './fast-read.js';
import { NO_METER, type Meter } from './meter.js';
import type { SessionSignal } from './kill-signal.js';

export interface RelayResult {
  /** Bytes from a (client) to b (destination). */
  up: number;
  /** Bytes from b to a. */
  down: number;
  /** What ended the relay. */
  reason: 'closed' | 'idle' | 'error' | 'aborted';
  error?: Error;
}

export interface RelayOptions {
  idleTimeoutMs: number;
  /** Aborting stops the relay and destroys both sockets (used to close sessions on quota/kill). */
  signal?: AbortSignal;
  /** Byte accounting and rate limits (default: none). */
  meter?: Meter;
}

const kRelay = Symbol('ferry.relay');
type RelaySocket = Socket & { [kRelay]?: RelayState };

class RelayState {
  readonly result: RelayResult = { up: 0, down: 0, reason: 'closed' };
  ended = false;
  aEnded = false;
  bEnded = false;
  closed = 0;
  // A side is read only when neither its peer's write buffer is full nor the rate limit says wait.
  aWaitDrain = false;
  aWaitRate = false;
  bWaitDrain = false;
  bWaitRate = false;
  /** Set on any traffic; the sweeper clears it and measures idleness from when it found it clear. */
  active = true;
  idleSince = 0;
  readonly signals: SessionSignal[];

  constructor(
    readonly a: RelaySocket,
    readonly b: RelaySocket,
    readonly meter: Meter,
    readonly idleMs: number,
    signal: AbortSignal | undefined,
    readonly resolve: (r: RelayResult) => void,
  ) {
    this.signals = [];
    if (signal) this.signals.push(signal);
    if (meter.signal) this.signals.push(meter.signal);
  }

  /** Write callback for reused fast-read buffers (see sinkB). */
  readonly written = (): void => {
    if (!this.bWaitDrain) return;
    this.bWaitDrain = false;
    if (!this.bWaitRate && !this.ended) this.b.resume();
  };

  /** AbortSignal listener. */
  handleEvent(): void {
    this.finish('aborted');
  }

  finish(reason: RelayResult['reason'], err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    const r = this.result;
    if (r.reason === 'closed') r.reason = reason;
    if (err) r.error = err;
    for (const s of this.signals) s.removeEventListener('abort', this);
    if (this.idleMs > 0) sweeper.delete(this);
    this.a.destroy();
    this.b.destroy();
    this.resolve(r);
  }

  /** Bytes from b are on their way to a: account, rate-limit. Returns false to stop reading b. */
  down(n: number, writeOk: boolean): boolean {
    this.result.down += n;
    this.active = true;
    let go = true;
    if (!writeOk) {
      this.bWaitDrain = true;
      go = false;
    }
    const wait = this.meter.down(n);
    if (wait > 0) {
      this.bWaitRate = true;
      go = false;
      setTimeout(resumeB, wait, this);
    }
    return go;
  }
}

// ---- the shared idle sweeper ----------------------------------------------------------------
const SWEEP_MS = 250;
const sweeper = new Set<RelayState>();
let sweepTimer: NodeJS.Timeout | null = null;

function sweep(): void {
  const now = Date.now();
  for (const st of sweeper) {
    if (st.active) {
      st.active = false;
      st.idleSince = now;
    } else if (now - st.idleSince >= st.idleMs) {
      st.finish('idle');
    }
  }
  if (sweeper.size === 0 && sweepTimer) {
    clearInterval(sweepTimer);
    sweepTimer = null;
  }
}

function watchIdle(st: RelayState): void {
  sweeper.add(st);
  if (!sweepTimer) {
    sweepTimer = setInterval(sweep, SWEEP_MS);
    sweepTimer.unref();
  }
}

// ---- module-level listeners: `this` is the socket -----------------------------------------------
function onAData(this: RelaySocket, chunk: Buffer): void {
  const st = this[kRelay]!;
  st.result.up += chunk.length;
  st.active = true;
  if (!st.b.write(chunk)) {
    st.aWaitDrain = true;
    this.pause();
  }
  const wait = st.meter.up(chunk.length);
  if (wait > 0) {
    st.aWaitRate = true;
    this.pause();
    setTimeout(resumeA, wait, st);
  }
}

function onBData(this: RelaySocket, chunk: Buffer): void {
  const st = this[kRelay]!;
  if (!st.down(chunk.length, st.a.write(chunk))) this.pause();
}

/**
 * Fast-read sink for b. A reused buffer may only be read into again once the write that refers to
 * it has completed: if a write is still queued after write() returns (the kernel did not take it
 * all, or TLS has not flushed), reading stops until its callback (or 'drain') says it is done.
 */
function sinkB(b: Socket, buf: Buffer, reused: boolean): boolean {
  const st = (b as RelaySocket)[kRelay]!;
  const a = st.a;
  if (!reused) return st.down(buf.length, a.write(buf));
  a.write(buf, st.written);
  return st.down(buf.length, a.writableLength === 0);
}

function resumeA(st: RelayState): void {
  st.aWaitRate = false;
  if (!st.aWaitDrain && !st.ended) st.a.resume();
}

function resumeB(st: RelayState): void {
  st.bWaitRate = false;
  if (!st.bWaitDrain && !st.ended) st.b.resume();
}

/** a drained: b may be read again. */
function onADrain(this: RelaySocket): void {
  const st = this[kRelay]!;
  st.bWaitDrain = false;
  if (!st.bWaitRate && !st.ended) st.b.resume();
}

function onBDrain(this: RelaySocket): void {
  const st = this[kRelay]!;
  st.aWaitDrain = false;
  if (!st.aWaitRate && !st.ended) st.a.resume();
}

// Half-close: when one side finishes sending, pass the FIN on (end() flushes what is queued first)
// and keep relaying the other way.
function onAEnd(this: RelaySocket): void {
  const st = this[kRelay]!;
  st.aEnded = true;
  st.b.end();
}

function onBEnd(this: RelaySocket): void {
  const st = this[kRelay]!;
  st.bEnded = true;
  st.a.end();
}

function onError(this: RelaySocket, e: Error): void {
  this[kRelay]!.finish('error', e);
}

/**
 * A socket closed. If both directions had ended, this is the orderly end and the other socket closes
 * by itself once it has flushed what it still holds, so wait for it; destroying it now would drop
 * those bytes. Otherwise the connection broke and the other side is torn down at once.
 */
function onClose(this: RelaySocket): void {
  const st = this[kRelay]!;
  st.closed++;
  if (st.closed === 2 || !(st.aEnded && st.bEnded)) st.finish('closed');
}

export function relay(a: Socket, b: Socket, opts: RelayOptions): Promise<RelayResult> {
  return new Promise((resolve) => {
    const st = new RelayState(a, b, opts.meter ?? NO_METER, opts.idleTimeoutMs, opts.signal, resolve);
    // A FIN from one side ends only that direction; without this Node would end our write side too
    // when a FIN arrives, and bytes still flowing the other way would be lost.
    a.allowHalfOpen = true;
    b.allowHalfOpen = true;
    const ra = a as RelaySocket;
    const rb = b as RelaySocket;
    ra[kRelay] = st;
    rb[kRelay] = st;
    if (st.signals.some((s) => s.aborted)) return st.finish('aborted');
    for (const s of st.signals) s.addEventListener('abort', st, { once: true });

    a.on('data', onAData);
    a.on('drain', onADrain);
    a.on('end', onAEnd);
    a.on('error', onError);
    a.on('close', onClose);
    b.on('drain', onBDrain);
    b.on('end', onBEnd);
    b.on('error', onError);
    b.on('close', onClose);
    if (isFastRead(b)) {
      for (const held of attachSink(b, sinkB)) {
        if (!st.down(held.length, a.write(held))) b.pause();
      }
    } else {
      b.on('data', onBData);
    }
    if (opts.idleTimeoutMs > 0) watchIdle(st);
    if (!st.aWaitDrain && !st.aWaitRate) a.resume();
    if (!st.bWaitDrain && !st.bWaitRate) b.resume();
  });
}

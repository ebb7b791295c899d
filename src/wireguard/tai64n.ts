// TAI64N timestamps (§5.4.2: the initiation carries one; the responder requires it to increase).
// 12 bytes: 8-byte big-endian TAI64 label (2^62 + 10 + Unix seconds; the 10 is the TAI-UTC offset
// that libtai and wireguard-go use) then 4-byte big-endian nanoseconds.

import { TAI64N_SIZE } from './constants.js';

const TAI64_BASE_HI = 0x40000000; // upper 32 bits of 2^62
const TAI_UTC_OFFSET = 10;
/**
 * Nanoseconds are rounded down to 2^24 ns (~16.8 ms), as wireguard-go does, so that an initiation
 * does not reveal the sender's clock with sub-millisecond precision. Initiations are at least
 * REKEY_TIMEOUT apart, far above this resolution.
 */
const WHITENER_MASK = 0x1000000 - 1;

/** Encodes `wallMs` (ms since the Unix epoch) into `out` (12 bytes). */
export function tai64n(wallMs: number, out: Uint8Array = new Uint8Array(TAI64N_SIZE)): Uint8Array {
  const secs = Math.floor(wallMs / 1000) + TAI_UTC_OFFSET;
  const nanos = Math.floor((wallMs - Math.floor(wallMs / 1000) * 1000) * 1e6) & ~WHITENER_MASK;
  const view = new DataView(out.buffer, out.byteOffset, TAI64N_SIZE);
  view.setUint32(0, (TAI64_BASE_HI + Math.floor(secs / 4294967296)) >>> 0);
  view.setUint32(4, secs >>> 0);
  view.setUint32(8, nanos >>> 0);
  return out;
}

/** Lexicographic comparison of two TAI64N values (big-endian, so bytewise order is time order). */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

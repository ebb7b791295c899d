// The AEAD of one direction of a Shadowsocks TCP stream: one key, a little-endian counter nonce that
// starts at zero and advances after every message (SIP004 "TCP"; SIP022 §3.1.1), and batch calls that
// seal or open every chunk of one socket read at once.
//
// Two implementations with one contract:
//   - native (build/Release/ferry_aead.node, native/ss_aead.c): one OpenSSL context per direction,
//     reused for every chunk, one JS->C call per read. This is the fast path.
//   - JS (node:crypto / libsodium through aead.ts): one call per message; used when the addon is not
//     built, and by the tests that check both agree.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAead, incrementNonce, NONCE_LEN, TAG_LEN, type Aead } from './aead.js';
import type { AeadAlgorithm } from './methods.js';

/** Indexes of the openFrames state (see native/ss_aead.c). */
export const ST_NEED = 0;
export const ST_EXPECT_LENGTH = 1;
export const ST_MAX = 2;
export const ST_FAILURE = 3;
export const ST_OUT_END = 4;

export interface StreamAead {
  /** Seals one message at dst[off]; returns the offset after its tag. */
  sealOne(src: Uint8Array, dst: Uint8Array, off: number): number;
  /**
   * Seals the first n bytes of head‖src as [sealed 2-byte length][sealed payload] chunks of at most
   * max bytes, at dst[off]; returns the offset after the last chunk.
   */
  sealChunks(
    head: Uint8Array | null,
    src: Uint8Array,
    n: number,
    dst: Uint8Array,
    off: number,
    max: number,
  ): number;
  /** Opens ciphertext‖tag in place; false when the tag does not verify. */
  openOne(sealed: Uint8Array): boolean;
  /**
   * Opens the whole frames in src[off, end) per the state `st`; payloads are written to dst from
   * dstOff (when dst is src: in place, moved down). Returns the offset after the last frame opened;
   * st[ST_OUT_END] is the end of the payloads, st[ST_FAILURE] non-zero when the stream is corrupt.
   */
  openFrames(
    src: Uint8Array,
    off: number,
    end: number,
    dst: Uint8Array,
    dstOff: number,
    st: Int32Array,
  ): number;
}

interface NativeAead {
  create(alg: number, key: Uint8Array, encrypt: boolean): unknown;
  sealOne(h: unknown, src: Uint8Array, dst: Uint8Array, off: number): number;
  sealChunks(
    h: unknown,
    head: Uint8Array | null,
    src: Uint8Array,
    n: number,
    dst: Uint8Array,
    off: number,
    max: number,
  ): number;
  openOne(h: unknown, buf: Uint8Array): boolean;
  openFrames(
    h: unknown,
    src: Uint8Array,
    off: number,
    end: number,
    dst: Uint8Array,
    dstOff: number,
    st: Int32Array,
  ): number;
}

const ALG_ID: Record<AeadAlgorithm, number> = { 'aes-128-gcm': 0, 'aes-256-gcm': 1, 'chacha20-poly1305': 2 };

function loadNative(): NativeAead | null {
  if (process.env.FERRY_SS_NATIVE === '0') return null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 7; i++) {
    const p = join(dir, 'build', 'Release', 'ferry_aead.node');
    if (existsSync(p)) {
      try {
        return createRequire(import.meta.url)(p) as NativeAead;
      } catch {
        return null; // built for another Node ABI, or OpenSSL symbols missing: use the JS path
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

const addon = loadNative();

/** Which implementation new streams use ('native' unless the addon is missing or disabled). */
export const streamAeadKind: 'native' | 'js' = addon ? 'native' : 'js';

export function createStreamAead(
  algorithm: AeadAlgorithm,
  key: Buffer,
  encrypt: boolean,
  kind: 'native' | 'js' = streamAeadKind,
): StreamAead {
  if (kind === 'native' && addon)
    return new NativeStreamAead(addon, addon.create(ALG_ID[algorithm], key, encrypt));
  return new JsStreamAead(createAead(algorithm, key));
}

class NativeStreamAead implements StreamAead {
  constructor(
    private readonly n: NativeAead,
    private readonly h: unknown,
  ) {}
  sealOne(src: Uint8Array, dst: Uint8Array, off: number): number {
    return this.n.sealOne(this.h, src, dst, off);
  }
  sealChunks(
    head: Uint8Array | null,
    src: Uint8Array,
    n: number,
    dst: Uint8Array,
    off: number,
    max: number,
  ): number {
    return this.n.sealChunks(this.h, head, src, n, dst, off, max);
  }
  openOne(sealed: Uint8Array): boolean {
    return this.n.openOne(this.h, sealed);
  }
  openFrames(
    src: Uint8Array,
    off: number,
    end: number,
    dst: Uint8Array,
    dstOff: number,
    st: Int32Array,
  ): number {
    return this.n.openFrames(this.h, src, off, end, dst, dstOff, st);
  }
}

/** The same contract on aead.ts (one library call per message). */
class JsStreamAead implements StreamAead {
  private readonly nonce = Buffer.alloc(NONCE_LEN);
  private readonly len = Buffer.alloc(2);

  constructor(private readonly aead: Aead) {}

  sealOne(src: Uint8Array, dst: Uint8Array, off: number): number {
    const end = this.aead.seal(this.nonce, src, asBuffer(dst), off);
    incrementNonce(this.nonce);
    return end;
  }

  sealChunks(
    head: Uint8Array | null,
    src: Uint8Array,
    n: number,
    dst: Uint8Array,
    off: number,
    max: number,
  ): number {
    const out = asBuffer(dst);
    const hl = head ? head.length : 0;
    for (let done = 0; done < n;) {
      const c = Math.min(max, n - done);
      this.len[0] = c >> 8;
      this.len[1] = c & 0xff;
      off = this.sealOne(this.len, out, off);
      if (done < hl) {
        const hn = Math.min(hl - done, c);
        off = this.aead.sealParts(
          this.nonce,
          head!.subarray(done, done + hn),
          src.subarray(0, c - hn),
          out,
          off,
        );
        incrementNonce(this.nonce);
      } else {
        off = this.sealOne(src.subarray(done - hl, done - hl + c), out, off);
      }
      done += c;
    }
    return off;
  }

  openOne(sealed: Uint8Array): boolean {
    const b = asBuffer(sealed);
    const p = this.aead.open(this.nonce, b);
    incrementNonce(this.nonce);
    if (!p) return false;
    if (p.buffer !== b.buffer || p.byteOffset !== b.byteOffset) p.copy(b, 0);
    return true;
  }

  openFrames(
    src: Uint8Array,
    off: number,
    end: number,
    dst: Uint8Array,
    dstOff: number,
    st: Int32Array,
  ): number {
    const s = asBuffer(src);
    const d = asBuffer(dst);
    let need = st[ST_NEED]!;
    let expectLength = st[ST_EXPECT_LENGTH] === 1;
    let w = dstOff;
    st[ST_FAILURE] = 0;
    while (end - off >= need) {
      const frame = s.subarray(off, off + need);
      if (expectLength) {
        // Opened on a copy: the source must stay intact when payloads go elsewhere.
        const copy = Buffer.from(frame);
        if (!this.openOne(copy)) {
          st[ST_FAILURE] = 1;
          break;
        }
        const n = copy.readUInt16BE(0);
        if (n > st[ST_MAX]!) {
          st[ST_FAILURE] = 2;
          break;
        }
        off += need;
        need = n + TAG_LEN;
        expectLength = false;
        continue;
      }
      if (!this.openOne(frame)) {
        st[ST_FAILURE] = 1;
        break;
      }
      const n = need - TAG_LEN;
      w += s.copy(d, w, off, off + n);
      off += need;
      need = 2 + TAG_LEN;
      expectLength = true;
    }
    st[ST_NEED] = need;
    st[ST_EXPECT_LENGTH] = expectLength ? 1 : 0;
    st[ST_OUT_END] = w;
    return off;
  }
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

// The answer cache: upstream responses kept as bytes for as long as their TTLs allow, served with the
// TTLs counted down. Sans-IO: the caller passes the time, so tests drive it with a fake clock.
//
// What is cached and for how long:
// - a positive answer for the smallest TTL in its answer section (RFC 2181 §5.2: the records of an
//   RRset share a TTL; across RRsets the smallest bounds how long the whole answer stays true);
// - NXDOMAIN and NODATA for min(SOA TTL, SOA MINIMUM) from the authority section (RFC 2308 §5), and
//   not at all without an SOA (RFC 2308 §5: "SHOULD NOT be cached");
// - nothing else: SERVFAIL, REFUSED and truncated answers say nothing about the name.
// Both durations are capped (RFC 2308 §5 suggests one to three hours for negative answers), and the
// cache holds at most maxEntries answers, evicting the least recently used.
import {
  FLAG_TC,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  scanResponse,
  writeU16,
  writeU32,
  type ScannedResponse,
} from './wire.js';

export interface CacheOptions {
  maxEntries?: number;
  /** Upper bound on a positive answer's lifetime, seconds. */
  maxTtl?: number;
  /** Upper bound on a negative answer's lifetime, seconds. */
  maxNegativeTtl?: number;
}

interface Entry {
  bytes: Uint8Array;
  ttlOffsets: number[];
  /** The TTL of each record when stored, in the order of ttlOffsets. */
  ttls: Uint32Array;
  storedAtMs: number;
  expiresAtMs: number;
}

export const DEFAULT_CACHE_ENTRIES = 10_000;
export const DEFAULT_MAX_TTL = 86_400;
export const DEFAULT_MAX_NEGATIVE_TTL = 3_600;

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxTtl: number;
  private readonly maxNegativeTtl: number;

  constructor(opts: CacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    this.maxTtl = opts.maxTtl ?? DEFAULT_MAX_TTL;
    this.maxNegativeTtl = opts.maxNegativeTtl ?? DEFAULT_MAX_NEGATIVE_TTL;
  }

  get size(): number {
    return this.entries.size;
  }

  /** How long (seconds) a response may be cached; 0 means not at all. Throws on a malformed response. */
  lifetimeOf(response: Uint8Array): number {
    return this.lifetimeFrom(scanResponse(response));
  }

  private lifetimeFrom(s: ScannedResponse): number {
    if (s.flags & FLAG_TC) return 0;
    if (s.rcode === RCODE_NOERROR && s.answerCount > 0) return Math.min(s.minAnswerTtl ?? 0, this.maxTtl);
    if (s.rcode === RCODE_NXDOMAIN || (s.rcode === RCODE_NOERROR && s.answerCount === 0)) {
      return s.negativeTtl === null ? 0 : Math.min(s.negativeTtl, this.maxNegativeTtl);
    }
    return 0;
  }

  /**
   * Stores a copy of the response under key when it is cacheable; returns the lifetime used.
   * `scanned`: the response's scanResponse(), when the caller has it already.
   */
  store(key: string, response: Uint8Array, nowMs: number, scanned?: ScannedResponse): number {
    if (this.maxEntries <= 0) return 0;
    let s: ScannedResponse;
    try {
      s = scanned ?? scanResponse(response);
    } catch {
      return 0;
    }
    const lifetime = this.lifetimeFrom(s);
    if (lifetime <= 0) return 0;
    // A byte-for-byte copy: the scan's offsets hold for it.
    const bytes = Uint8Array.from(response);
    const { ttlOffsets } = s;
    const ttls = new Uint32Array(ttlOffsets.length);
    for (let i = 0; i < ttlOffsets.length; i++) {
      const o = ttlOffsets[i]!;
      const t = ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0;
      // RFC 2181 §8 (top bit set means zero); and no record may outlive the entry that carries it.
      ttls[i] = Math.min(t > 0x7fffffff ? 0 : t, lifetime);
    }
    this.entries.delete(key);
    this.entries.set(key, {
      bytes,
      ttlOffsets,
      ttls,
      storedAtMs: nowMs,
      expiresAtMs: nowMs + lifetime * 1000,
    });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return lifetime;
  }

  /** A fresh copy of the cached response with every TTL reduced by the whole seconds it has spent in the
   * cache and the given ID, or null when there is none or it has expired. */
  lookup(key: string, id: number, nowMs: number): Uint8Array | null {
    const e = this.entries.get(key);
    if (!e) return null;
    if (nowMs >= e.expiresAtMs) {
      this.entries.delete(key);
      return null;
    }
    // Most recently used moves to the end of the Map's insertion order.
    this.entries.delete(key);
    this.entries.set(key, e);
    const out = Uint8Array.from(e.bytes);
    writeU16(out, 0, id);
    const aged = Math.floor((nowMs - e.storedAtMs) / 1000);
    for (let i = 0; i < e.ttlOffsets.length; i++)
      writeU32(out, e.ttlOffsets[i]!, Math.max(0, e.ttls[i]! - aged));
    return out;
  }

  clear(): void {
    this.entries.clear();
  }
}

// Replay filters.
//
// SaltPool (SIP022 §3.1.4): every incoming salt is kept for at least 60 s, exactly — "MUST NOT use
// Bloom filters or anything that could return a false positive". Two generations rotated every
// `ttlMs`: a salt lives between ttl and 2·ttl, and the timestamp check (±30 s) refuses anything older.
//
// SaltRing (SIP004 servers): AEAD requests carry no timestamp, so the filter can only remember the
// last N salts; like shadowsocks-libev's ping-pong filter, two generations of `capacity` each, but
// exact (no false positives either, at a bounded memory cost: entries are added only after a request
// authenticated, so only key holders can fill it).
export interface SaltFilter {
  /** Records salt; returns false when it was already seen (a replay). */
  checkAndAdd(salt: Uint8Array): boolean;
}

export class SaltPool implements SaltFilter {
  private current = new Set<string>();
  private previous = new Set<string>();
  private rotatedAt: number;

  constructor(
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.rotatedAt = now();
  }

  checkAndAdd(salt: Uint8Array): boolean {
    const t = this.now();
    if (t - this.rotatedAt >= this.ttlMs) {
      // After two periods without traffic both generations are stale.
      this.previous = t - this.rotatedAt >= 2 * this.ttlMs ? new Set() : this.current;
      this.current = new Set();
      this.rotatedAt = t;
    }
    const k = Buffer.from(salt.buffer, salt.byteOffset, salt.byteLength).toString('latin1');
    if (this.current.has(k) || this.previous.has(k)) return false;
    this.current.add(k);
    return true;
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}

export class SaltRing implements SaltFilter {
  private current = new Set<string>();
  private previous = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  checkAndAdd(salt: Uint8Array): boolean {
    const k = Buffer.from(salt.buffer, salt.byteOffset, salt.byteLength).toString('latin1');
    if (this.current.has(k) || this.previous.has(k)) return false;
    if (this.current.size >= this.capacity) {
      this.previous = this.current;
      this.current = new Set();
    }
    this.current.add(k);
    return true;
  }
}

/**
 * Sliding-window filter for UDP packet IDs (SIP022 §3.2.4), the construction of RFC 6479: a bitmap of
 * WINDOW recent IDs in 32-bit words; IDs older than the window or seen before are refused. Packet IDs
 * are u64 on the wire; IDs beyond 2^53 are refused (a counter from 0 never gets there).
 */
const WORDS = 64; // 2048-packet window, generous for reordering on fast links
const WINDOW = (WORDS - 1) * 32;

export class PacketWindow {
  private readonly bits = new Uint32Array(WORDS);
  private last = -1;

  /** Returns true (and records id) when id is new and within the window. */
  check(id: bigint): boolean {
    if (id > BigInt(Number.MAX_SAFE_INTEGER)) return false;
    const n = Number(id);
    if (this.last >= 0 && n + WINDOW <= this.last) return false; // too old
    const word = Math.floor(n / 32);
    if (n > this.last) {
      // Clear the words between the last seen and the new one.
      const lastWord = this.last < 0 ? -1 : Math.floor(this.last / 32);
      const steps = Math.min(word - lastWord, WORDS);
      for (let i = 1; i <= steps; i++) this.bits[(lastWord + i) % WORDS] = 0;
      this.last = n;
    }
    const w = word % WORDS;
    const bit = 1 << (n % 32);
    if ((this.bits[w]! & bit) !== 0) return false;
    this.bits[w]! |= bit;
    return true;
  }
}

/**
 * Salt filters for several scopes (one per inbound and edition), as the single authority of a
 * cluster: every worker asks it about each new request's salt, so a salt first seen by one worker is
 * refused by all others. The same exact filters as in one process (SaltPool, SaltRing).
 */
export class SaltRegistry {
  private readonly filters = new Map<string, SaltFilter>();

  constructor(private readonly now: () => number = Date.now) {}

  checkAndAdd(scope: string, edition: 'aead' | '2022', salt: Uint8Array): boolean {
    const key = `${edition}\0${scope}`;
    let f = this.filters.get(key);
    if (!f) {
      f = edition === 'aead' ? new SaltRing() : new SaltPool(60_000, this.now);
      this.filters.set(key, f);
    }
    return f.checkAndAdd(salt);
  }
}

/** Where a worker claims a salt cluster-wide: resolves false when another worker saw it first. */
export interface SaltAuthority {
  claim(scope: string, edition: 'aead' | '2022', salt: Buffer): Promise<boolean>;
}

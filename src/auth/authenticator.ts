// Checks user name + password pairs for every inbound. Password hashes are slow on purpose
// (scrypt), and clients resend credentials on every request and connection, so successful checks
// are cached. The cache key is SHA-256 over a per-process random secret followed by the credential
// as the client sent it ("name\0password", or an HTTP Proxy-Authorization value as is): neither the
// cache nor its lookup timing reveals a password, and a changed password misses the cache (an entry
// also holds the password hash it was checked against). `cached()` answers a repeated credential
// synchronously — no base64 decoding, no promise — which is what a new connection of a known client
// costs (one SHA-256 of a few dozen bytes: a one-shot hash(), a fraction of an HMAC object's cost).
import { hash, randomBytes } from 'node:crypto';
import { FerryError } from '../core/errors.js';
import { verifyPassword } from './password-hash.js';
import { parseLogin } from './username-params.js';
import { LoginThrottle } from './throttle.js';

export interface UserRecord {
  name: string;
  passwordHash: string;
  enabled?: boolean;
}

export interface UserSource {
  /** Returns the user's record, or undefined. */
  get(name: string): UserRecord | undefined;
}

export class MapUserSource implements UserSource {
  private readonly m: Map<string, UserRecord>;
  constructor(users: UserRecord[]) {
    this.m = new Map(users.map((u) => [u.name, u]));
  }
  get(name: string): UserRecord | undefined {
    return this.m.get(name);
  }
  get size(): number {
    return this.m.size;
  }
}

const CACHE_MAX = 10_000;
const CACHE_TTL_MS = 5 * 60_000;

interface CacheEntry {
  /** The login as given (it may carry exit parameters). */
  login: string;
  /** The account the login belongs to (UserSource key). */
  account: string;
  /** The password hash the credential was checked against: a changed password misses. */
  hash: string;
  at: number;
}

export class Authenticator {
  private readonly cacheSecret = randomBytes(32).toString('hex');
  private readonly cache = new Map<string, CacheEntry>();
  private readonly throttle: LoginThrottle;
  /** Checks in flight, by cache key: a burst of connections with the same credentials hashes once. */
  private readonly inflight = new Map<string, Promise<boolean>>();
  /** The credential cached() last accepted, and its cache key (see cached()). */
  private lastCredential: string | null = null;
  private lastKey = '';

  constructor(
    private users: UserSource,
    throttle?: { maxFailures: number; windowMs: number },
  ) {
    this.throttle = new LoginThrottle(throttle ?? { maxFailures: 10, windowMs: 60_000 });
  }

  /**
   * Bumped by every setUsers: a caller that remembers a successful login (an HTTP keep-alive
   * connection) may reuse it only while this is unchanged.
   */
  generation = 0;

  /** Swaps the user set (reload); cached logins are re-validated against the new hashes. */
  setUsers(users: UserSource): void {
    this.users = users;
    this.generation++;
  }

  private cacheKey(credential: string): string {
    return hash('sha256', this.cacheSecret + credential, 'base64');
  }

  /** The cache entry for a key, if it still matches the user set (same hash, enabled, fresh). */
  private hit(key: string, now: number): CacheEntry | undefined {
    const hit = this.cache.get(key);
    if (hit === undefined) return undefined;
    const rec = this.users.get(hit.account);
    if (rec && hit.hash === rec.passwordHash && rec.enabled !== false && now - hit.at < CACHE_TTL_MS)
      return hit;
    return undefined;
  }

  /**
   * The login a credential was accepted for recently, or null (not cached, no longer valid, or the
   * source is throttled): then authenticate() decides. `credential` is the client's bytes as sent —
   * an HTTP Proxy-Authorization value, or credentialOf(name, password) — and must be passed to
   * authenticate() the same way for the cache to fill.
   */
  cached(credential: string, source: string): string | null {
    if (this.throttle.blocked(source)) return null;
    // A client opening connection after connection sends the same credential each time: the key of
    // the last one accepted here is kept, which spares the hash (string equality, no SHA-256). It
    // keeps that one credential in memory, as the connections that sent it do for their lifetime.
    const key = credential === this.lastCredential ? this.lastKey : this.cacheKey(credential);
    const login = this.hit(key, Date.now())?.login ?? null;
    if (login !== null) {
      this.lastCredential = credential;
      this.lastKey = key;
    }
    return login;
  }

  /**
   * Resolves with the user name, or rejects with E_AUTH / E_AUTH_THROTTLED. `source` is the client's
   * address, used for the brute-force throttle. `credential` names the cache entry (see cached()).
   */
  async authenticate(
    name: string,
    password: string,
    source: string,
    credential: string = credentialOf(name, password),
  ): Promise<string> {
    if (this.throttle.blocked(source)) {
      throw new FerryError('E_AUTH_THROTTLED', 'too many failed logins from this address');
    }
    // A login may carry exit parameters ("alice-country-us-session-x"): the password is alice's, and
    // the full login is returned so the session can take the parameters (applyLoginParams).
    const account = parseLogin(name)?.user ?? name;
    const rec = this.users.get(account);
    const key = this.cacheKey(credential);
    const now = Date.now();
    const cached = this.hit(key, now);
    // The entry must be for this name: a credential string names one login, but be strict.
    if (cached && cached.login === name) return cached.login;
    // Unknown users still cost one hash check, so response time does not reveal which names exist.
    const stored = rec?.passwordHash ?? DUMMY_HASH;
    const flightKey = `${key}\0${stored}`;
    let pending = this.inflight.get(flightKey);
    if (!pending) {
      pending = verifyPassword(password, stored).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, pending);
    }
    const ok = await pending;
    if (!ok || !rec || rec.enabled === false) {
      this.throttle.fail(source);
      throw new FerryError('E_AUTH', 'invalid credentials');
    }
    this.throttle.succeed(source);
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(key, { login: name, account, hash: rec.passwordHash, at: now });
    return name;
  }
}

/** The credential string of a name and password (SOCKS, and the default of authenticate()). */
export function credentialOf(name: string, password: string): string {
  return `${name}\0${password}`;
}

// A valid hash of a random password, checked for unknown user names.
const DUMMY_HASH = 'scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

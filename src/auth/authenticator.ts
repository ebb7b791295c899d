// Checks user name + password pairs for every inbound. Password hashes are slow on purpose
// (scrypt), and HTTP clients resend credentials on every request, so successful checks are cached:
// the cache key is an HMAC of "name\0password" under a per-process random key, so neither the
// cache nor its lookup timing reveals a password, and a changed password misses the cache.
import { createHmac, randomBytes } from 'node:crypto';
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

export class Authenticator {
  private readonly cacheKey = randomBytes(32);
  private readonly cache = new Map<string, { user: string; hash: string; at: number }>();
  private readonly throttle: LoginThrottle;
  /** Checks in flight, by cache key: a burst of connections with the same credentials hashes once. */
  private readonly inflight = new Map<string, Promise<boolean>>();

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

  /**
   * Resolves with the user name, or rejects with E_AUTH / E_AUTH_THROTTLED. `source` is the client's
   * address, used for the brute-force throttle.
   */
  async authenticate(name: string, password: string, source: string): Promise<string> {
    if (this.throttle.blocked(source)) {
      throw new FerryError('E_AUTH_THROTTLED', 'too many failed logins from this address');
    }
    // A login may carry exit parameters ("alice-country-us-session-x"): the password is alice's, and
    // the full login is returned so the session can take the parameters (applyLoginParams).
    const rec = this.users.get(parseLogin(name)?.user ?? name);
    const key = createHmac('sha256', this.cacheKey)
      .update(name)
      .update('\0')
      .update(password)
      .digest('base64');
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && rec && hit.hash === rec.passwordHash && rec.enabled !== false && now - hit.at < CACHE_TTL_MS) {
      return hit.user;
    }
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
    this.cache.set(key, { user: name, hash: rec.passwordHash, at: now });
    return name;
  }
}

// A valid hash of a random password, checked for unknown user names.
const DUMMY_HASH = 'scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

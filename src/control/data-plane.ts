// What the gateway loads from the store. It keeps these as in-memory snapshots and reloads them
// when `store.revision()` changes (poll it every few seconds); nothing here runs per connection.
import { dayOf, periodStart } from './quota.js';
import type { QuotaPeriod, Store, Tier } from './store/types.js';
import type { SsUserEntry } from '../inbound/shadowsocks/keys.js';

export interface ProxyLogin {
  /** The login name clients send (a proxy credential's username). */
  username: string;
  passwordHash: string;
  /** The user the login belongs to: the name limits, quotas and logs are kept under. */
  userName: string;
  userId: number;
  /** False when the user is disabled or has expired at load time; refuse the login. */
  enabled: boolean;
  /** ms since the epoch or null; check at login too, the snapshot may be older than the expiry. */
  expiresAt: number | null;
  tierId: number | null;
}

/**
 * Every proxy credential of every stored user. Config users (YAML users:) are not here: the gateway
 * lays them over these, and a config entry wins over a stored login of the same name.
 */
export async function loadProxyUsers(store: Store, now = Date.now()): Promise<ProxyLogin[]> {
  const users = new Map((await store.listUsers()).map((u) => [u.id, u]));
  const out: ProxyLogin[] = [];
  for (const c of await store.listProxyCredentials()) {
    const u = users.get(c.userId);
    if (!u) continue; // removed between the two reads; the next revision drops it anyway
    out.push({
      username: c.username,
      passwordHash: c.passwordHash,
      userName: u.name,
      userId: u.id,
      enabled: u.enabled && (u.expiresAt === null || u.expiresAt > now),
      expiresAt: u.expiresAt,
      tierId: u.tierId,
    });
  }
  return out;
}

/**
 * Store users' Shadowsocks keys for the inbound's key table (a user's secret per method is derived
 * from the stored key: share/ss-user-key.ts). Disabled and expired users are left out.
 */
export async function loadShadowsocksUsers(store: Store, now = Date.now()): Promise<SsUserEntry[]> {
  const users = new Map((await store.listUsers()).map((u) => [u.id, u]));
  const out: SsUserEntry[] = [];
  for (const k of await store.listShadowsocksKeys()) {
    const u = users.get(k.userId);
    if (!u || !u.enabled || (u.expiresAt !== null && u.expiresAt <= now)) continue;
    out.push({ name: u.name, ss_key: k.secret });
  }
  return out;
}

export async function loadTiers(store: Store): Promise<Map<number, Tier>> {
  return new Map((await store.listTiers()).map((t) => [t.id, t]));
}

/**
 * Bytes each user has used in their tier's current period (users without a tier are counted by
 * calendar month). Load at start and on a slow timer; between loads the gateway adds what it
 * relays itself, so the quota check stays exact on this node.
 */
export async function loadQuotaUsage(store: Store, now = Date.now()): Promise<Map<number, number>> {
  const tiers = await loadTiers(store);
  const byPeriod = new Map<QuotaPeriod, Map<number, number>>();
  for (const p of ['month', 'rolling30'] as const) {
    const m = new Map<number, number>();
    for (const r of await store.usageTotals(periodStart(p, now))) m.set(r.userId, r.bytesUp + r.bytesDown);
    byPeriod.set(p, m);
  }
  const out = new Map<number, number>();
  for (const u of await store.listUsers()) {
    const period = (u.tierId !== null ? tiers.get(u.tierId)?.quotaPeriod : undefined) ?? 'month';
    out.set(u.id, byPeriod.get(period)!.get(u.id) ?? 0);
  }
  return out;
}

export { dayOf, periodStart };

// The management plane as the gateway sees it: snapshots of the store's proxy logins and tiers,
// refreshed when the store's revision changes, and the data-plane services built on them — tier
// enforcement (UsageManager: admission, shared token buckets, quota, usage batches), the open-session
// registry (admin API /sessions), and in audit mode the connection records with their retention.
//
// Nothing here runs per chunk except the meters UsageManager hands out. Polling the revision is one
// indexed read every `pollMs`; a reload replaces maps and never touches a live session, except that
// sessions of users who were removed, disabled or ran out of quota are closed.
import type { UserRecord } from '../auth/authenticator.js';
import type { Logger } from '../core/logger.js';
import type { InboundKind } from '../core/session.js';
import { UsageManager, type UserPolicy } from '../control/enforcement/usage-manager.js';
import { loadProxyUsers, loadShadowsocksUsers, loadTiers, type ProxyLogin } from '../control/data-plane.js';
import type { SsUserEntry } from '../inbound/shadowsocks/keys.js';
import type { ConnectionRecord, Store } from '../control/store/types.js';
import type { AccessLogMode, SessionRecord, UsageGate } from '../inbound/context.js';
import { LiveRegistry } from '../inbound/live-registry.js';
import type { Meter } from '../net/meter.js';

export interface ManagementOptions {
  store: Store;
  log: Logger;
  /** How often the store's revision is checked (default 2 s). */
  pollMs?: number;
  /** How often usage and connection records are written (default 2 s). */
  flushMs?: number;
  /** Prefix of session ids in the live listing: unique per worker process. */
  idPrefix?: string;
  now?: () => number;
}

/** Audit records are written in batches; past this many waiting, the oldest are dropped (and counted). */
const MAX_PENDING_RECORDS = 50_000;
/**
 * Rows per audit transaction. SQLite writes in this thread, a few microseconds per row: a busy
 * proxy's 2-second batch (tens of thousands of sessions) would stall every connection for a tenth of
 * a second, so batches are started early and cut at this size, with I/O running between them.
 */
const RECORD_BATCH = 2000;
/** The retention job runs at start and then this often (or retention/10 when shorter). */
const PRUNE_EVERY_MS = 3_600_000;

export class ManagementPlane implements UsageGate {
  readonly live: LiveRegistry;
  readonly usage: UsageManager;
  /** Store logins by login name; a name also in the configuration's users is left out (config wins). */
  private logins = new Map<string, ProxyLogin>();
  /** Store users' Shadowsocks keys; a new array per snapshot (the inbound rebuilds its key table). */
  ssUsers: readonly SsUserEntry[] = [];
  private configNames: ReadonlySet<string> = new Set();
  private revision = -1;
  /** Earliest future user expiry in the snapshot: the snapshot is reloaded when it passes. */
  private nextExpiry = Infinity;
  private readonly pollTimer: NodeJS.Timeout;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly recordTimer: NodeJS.Timeout;
  private records: ConnectionRecord[] = [];
  private droppedRecords = 0;
  private writingRecords: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private privacy: AccessLogMode = 'minimal';
  private retentionMs = 30 * 86_400_000;
  private readonly now: () => number;
  /** Called after every snapshot load with the store's logins, for the authenticator. */
  onLogins: (users: UserRecord[]) => void = () => undefined;

  private constructor(private readonly opts: ManagementOptions) {
    this.now = opts.now ?? Date.now;
    this.live = new LiveRegistry(opts.idPrefix ?? '');
    this.usage = new UsageManager({
      store: opts.store,
      flushMs: opts.flushMs ?? 2000,
      now: this.now,
      onError: (err) => opts.log.warn({ err: err.message }, 'usage batch not written; will retry'),
    });
    this.pollTimer = setInterval(() => void this.poll(), opts.pollMs ?? 2000);
    this.pollTimer.unref();
    this.recordTimer = setInterval(() => void this.writeRecords(), opts.flushMs ?? 2000);
    this.recordTimer.unref();
  }

  static async open(opts: ManagementOptions): Promise<ManagementPlane> {
    const m = new ManagementPlane(opts);
    try {
      await m.reload();
    } catch (e) {
      await m.close();
      throw e;
    }
    return m;
  }

  /** The store's logins as the authenticator takes them (config users are laid over by the gateway). */
  userRecords(): UserRecord[] {
    const out: UserRecord[] = [];
    for (const l of this.logins.values())
      out.push({ name: l.username, passwordHash: l.passwordHash, enabled: l.enabled });
    return out;
  }

  /** Names defined in the configuration file: they are not store logins, whatever the store holds. */
  setConfigNames(names: Iterable<string>): void {
    this.configNames = new Set(names);
  }

  /** The privacy mode and audit retention (config, reloadable). Leaving audit drops unwritten records. */
  setPrivacy(mode: AccessLogMode, retentionMs: number): void {
    this.privacy = mode;
    this.retentionMs = retentionMs;
    if (mode !== 'audit') {
      this.records = [];
      if (this.pruneTimer) clearInterval(this.pruneTimer);
      this.pruneTimer = null;
      return;
    }
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = setInterval(
      () => void this.prune(),
      Math.max(1000, Math.min(PRUNE_EVERY_MS, retentionMs / 10)),
    );
    this.pruneTimer.unref();
    void this.prune();
  }

  /** Deletes connection records older than the retention period; returns how many. */
  async prune(): Promise<number> {
    try {
      const n = await this.opts.store.pruneConnections(this.now() - this.retentionMs);
      if (n > 0) this.opts.log.info({ removed: n }, 'audit: connection records past retention removed');
      return n;
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, 'audit: pruning connection records failed');
      return 0;
    }
  }

  /** The store user a login belongs to; null for config users and unknown logins. */
  userOf(login: string): string | null {
    if (this.configNames.has(login)) return null;
    return this.logins.get(login)?.userName ?? null;
  }

  // --- UsageGate ---------------------------------------------------------------------------------

  admit(login: string, kind: InboundKind, exit: string): void {
    const u = this.userOf(login);
    if (u !== null) this.usage.admit(u, kind, exit);
  }

  meter(login: string): Meter {
    return this.usage.meter(this.userOf(login));
  }

  // --- audit records -----------------------------------------------------------------------------

  /** Audit mode: keeps a finished session's record for the next batch. */
  readonly record = (r: SessionRecord): void => {
    if (this.privacy !== 'audit') return;
    if (this.records.length >= MAX_PENDING_RECORDS) {
      this.records.shift();
      this.droppedRecords++;
    }
    this.records.push(r);
    if (this.records.length === RECORD_BATCH && !this.writingRecords) setImmediate(this.writeSoon);
  };

  private readonly writeSoon = (): void => void this.writeRecords();

  private writeRecords(): Promise<void> {
    if (this.writingRecords || this.records.length === 0) return this.writingRecords ?? Promise.resolve();
    const batch = this.records.length > RECORD_BATCH ? this.records.splice(0, RECORD_BATCH) : this.records;
    if (batch === this.records) this.records = [];
    this.writingRecords = this.opts.store
      .addConnections(batch)
      .catch((e: Error) => {
        // Put them back in front of newer ones; the next run retries.
        this.records = batch.concat(this.records).slice(-MAX_PENDING_RECORDS);
        this.opts.log.warn({ err: e.message, rows: batch.length }, 'audit: records not written; will retry');
      })
      .finally(() => {
        this.writingRecords = null;
        // More than a batch waiting: the next one after pending I/O (setImmediate), not at the timer.
        if (this.records.length >= RECORD_BATCH) setImmediate(this.writeSoon);
        if (this.droppedRecords > 0) {
          this.opts.log.warn({ dropped: this.droppedRecords }, 'audit: records dropped (store too slow)');
          this.droppedRecords = 0;
        }
      });
    return this.writingRecords;
  }

  // --- snapshots ---------------------------------------------------------------------------------

  private poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      try {
        const rev = await this.opts.store.revision();
        if (rev !== this.revision || this.now() >= this.nextExpiry) await this.reload(rev);
      } catch (e) {
        this.opts.log.warn({ err: (e as Error).message }, 'store: cannot refresh users and tiers');
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }

  /** Loads logins and tiers; applies them to enforcement; hands the logins to the authenticator. */
  async reload(rev?: number): Promise<void> {
    const store = this.opts.store;
    const revision = rev ?? (await store.revision());
    const now = this.now();
    const [logins, tiers, users, ssUsers] = await Promise.all([
      loadProxyUsers(store, now),
      loadTiers(store),
      store.listUsers(),
      loadShadowsocksUsers(store, now),
    ]);
    this.logins = new Map(logins.map((l) => [l.username, l]));
    this.ssUsers = ssUsers;
    let nextExpiry = Infinity;
    const policies: UserPolicy[] = [];
    for (const u of users) {
      if (u.expiresAt !== null && u.expiresAt > now) nextExpiry = Math.min(nextExpiry, u.expiresAt);
      const enabled = u.enabled && (u.expiresAt === null || u.expiresAt > now);
      // Disabled, expired and removed users are left out: UsageManager closes their sessions.
      if (enabled)
        policies.push({
          userId: u.id,
          name: u.name,
          tier: u.tierId !== null ? (tiers.get(u.tierId) ?? null) : null,
        });
    }
    this.nextExpiry = nextExpiry;
    this.revision = revision;
    this.onLogins(this.userRecords());
    // Sessions that came in through a login that is gone or disabled now (credential removed,
    // user disabled) end here; UsageManager ends those of users without a policy below. A login in
    // neither the configuration nor the store was removed from one of them.
    this.live.killUser((login) => {
      if (this.configNames.has(login)) return false;
      const l = this.logins.get(login);
      return l === undefined || !l.enabled;
    });
    await this.usage.setPolicies(policies);
  }

  /** Writes the last usage batch and audit records; stops the timers. */
  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    clearInterval(this.recordTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.polling;
    await this.usage.close();
    await this.writingRecords;
    // Every batch, as long as writing makes progress (a failing store must not hold the exit).
    for (let left = this.records.length; left > 0;) {
      await this.writeRecords();
      if (this.records.length >= left) break;
      left = this.records.length;
    }
  }
}

// The management plane as the gateway sees it: snapshots of the store's proxy logins and tiers,
// refreshed when the store's revision changes, and the data-plane services built on them — tier
// enforcement (UsageManager: admission, shared token buckets, quota, usage batches), the open-session
// registry (admin API /sessions), and in audit mode the connection records with their retention.
//
// Nothing here runs per chunk except the meters UsageManager hands out. Polling the revision is one
// indexed read every `pollMs`; a reload replaces maps and never touches a live session, except that
// sessions of users who were removed, disabled or ran out of quota are closed. Connection records
// are collected as raw fields and handed in batches to a ConnectionWriter (control/audit/), which
// for SQLite stores them in a thread of its own.
import type { UserRecord } from '../auth/authenticator.js';
import type { Logger } from '../core/logger.js';
import type { InboundKind } from '../core/session.js';
import { UsageManager, type UserPolicy } from '../control/enforcement/usage-manager.js';
import { loadProxyUsers, loadShadowsocksUsers, loadTiers, type ProxyLogin } from '../control/data-plane.js';
import type { SsUserEntry } from '../inbound/shadowsocks/keys.js';
import type { Store } from '../control/store/types.js';
import { MAX_BACKLOG_ROWS, type ConnectionWriter } from '../control/audit/connection-writer.js';
import { openConnectionWriter } from '../control/audit/open-writer.js';
import { RecordBatch } from '../control/audit/record-batch.js';
import type { AccessLogMode, ConnectionSink, UsageGate } from '../inbound/context.js';
import { LiveRegistry } from '../inbound/live-registry.js';
import type { Meter } from '../net/meter.js';

export interface ManagementOptions {
  store: Store;
  log: Logger;
  /** How often the store's revision is checked (default 2 s). */
  pollMs?: number;
  /** How often usage is written and connection records are handed to their writer (default 2 s). */
  flushMs?: number;
  /** Prefix of session ids in the live listing: unique per worker process. */
  idPrefix?: string;
  now?: () => number;
}

/**
 * Connection records are handed to the writer in batches of this many (and at every flush tick): a
 * postMessage every few milliseconds at tens of thousands of sessions a second, each short enough
 * not to stall the event loop.
 */
const HANDOFF_ROWS = 256;
/** The retention job runs at start and then this often (or retention/10 when shorter). */
const PRUNE_EVERY_MS = 3_600_000;

export class ManagementPlane implements UsageGate, ConnectionSink {
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
  /** Audit mode: records not handed to the writer yet. */
  private readonly records = new RecordBatch(HANDOFF_ROWS);
  private droppedRecords = 0;
  /** Audit mode's writer; null in the other modes. */
  private writer: ConnectionWriter | null = null;
  /** Writers being closed (the mode left audit): close() waits for them. */
  private retiring: Promise<void>[] = [];
  private polling: Promise<void> | null = null;
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
    this.recordTimer = setInterval(() => this.recordTick(), opts.flushMs ?? 2000);
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

  /**
   * The privacy mode and audit retention (config, reloadable). Leaving audit drops the records not
   * handed to the writer yet (what it already has, it stores) and stops the retention job.
   */
  setPrivacy(mode: AccessLogMode, retentionMs: number): void {
    this.retentionMs = retentionMs;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    if (mode !== 'audit') {
      this.records.take();
      if (this.writer) this.retiring.push(this.writer.close());
      this.writer = null;
      return;
    }
    this.writer ??= openConnectionWriter(this.opts.store, this.opts.log);
    this.pruneTimer = setInterval(
      () => void this.prune(),
      Math.max(1000, Math.min(PRUNE_EVERY_MS, retentionMs / 10)),
    );
    this.pruneTimer.unref();
    void this.prune();
  }

  /** Deletes connection records older than the retention period; returns how many. */
  async prune(): Promise<number> {
    if (!this.writer) return 0;
    try {
      const n = await this.writer.prune(this.now() - this.retentionMs);
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

  openSession(login: string, kind: InboundKind, exit: string): Meter {
    const u = this.userOf(login);
    return u === null ? this.usage.meter(null) : this.usage.openSession(u, kind, exit);
  }

  recheck(login: string, kind: InboundKind, exit: string): void {
    const u = this.userOf(login);
    if (u !== null) this.usage.admit(u, kind, exit, true);
  }

  // --- audit records -----------------------------------------------------------------------------

  /** ConnectionSink: audit mode keeps a finished (or refused) session's record for the writer. */
  addRecord(
    at: number,
    user: string | null,
    inbound: string,
    sourceAddress: string,
    sourcePort: number,
    destHost: string,
    destPort: number,
    bytesUp: number,
    bytesDown: number,
    durationMs: number,
    outbound: string,
    reason: string | null,
  ): void {
    if (this.writer === null) return;
    this.records.push(
      at,
      user,
      inbound,
      sourceAddress,
      sourcePort,
      destHost,
      destPort,
      bytesUp,
      bytesDown,
      durationMs,
      outbound,
      reason,
    );
    if (this.records.full) this.handOff();
  }

  /** Gives the collected records to the writer, unless it is too far behind (then they are dropped). */
  private handOff(): void {
    const w = this.writer;
    if (w === null || this.records.rows === 0) return;
    const batch = this.records.take();
    if (w.backlog >= MAX_BACKLOG_ROWS) this.droppedRecords += batch.rows;
    else w.write(batch);
  }

  private recordTick(): void {
    this.handOff();
    if (this.droppedRecords > 0) {
      this.opts.log.warn({ dropped: this.droppedRecords }, 'audit: records dropped (store too slow)');
      this.droppedRecords = 0;
    }
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

  /** Writes the last usage batch and audit records; stops the timers and the writer. */
  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    clearInterval(this.recordTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.polling;
    await this.usage.close();
    this.recordTick();
    const w = this.writer;
    this.writer = null;
    await Promise.all([w?.close(), ...this.retiring]);
  }
}

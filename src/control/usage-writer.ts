// Usage counting for the data plane: the relay adds bytes per user in memory (a Map update, no I/O),
// and a timer writes them to the store as one batch transaction. A batch that fails (database busy
// or down) is merged back and retried with the next one, so no byte is dropped; a crash loses at
// most the batch not yet written.
import type { Logger } from '../core/logger.js';
import { dayOf } from './quota.js';
import type { Store, UsageRow } from './store/types.js';

export interface UsageWriterOptions {
  /** How often a batch is written (default 5 s). */
  intervalMs?: number;
  log?: Logger;
  now?: () => number;
}

export class UsageWriter {
  private pending = new Map<string, UsageRow>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly opts: UsageWriterOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => void this.flush(), opts.intervalMs ?? 5000);
    this.timer.unref();
  }

  /** Counts bytes for a user (call when a connection ends, or periodically for long ones). */
  add(userId: number, bytesUp: number, bytesDown: number): void {
    if (bytesUp === 0 && bytesDown === 0) return;
    const day = dayOf(this.now());
    const key = `${userId}:${day}`;
    const row = this.pending.get(key);
    if (row) {
      row.bytesUp += bytesUp;
      row.bytesDown += bytesDown;
    } else this.pending.set(key, { userId, day, bytesUp, bytesDown });
  }

  /** Writes what is pending as one batch; concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0) return Promise.resolve();
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.store
      .addUsage(batch)
      .catch((err: unknown) => {
        for (const r of batch) this.addRow(r);
        this.opts.log?.warn(
          { err: (err as Error).message, rows: batch.length },
          'usage batch not written; will retry',
        );
      })
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  private addRow(r: UsageRow): void {
    const key = `${r.userId}:${r.day}`;
    const row = this.pending.get(key);
    if (row) {
      row.bytesUp += r.bytesUp;
      row.bytesDown += r.bytesDown;
    } else this.pending.set(key, { ...r });
  }

  /** Stops the timer and writes the last batch. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}

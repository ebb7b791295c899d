// Where audit mode's connection records go. The management plane collects finished sessions as raw
// fields (record-batch.ts) and hands them over in batches to a ConnectionWriter, which stores each
// batch as one chunk (record-chunk.ts) and runs the retention job on the same tables:
//
// - SQLite (the default store): a worker thread with its own connection to the database file
//   (sqlite-writer.ts). better-sqlite3 is synchronous: writing in the gateway's thread would cost
//   an fsync per transaction, time in which no connection moves a byte. WAL mode lets a second
//   connection write while the first reads.
// - any other store (PostgreSQL): StoreConnectionWriter below, through the store's own async
//   addConnectionBatches on the main thread (the driver's I/O is asynchronous already).
import type { Logger } from '../../core/logger.js';
import type { Store } from '../store/types.js';
import type { PackedRecords } from './record-batch.js';

export interface ConnectionWriter {
  /** Takes a batch of records (RecordBatch.take(); the writer owns it from now on). */
  write(batch: PackedRecords): void;
  /** Records handed to write() and not stored yet (written, or given up on after failures). */
  readonly backlog: number;
  /** Resolves once every record handed over before the call has been stored or given up on. */
  flush(): Promise<void>;
  /** Deletes records older than `before` (ms since the epoch); resolves with how many. */
  prune(before: number): Promise<number>;
  /** Stores what it still holds (as far as the store lets it), then releases its resources. */
  close(): Promise<void>;
}

/** Rows per addConnectionBatches call (one transaction; on SQLite the write lock is held meanwhile). */
const STORE_BATCH_ROWS = 2000;
/** Past this many unwritten rows, the oldest batches are given up on (and counted in a warning). */
export const MAX_BACKLOG_ROWS = 100_000;

/** Writes through Store.addConnectionBatches on the caller's thread; one call in flight at a time. */
export class StoreConnectionWriter implements ConnectionWriter {
  private queue: PackedRecords[] = [];
  private queuedRows = 0;
  private writing: Promise<void> | null = null;
  private dropped = 0;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  get backlog(): number {
    return this.queuedRows;
  }

  write(batch: PackedRecords): void {
    if (batch.rows === 0) return;
    this.queue.push(batch);
    this.queuedRows += batch.rows;
    while (this.queuedRows > MAX_BACKLOG_ROWS && this.queue.length > 1) {
      const gone = this.queue.shift()!.rows;
      this.queuedRows -= gone;
      this.dropped += gone;
    }
    this.kick();
  }

  private kick(): void {
    if (!this.writing && this.queue.length > 0) this.writing = this.writeSome();
  }

  /** Writes queued batches until the queue is empty or a write fails (then the timer retries). */
  private async writeSome(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch: PackedRecords[] = [];
        let rows = 0;
        while (this.queue.length > 0 && rows < STORE_BATCH_ROWS) {
          const b = this.queue.shift()!;
          batch.push(b);
          rows += b.rows;
        }
        try {
          await this.store.addConnectionBatches(batch);
          this.queuedRows -= rows;
        } catch (e) {
          // Back in front of newer ones; the next flush (or write) retries.
          this.queue = batch.concat(this.queue);
          this.log.warn({ err: (e as Error).message, rows }, 'audit: records not written; will retry');
          return;
        }
      }
    } finally {
      this.writing = null;
      if (this.dropped > 0) {
        this.log.warn({ dropped: this.dropped }, 'audit: records dropped (store too slow)');
        this.dropped = 0;
      }
    }
  }

  async flush(): Promise<void> {
    await this.writing;
    this.kick();
    await this.writing;
  }

  prune(before: number): Promise<number> {
    return this.store.pruneConnections(before);
  }

  async close(): Promise<void> {
    // Every batch, as long as writing makes progress (a failing store must not hold the exit).
    for (let left = this.queuedRows; left > 0; left = this.queuedRows) {
      await this.flush();
      if (this.queuedRows >= left) break;
    }
  }
}

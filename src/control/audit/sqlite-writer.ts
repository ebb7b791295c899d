// The gateway's side of the audit writer thread (sqlite-writer-thread.ts): hands batches of raw
// records over with postMessage (record-batch.ts: a transferred Float64Array and a string table),
// keeps count of what is not stored yet, and turns the thread's answers into promises and log lines.
//
// If the thread dies (it should not: every SQLite error is caught there), the rows it held are lost
// and logged, and later batches go through the store on this thread (StoreConnectionWriter) — slower,
// but audit mode keeps recording.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../core/logger.js';
import { BUSY_TIMEOUT_MS } from '../store/sqlite.js';
import type { Store } from '../store/types.js';
import { MAX_BACKLOG_ROWS, StoreConnectionWriter, type ConnectionWriter } from './connection-writer.js';
import type { PackedRecords } from './record-batch.js';

/** What the thread is started with (workerData). */
export interface WriterData {
  file: string;
  busyTimeoutMs: number;
  maxBacklogRows: number;
}

/** Messages to the thread. */
export type ToWriter =
  | { t: 'rows'; batch: PackedRecords }
  | { t: 'flush'; id: number }
  | { t: 'prune'; id: number; before: number }
  | { t: 'close' };

/** Messages from the thread. */
export type FromWriter =
  /** Rows written, or given up on (those are also reported by 'dropped'). */
  | { t: 'settled'; rows: number }
  | { t: 'flushed'; id: number }
  | { t: 'pruned'; id: number; rows: number }
  | { t: 'pruneFailed'; id: number; message: string }
  /** A transaction failed; its rows stay queued and are retried. */
  | { t: 'warn'; message: string; rows: number }
  | { t: 'dropped'; rows: number }
  | { t: 'closed' };

export class SqliteConnectionWriter implements ConnectionWriter {
  private readonly worker: Worker;
  private inThread = 0;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { flush: boolean; resolve: (n: number) => void; reject: (e: Error) => void }
  >();
  /** Set when the thread is gone: batches go through the store on this thread. */
  private fallback: StoreConnectionWriter | null = null;
  private readonly exited: Promise<void>;
  private closing = false;

  constructor(
    file: string,
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    const data: WriterData = { file, busyTimeoutMs: BUSY_TIMEOUT_MS, maxBacklogRows: MAX_BACKLOG_ROWS };
    this.worker = new Worker(new URL('./sqlite-writer-thread.js', import.meta.url), { workerData: data });
    // Not what keeps the process alive: ManagementPlane.close() flushes and ends it.
    this.worker.unref();
    this.worker.on('message', (m: FromWriter) => this.onMessage(m));
    this.worker.on('error', (e) => {
      if (!this.closing) this.log.error({ err: e.message }, 'audit: the record writer thread failed');
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => {
        this.onExit();
        resolve();
      });
    });
  }

  get backlog(): number {
    return this.inThread + (this.fallback?.backlog ?? 0);
  }

  write(batch: PackedRecords): void {
    if (this.fallback) return this.fallback.write(batch);
    this.inThread += batch.rows;
    // The numbers move to the thread (transferred, not copied); the batch is not used here again.
    this.worker.postMessage({ t: 'rows', batch } satisfies ToWriter, [batch.nums.buffer as ArrayBuffer]);
  }

  flush(): Promise<void> {
    if (this.fallback) return this.fallback.flush();
    return this.request(true, (id) => ({ t: 'flush', id })).then(() => undefined);
  }

  prune(before: number): Promise<number> {
    if (this.fallback) return this.fallback.prune(before);
    return this.request(false, (id) => ({ t: 'prune', id, before }));
  }

  async close(): Promise<void> {
    if (this.fallback) return this.fallback.close();
    this.closing = true;
    // Keeps the process alive until the thread has written what it holds and closed its connection.
    this.worker.ref();
    this.post({ t: 'close' });
    await this.exited;
  }

  private post(m: ToWriter): void {
    this.worker.postMessage(m);
  }

  private request(flush: boolean, make: (id: number) => ToWriter): Promise<number> {
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { flush, resolve, reject });
      this.post(make(id));
    });
  }

  private answer(id: number, value: number | Error): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (value instanceof Error) w.reject(value);
    else w.resolve(value);
  }

  private onMessage(m: FromWriter): void {
    switch (m.t) {
      case 'settled':
        this.inThread -= m.rows;
        return;
      case 'flushed':
        return this.answer(m.id, 0);
      case 'pruned':
        return this.answer(m.id, m.rows);
      case 'pruneFailed':
        return this.answer(m.id, new Error(m.message));
      case 'warn':
        this.log.warn({ err: m.message, rows: m.rows }, 'audit: records not written; will retry');
        return;
      case 'dropped':
        this.log.warn({ dropped: m.rows }, 'audit: records dropped (store too slow)');
        return;
      case 'closed':
        return;
    }
  }

  /** The thread ended: at close() as asked, or because it failed. */
  private onExit(): void {
    if (!this.closing) {
      if (this.inThread > 0)
        this.log.error({ dropped: this.inThread }, 'audit: records lost with the writer thread');
      this.log.warn('audit: records are now written by the gateway thread');
      this.fallback = new StoreConnectionWriter(this.store, this.log);
    }
    this.inThread = 0;
    // A flush is answered (its rows are stored or lost, and lost ones were logged); a prune failed.
    for (const [id, w] of [...this.waiting])
      this.answer(id, w.flush ? 0 : new Error('the record writer thread ended'));
  }
}

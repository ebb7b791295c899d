// The audit writer thread (started by sqlite-writer.ts): its own better-sqlite3 connection to the
// store's database file, the INSERT of each batch as one chunk (record-chunk.ts), and the retention
// job's DELETEs. Everything here is synchronous on purpose — it is this thread's only job — and
// none of it runs in the gateway's.
//
// Batches are written COALESCE_MS after the first of them arrives, together, up to TXN_ROWS records
// per transaction: a commit (with its fsync) costs more than the chunks in it, so fewer and larger
// transactions are cheaper; but a transaction holds SQLite's write lock, and the gateway's own
// connection (usage batches, admin writes) waits for it, so it stays short — a few milliseconds.
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDb from 'better-sqlite3';
import type { PackedRecords } from './record-batch.js';
import { fromChunk, keepRecords, recordAt, toChunk, type StoredChunk } from './record-chunk.js';
import type { FromWriter, ToWriter, WriterData } from './sqlite-writer.js';

/** Rows per transaction: a few milliseconds of the write lock, fsync included. */
const TXN_ROWS = 4000;
/** How long rows wait for more to share their transaction (unless TXN_ROWS are queued already). */
const COALESCE_MS = 100;
/** Chunks per DELETE of the retention job (a few hundred records each), for the same reason. */
const PRUNE_CHUNKS = 50;
/** After a failed write (lock held too long by another process, disk full), retry this much later. */
const RETRY_MS = 1000;

const port = parentPort!;
const { file, busyTimeoutMs, maxBacklogRows } = workerData as WriterData;

const db = new SqliteDb(file);
// Same settings as the gateway's connection (store/sqlite.ts): WAL is a property of the file and
// already set; the others are per connection.
db.pragma('synchronous = FULL');
db.pragma(`busy_timeout = ${busyTimeoutMs}`);
db.pragma('foreign_keys = ON');
db.pragma('secure_delete = ON'); // records past retention are erased, not left in free pages
// A batch is one chunk (record-chunk.ts): one INSERT of its numbers and strings as they came, and a
// row per user it has records of.
const insertChunk = db.prepare(
  'INSERT INTO connection_chunks (min_at, max_at, rows, strings, nums) VALUES (?, ?, ?, ?, ?)',
);
const insertUser = db.prepare('INSERT INTO connection_chunk_users (user_name, chunk_id) VALUES (?, ?)');
function addChunk(c: StoredChunk): void {
  const id = insertChunk.run(c.minAt, c.maxAt, c.rows, c.strings, c.nums).lastInsertRowid;
  for (const u of c.users) insertUser.run(u, id);
}
const insertBatches = db.transaction((batches: PackedRecords[]) => {
  for (const b of batches) if (b.rows > 0) addChunk(toChunk(b));
});

// Retention: chunks wholly past it are deleted, PRUNE_CHUNKS per statement; the few that hold some
// records past it and some not are rewritten in place (the id keeps their place in listings).
const pruneSome = db
  .prepare(
    'DELETE FROM connection_chunks WHERE id IN (SELECT id FROM connection_chunks WHERE max_at < ? LIMIT ?) RETURNING rows',
  )
  .pluck();
const mixedChunks = db.prepare('SELECT id, rows, strings, nums FROM connection_chunks WHERE min_at < ?');
const updateChunk = db.prepare(
  'UPDATE connection_chunks SET min_at = ?, max_at = ?, rows = ?, strings = ?, nums = ? WHERE id = ?',
);
const deleteChunk = db.prepare('DELETE FROM connection_chunks WHERE id = ?');
const deleteUsers = db.prepare('DELETE FROM connection_chunk_users WHERE chunk_id = ?');
const rewriteMixed = db.transaction((before: number): number => {
  let removed = 0;
  for (const row of mixedChunks.all(before) as {
    id: number;
    rows: number;
    strings: string;
    nums: Buffer;
  }[]) {
    const b = fromChunk(row.rows, row.strings, row.nums);
    const kept = keepRecords(b, (i) => recordAt(b, i) >= before);
    removed += b.rows - kept.rows;
    if (kept.rows === 0) {
      deleteChunk.run(row.id);
      continue;
    }
    const c = toChunk(kept);
    updateChunk.run(c.minAt, c.maxAt, c.rows, c.strings, c.nums, row.id);
    deleteUsers.run(row.id);
    for (const u of c.users) insertUser.run(u, row.id);
  }
  return removed;
});

let queue: PackedRecords[] = [];
let queuedRows = 0;
/** The next write: soon (setImmediate), after COALESCE_MS, or after RETRY_MS following a failure. */
let next: { at: 'soon' | 'coalesce' | 'retry'; cancel: () => void } | null = null;
/** Flush requests waiting for the rows queued before them: [id, rows still ahead of it]. */
let flushes: { id: number; ahead: number }[] = [];

const send = (m: FromWriter): void => port.postMessage(m);

/** Settles `rows` (written or dropped): tells the gateway, answers the flushes they were holding. */
function settled(rows: number): void {
  send({ t: 'settled', rows });
  if (flushes.length === 0) return;
  const still: { id: number; ahead: number }[] = [];
  for (const f of flushes) {
    f.ahead -= rows;
    if (f.ahead <= 0) send({ t: 'flushed', id: f.id });
    else still.push(f);
  }
  flushes = still;
}

/** Writes one transaction's worth of queued batches; false when the write failed. */
function writeOne(): boolean {
  const take: PackedRecords[] = [];
  let rows = 0;
  while (queue.length > 0 && (rows === 0 || rows + queue[0]!.rows <= TXN_ROWS)) {
    const b = queue.shift()!;
    take.push(b);
    rows += b.rows;
  }
  try {
    insertBatches.immediate(take);
  } catch (e) {
    queue = take.concat(queue);
    send({ t: 'warn', message: (e as Error).message, rows });
    return false;
  }
  queuedRows -= rows;
  settled(rows);
  return true;
}

/** Writes one transaction's worth, then schedules the rest (messages come in between). */
function drain(): void {
  next = null;
  if (queue.length === 0) return;
  if (!writeOne()) schedule('retry');
  else schedule(queuedRows >= TXN_ROWS || flushes.length > 0 ? 'soon' : 'coalesce');
}

/**
 * Schedules the next write. A sooner one replaces a later one, except that nothing cuts a retry
 * short: the store just failed.
 */
function schedule(at: 'soon' | 'coalesce' | 'retry'): void {
  if (queue.length === 0) return;
  if (next !== null) {
    if (next.at === 'retry' || next.at === 'soon' || at === 'coalesce') return;
    next.cancel();
  }
  if (at === 'soon') {
    const h = setImmediate(drain);
    next = { at, cancel: () => clearImmediate(h) };
  } else {
    const h = setTimeout(drain, at === 'retry' ? RETRY_MS : COALESCE_MS);
    next = { at, cancel: () => clearTimeout(h) };
  }
}

function prune(before: number): number {
  let total = 0;
  for (;;) {
    const rows = pruneSome.all(before, PRUNE_CHUNKS) as number[];
    for (const n of rows) total += n;
    if (rows.length < PRUNE_CHUNKS) return total + rewriteMixed(before);
  }
}

port.on('message', (m: ToWriter) => {
  switch (m.t) {
    case 'rows': {
      queue.push(m.batch);
      queuedRows += m.batch.rows;
      // The store is failing or far behind: give up on the oldest batches rather than grow forever.
      let dropped = 0;
      while (queuedRows > maxBacklogRows && queue.length > 1) {
        const n = queue.shift()!.rows;
        queuedRows -= n;
        dropped += n;
      }
      if (dropped > 0) {
        send({ t: 'dropped', rows: dropped });
        settled(dropped);
      }
      schedule(queuedRows >= TXN_ROWS ? 'soon' : 'coalesce');
      return;
    }
    case 'flush':
      if (queuedRows === 0) send({ t: 'flushed', id: m.id });
      else {
        flushes.push({ id: m.id, ahead: queuedRows });
        schedule('soon');
      }
      return;
    case 'prune':
      try {
        send({ t: 'pruned', id: m.id, rows: prune(m.before) });
      } catch (e) {
        send({ t: 'pruneFailed', id: m.id, message: (e as Error).message });
      }
      return;
    case 'close': {
      // Everything still queued, as long as the store takes it; whatever it refuses is counted.
      next?.cancel();
      next = null;
      while (queue.length > 0 && writeOne());
      if (queuedRows > 0) {
        send({ t: 'dropped', rows: queuedRows });
        settled(queuedRows);
      }
      db.close();
      send({ t: 'closed' });
      port.close();
      return;
    }
  }
});

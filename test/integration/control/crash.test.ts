// Kill -9 during a burst of writes: a child commits usage batches in a loop while this process
// writes users into the same database (the CLI next to the server); the child is SIGKILLed mid-burst.
// Reopened, the database must be intact, hold every batch the child reported as committed (and at
// most the one it had no time to report), and not re-run a migration.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import SqliteDb from 'better-sqlite3';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import { waitFor } from '../../helpers/wait.js';

const BATCH = 1000;
const dir = mkdtempSync(join(tmpdir(), 'ferry-crash-'));
const path = join(dir, 'ferry.db');
const child = join(dirname(fileURLToPath(import.meta.url)), 'usage-burst-child.js');
let proc: ReturnType<typeof spawn> | undefined;
after(() => {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function readMeta(): Record<string, number> {
  const db = new SqliteDb(path, { readonly: true });
  try {
    const rows = db.prepare('select key, value from ferry_meta').all() as { key: string; value: number }[];
    return Object.fromEntries(rows.filter((r) => r.key !== 'revision').map((r) => [r.key, r.value]));
  } finally {
    db.close();
  }
}

it('survives SIGKILL mid-burst with at most one batch unreported and no migration re-run', async () => {
  const store = await openSqliteStore(path);
  const u = await store.createUser({ name: 'burst' });
  const metaBefore = readMeta();

  proc = spawn(process.execPath, [child, path, String(u.id), String(BATCH)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // 'close', not 'exit': the report lines still in the pipe must be read before counting them.
  const exited = new Promise<void>((r) => proc!.once('close', () => r()));
  /** The last complete "committed N" line. */
  const reported = (): number => {
    const end = out.lastIndexOf('\n');
    if (end < 0) return 0;
    const line = out.slice(out.lastIndexOf('\n', end - 1) + 1, end);
    return Number(/^committed (\d+)$/.exec(line)?.[1] ?? 0);
  };

  await waitFor(
    'the child to commit batches',
    () => reported() >= 50 || (err ? Promise.reject(new Error(err)) : false),
    {
      timeoutMs: 20_000,
    },
  );
  // Writes from a second connection while the child holds the write lock in turns: busy_timeout and
  // BEGIN IMMEDIATE make them wait instead of failing with SQLITE_BUSY.
  for (let i = 0; i < 20; i++) await store.createUser({ name: `concurrent-${i}` });
  await waitFor('more batches', () => reported() >= 200, { timeoutMs: 20_000 });

  proc.kill('SIGKILL');
  await exited;
  assert.equal(proc.signalCode, 'SIGKILL');
  const seen = reported();
  await store.close();

  const check = new SqliteDb(path);
  try {
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    check.close();
  }
  const reopened = await openSqliteStore(path);
  try {
    const { bytesUp } = await reopened.usageSince(u.id, 0);
    assert.equal(bytesUp % BATCH, 0, 'batches are all-or-nothing');
    const committed = bytesUp / BATCH;
    assert.ok(committed >= seen, `every reported batch is there (${committed} >= ${seen})`);
    assert.ok(committed <= seen + 1, `at most one unreported batch (${committed} <= ${seen + 1})`);
    assert.equal((await reopened.listUsers()).filter((x) => x.name.startsWith('concurrent-')).length, 20);
  } finally {
    await reopened.close();
  }
  assert.deepEqual(readMeta(), metaBefore, 'no migration ran again');
});

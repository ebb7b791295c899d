// Child process of crash.test.ts: writes usage batches to a SQLite store as fast as it can and
// reports each batch on stdout only after its transaction committed. The test SIGKILLs it.
import { writeSync } from 'node:fs';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';

const [path, userId, batch] = process.argv.slice(2);
const store = await openSqliteStore(path!);
for (let n = 1; ; n++) {
  await store.addUsage([{ userId: Number(userId), day: 0, bytesUp: Number(batch), bytesDown: 1 }]);
  // writeSync, not process.stdout: a report must reach the pipe before the next batch begins, and
  // process.stdout may buffer in this process, where SIGKILL would lose it.
  writeSync(1, `committed ${n}\n`);
}

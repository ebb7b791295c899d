#!/usr/bin/env node
// Runs the compiled tests with Node's test runner. `node scripts/run-tests.mjs [unit|integration] [filter]`.
// Integration suites build network namespaces and start real peers; they need root and the Debian
// packages that .ci/run installs. Each checks its own prerequisites and fails with a clear message.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const kinds = process.argv[2] && process.argv[2] !== 'all' ? [process.argv[2]] : ['unit', 'integration'];
const filter = process.argv[3];
const files = [];
function walk(dir) {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.test.js') && (!filter || p.includes(filter))) files.push(p);
  }
}
for (const k of kinds) walk(join('dist', 'test', k));
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
// Integration suites share the machine's CPUs with the peers they start; running two at a time keeps
// timing-sensitive ones honest on a 2-core CI machine.
const concurrency = process.env.FERRY_TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

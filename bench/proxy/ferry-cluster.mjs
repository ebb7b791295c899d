// ferry-cluster.mjs N MAIN_JS ARGS... : benchmark-only experiment. Runs N copies of the Ferry CLI
// as node:cluster workers, so their listen() calls share one socket per address (the gateway has no
// worker mode of its own). Scheduling follows NODE_CLUSTER_SCHED_POLICY (rr = the primary accepts
// and hands sockets out, none = every worker accepts on the shared socket). A worker that dies takes
// the whole group down: a benchmark must not silently continue with fewer workers.
import cluster from 'node:cluster';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const [count, main, ...args] = process.argv.slice(2);
const n = Number(count);
if (!Number.isInteger(n) || n < 1 || !main) {
  process.stderr.write('usage: ferry-cluster.mjs N MAIN_JS ARGS...\n');
  process.exit(2);
}
// Each worker needs its own data directory (the gateway holds a lock and an admin socket there):
// give worker i a copy of the --config file whose data_dir ends in /wI.
const ci = args.indexOf('--config');
const conf = ci >= 0 ? readFileSync(args[ci + 1], 'utf8') : null;
for (let i = 0; i < n; i++) {
  let wargs = args;
  if (conf !== null) {
    const m = /^data_dir:\s*(\S+)\s*$/m.exec(conf);
    if (!m) {
      process.stderr.write('ferry-cluster: the config needs a top-level data_dir line\n');
      process.exit(2);
    }
    const dir = `${m[1]}/w${i}`;
    mkdirSync(dir, { recursive: true });
    const file = `${args[ci + 1]}.w${i}.yaml`;
    writeFileSync(file, conf.replace(m[0], `data_dir: ${dir}`));
    wargs = [...args];
    wargs[ci + 1] = file;
  }
  cluster.setupPrimary({ exec: main, args: wargs });
  cluster.fork();
}
let stopping = false;
let failed = false;
const stop = () => {
  stopping = true;
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
};
cluster.on('exit', (w, code, signal) => {
  if (!stopping) {
    failed = true;
    process.stderr.write(`worker ${w.process.pid} exited (${signal ?? code}); stopping\n`);
    stop();
  }
  if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

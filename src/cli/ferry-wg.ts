#!/usr/bin/env node
// ferry-wg: a userspace WireGuard daemon with wireguard-go's command line, so that wg(8) and
// wg-quick(8) drive it unchanged:
//
//   ferry-wg [-f|--foreground] <ifname>
//   WG_QUICK_USERSPACE_IMPLEMENTATION=ferry-wg wg-quick up wg0
//
// Without -f it daemonises: it re-runs itself detached with -f and FERRY_WG_DAEMON=1, waits until the
// child's UAPI socket exists (the moment `wg setconf` can talk to it, which is what wg-quick does
// next) and exits 0; or exits 1 with the child's error output if the child dies first.
// LOG_LEVEL=verbose|info|error|silent as for wireguard-go (default: error).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runInterface, makeLogger, type Level } from '../wireguard/io/daemon.js';
import { socketPath } from '../wireguard/uapi/server.js';

const DAEMON_ENV = 'FERRY_WG_DAEMON';

function usage(code: number): never {
  (code ? process.stderr : process.stdout).write(
    'Usage: ferry-wg [-f/--foreground] INTERFACE-NAME\n' +
      '       ferry-wg --version\n\n' +
      'Userspace WireGuard daemon; configure it with wg(8) or wg-quick(8).\n' +
      'Environment: LOG_LEVEL=verbose|info|error|silent\n',
  );
  process.exit(code);
}

function parseArgs(argv: string[]): { foreground: boolean; ifname: string } {
  let foreground = false;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '-f' || a === '--foreground') foreground = true;
    else if (a === '-h' || a === '--help') usage(0);
    else if (a === '--version') {
      process.stdout.write('ferry-wg (Ferry) userspace WireGuard\n');
      process.exit(0);
    } else if (a.startsWith('-')) usage(1);
    else rest.push(a);
  }
  if (rest.length !== 1) usage(1);
  return { foreground, ifname: rest[0]! };
}

function logLevel(): Level {
  const v = (process.env.LOG_LEVEL ?? 'error').toLowerCase();
  return v === 'verbose' || v === 'debug'
    ? 'verbose'
    : v === 'info'
      ? 'info'
      : v === 'silent'
        ? 'silent'
        : 'error';
}

async function daemonise(ifname: string): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, '-f', ifname], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  let errors = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (errors += d));
  const exited = new Promise<number>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 1 : 0))));
  const path = socketPath(ifname);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const done = await Promise.race([
      exited.then((c) => ({ exit: c })),
      new Promise<null>((r) => setTimeout(() => r(null), 25)),
    ]);
    if (done) {
      process.stderr.write(errors || `ferry-wg: daemon exited with status ${done.exit}\n`);
      return done.exit || 1;
    }
    if (existsSync(path)) break;
    if (Date.now() > deadline) {
      process.stderr.write(`ferry-wg: timed out waiting for ${path}\n${errors}`);
      child.kill('SIGTERM');
      return 1;
    }
  }
  // The daemon stops writing to stderr once it is ready (see main), so closing our end is safe.
  child.stderr!.destroy();
  child.unref();
  return 0;
}

async function main(): Promise<void> {
  const { foreground, ifname } = parseArgs(process.argv.slice(2));
  const isDaemonChild = process.env[DAEMON_ENV] === '1';
  if (!foreground && !isDaemonChild) process.exit(await daemonise(ifname));

  let quiet = false;
  const log = makeLogger(`ferry-wg(${ifname})`, logLevel(), (line) => {
    if (!quiet) process.stderr.write(line);
  });
  let running;
  try {
    running = await runInterface(ifname, log);
  } catch (e) {
    process.stderr.write(`ferry-wg: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (isDaemonChild) {
    // Detached from the parent's pipe: nothing to write to any more. A log file can be added later.
    quiet = true;
    process.stderr.on('error', () => {});
  }
  const reason = await running.stopped;
  if (!isDaemonChild) log('info', `exited: ${reason}`);
  process.exit(0);
}

void main();

// Runs the real `ferry` CLI (the compiled dist/src/cli/main.js) as a child process for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { waitFor } from './wait.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/cli/main.js, located from dist/test/helpers. */
export const FERRY_MAIN = resolve(here, '../../src/cli/main.js');

export interface FerryProc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Number of open file descriptors of the process (Linux /proc). */
  fdCount(): number;
}

/**
 * `prefix` runs ferry under another command that execs its arguments (e.g. `unshare -m sh -c ...`
 * to give it its own /etc/hosts); signals then still reach ferry itself.
 */
export function runFerry(args: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): FerryProc {
  const argv = [...prefix, process.execPath, FERRY_MAIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(t);
        return code;
      }
      return child.exitCode;
    },
    fdCount: () => readdirSync(`/proc/${child.pid}/fd`).length,
  };
}

/** Waits until `ferry serve` has printed its listener table, and returns the port of each inbound name. */
export async function waitForListeners(p: FerryProc, names: string[]): Promise<Record<string, number>> {
  return waitFor(
    `ferry to print listeners ${names.join(', ')} (stderr: ${p.stderr().slice(-500)})`,
    () => {
      if (p.child.exitCode !== null) throw new Error(`ferry exited with ${p.child.exitCode}: ${p.stderr()}`);
      const ports: Record<string, number> = {};
      for (const n of names) {
        const m = new RegExp(String.raw`(?:\]|[\d.]+):(\d+) .*\(${n}\)`).exec(p.stdout());
        if (!m) return undefined;
        ports[n] = Number(m[1]);
      }
      return ports;
    },
    { timeoutMs: 20_000 },
  );
}

export function tmpFile(dir: string, name: string): string {
  return join(dir, name);
}

// Prerequisite checks for tests that need root or a Debian tool.
// Locally a missing prerequisite skips the test with a message saying how to get it; under CI
// (CI=true) it fails the test instead, because .ci/run is supposed to have installed everything and a
// silent skip there would hide a broken install step.
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const inCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export interface Needs {
  root?: boolean;
  tools?: string[];
}

/** Returns the list of missing prerequisites as human-readable strings. */
export function missing(needs: Needs): string[] {
  const out: string[] = [];
  if (needs.root && !isRoot()) out.push('root (network namespaces, TUN)');
  for (const t of needs.tools ?? [])
    if (!haveTool(t)) out.push(`the command '${t}' (install its Debian package; see .ci/run)`);
  return out;
}

/**
 * Call at the start of a test (or in a `before` hook with the suite's context). Returns true when the
 * test may run. When something is missing: under CI throws; elsewhere marks the test skipped.
 */
export function requirePrereqs(t: TestContext | undefined, needs: Needs): boolean {
  const m = missing(needs);
  if (m.length === 0) return true;
  const msg = `missing prerequisite: ${m.join(', ')}`;
  if (inCI() || !t) throw new Error(msg);
  t.skip(msg);
  return false;
}

/** For `describe(..., { skip: skipReason(needs) })`: a reason string locally, never under CI. */
export function skipReason(needs: Needs): string | false {
  const m = missing(needs);
  if (m.length === 0) return false;
  if (inCI()) return false; // run it and let requirePrereqs/the test fail loudly
  return `missing prerequisite: ${m.join(', ')}`;
}

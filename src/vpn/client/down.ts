// `ferry down`: PreDown hooks, then every change `ferry up` recorded, undone newest first (policy
// rules, DNS, the interface and its daemon, and last the kill switch, so nothing escapes while the
// rest is dismantled), then PostDown hooks. Each undo is best effort: a tunnel whose daemon died
// (the case the kill switch exists for) still comes down cleanly.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { socketPath } from '../../wireguard/uapi/server.js';
import { restoreDns } from './dns.js';
import { expandHook } from './plan.js';
import { loadState, removeState, type UpState } from './state.js';
import { System, type Echo } from './system.js';

export function down(ifname: string, echo: Echo): UpState {
  const state = loadState(ifname);
  if (!state) throw new Error(`${ifname} is not up (no ferry up state for it)`);
  const sys = new System(echo);
  const problems: string[] = [];
  for (const c of state.preDown) {
    try {
      sys.hook(expandHook(c, ifname));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  problems.push(...undoAll(state, sys));
  for (const c of state.postDown) {
    try {
      sys.hook(expandHook(c, ifname));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  removeState(ifname);
  for (const p of problems) echo(`[!] ${p}`);
  return state;
}

/** Undoes state.undo newest first; returns what could not be undone (never throws). */
export function undoAll(state: UpState, sys: System): string[] {
  const problems: string[] = [];
  for (const u of [...state.undo].reverse()) {
    try {
      switch (u.kind) {
        case 'ip':
          sys.run(['ip', ...u.args], { allowFail: true });
          break;
        case 'nft-table':
          sys.run(['nft', 'delete', 'table', u.family, u.table], { allowFail: true });
          break;
        case 'dns': {
          sys.say(
            `[#] restore DNS (${u.dns.via === 'resolvconf' ? `resolvconf -d ${u.dns.record}` : u.dns.path})`,
          );
          const w = restoreDns(u.dns);
          if (w) problems.push(w);
          break;
        }
        case 'link':
          stopInterface(sys, state.ifname, u.pid);
          break;
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  state.undo = [];
  return problems;
}

/**
 * Deleting the link is how wg-quick stops a userspace implementation: the daemon sees its interface
 * go and exits, removing its socket. If it is wedged it gets SIGTERM, then SIGKILL; a socket left by
 * a killed daemon is removed so the name can be used again.
 */
function stopInterface(sys: System, ifname: string, pid: number | null): void {
  if (sys.query(['ip', 'link', 'show', 'dev', ifname]))
    sys.run(['ip', 'link', 'delete', 'dev', ifname], { allowFail: true });
  if (pid !== null && isOurDaemon(pid, ifname)) {
    if (!waitGone(pid, 3000)) {
      kill(pid, 'SIGTERM');
      if (!waitGone(pid, 3000)) kill(pid, 'SIGKILL');
    }
  }
  if (existsSync(socketPath(ifname))) rmSync(socketPath(ifname), { force: true });
}

/** Guards against a recycled pid: only a process whose command line names the interface is ours. */
function isOurDaemon(pid: number, ifname: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(ifname);
  } catch {
    return false;
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

function waitGone(pid: number, ms: number): boolean {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    // A zombie (our own child never reaped in this process) counts as gone.
    try {
      if (/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return true;
    } catch {
      return true;
    }
    Atomics.wait(pause, 0, 0, 20);
  }
  return false;
}

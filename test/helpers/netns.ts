// Network namespaces as test hosts. Names carry the test process id so that suites running in
// parallel never collide, and cleanup() kills every process left in them and deletes them, whether
// the test passed or not (call it from `after`/`t.after`).
import { run } from './proc.js';

let seq = 0;

export class Netns {
  readonly name: string;
  constructor(label: string) {
    this.name = `fy${process.pid % 100000}${label}${seq++}`.slice(0, 15);
    run('ip', ['netns', 'add', this.name]);
    run('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
  }
  /** Arguments to run a command inside the namespace: spawn('ip', ns.wrap(['ping', ...])). */
  wrap(args: string[]): string[] {
    return ['netns', 'exec', this.name, ...args];
  }
  exec(args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): string {
    return run('ip', this.wrap(args), opts);
  }
  ip(args: string[]): string {
    return run('ip', ['-n', this.name, ...args]);
  }
  destroy(): void {
    const pids = run('ip', ['netns', 'pids', this.name], { allowFail: true })
      .split(/\s+/)
      .filter((p) => /^\d+$/.test(p));
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    run('ip', ['netns', 'del', this.name], { allowFail: true });
  }
}

/** Joins two namespaces with a veth pair and gives each end an address (CIDR notation). */
export function veth(
  a: Netns,
  aAddr: string | string[],
  b: Netns,
  bAddr: string | string[],
): { aIf: string; bIf: string } {
  const aIf = `v${seq}a`;
  const bIf = `v${seq++}b`;
  run('ip', ['link', 'add', aIf, 'netns', a.name, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  for (const addr of [aAddr].flat())
    a.ip(['addr', 'add', addr, 'dev', aIf, ...(addr.includes(':') ? ['nodad'] : [])]);
  for (const addr of [bAddr].flat())
    b.ip(['addr', 'add', addr, 'dev', bIf, ...(addr.includes(':') ? ['nodad'] : [])]);
  a.ip(['link', 'set', aIf, 'up']);
  b.ip(['link', 'set', bIf, 'up']);
  return { aIf, bIf };
}

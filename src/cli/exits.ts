// `ferry exits`: the exit pools of a running gateway — members, tags, health, open connections,
// counters — read from its admin socket (src/server/admin-socket.ts). `--probe` runs every pool's
// active health probes first. With several workers the primary answers for all of them
// (src/server/cluster-exits.ts).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { adminRequest, adminSocketPath, type ExitsReport } from '../server/admin-socket.js';
import { FerryError } from '../core/errors.js';
import type { MemberState } from '../outbound/pool/member.js';

/** up / DOWN since …; with several workers, a passive ejection in some of them says in how many. */
function state(m: MemberState): string {
  if (m.healthy) return 'up';
  const w = m.workers;
  const partial = w !== undefined && w.down > 0 && w.down < w.of ? ` (in ${w.down}/${w.of} workers)` : '';
  return `DOWN since ${m.downSince}${partial}`;
}

export function formatExits(r: ExitsReport): string {
  const out: string[] = [];
  for (const p of r.pools) {
    out.push(
      `pool ${p.name}  strategy=${p.strategy} rotation=${p.rotation} sticky-sessions=${p.stickySessions}`,
    );
    const head = ['MEMBER', 'KIND', 'TAGS', 'STATE', 'ACTIVE', 'OK', 'FAILED', 'PROBE', 'LAST ERROR'];
    const rows = p.members.map((m) => [
      m.name,
      m.kind,
      Object.entries(m.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
      state(m),
      String(m.active),
      String(m.ok),
      String(m.failed),
      m.probeMs === null ? '-' : `${m.probeMs}ms`,
      m.lastError ?? '-',
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
    for (const row of [head, ...rows])
      out.push('  ' + row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(w[i]!))).join('  '));
  }
  if (r.outbounds.length > 0) {
    out.push('outbounds');
    for (const o of r.outbounds)
      out.push(`  ${o.name.padEnd(16)} ${o.kind.padEnd(8)} ${o.server ?? ''}`.trimEnd());
  }
  return out.join('\n') + '\n';
}

export function registerExits(program: Command): void {
  program
    .command('exits')
    .description('show the exit pools of a running gateway: members, health, connections')
    .option('--data-dir <dir>', 'the gateway data directory (default: $FERRY_HOME or ./.ferry)')
    .option('--socket <path>', 'admin socket path (default: <data-dir>/admin.sock)')
    .option('--probe', 'run active health probes now')
    .option('--json', 'JSON output')
    .action(async (f: { dataDir?: string; socket?: string; probe?: boolean; json?: boolean }) => {
      const path = f.socket ?? adminSocketPath(resolve(f.dataDir ?? process.env.FERRY_HOME ?? '.ferry'));
      let r: ExitsReport;
      try {
        r = (await adminRequest(
          path,
          f.probe ? 'POST' : 'GET',
          f.probe ? '/v1/exits/probe' : '/v1/exits',
        )) as ExitsReport;
      } catch (e) {
        throw new FerryError(
          'E_CONFIG',
          `cannot reach the gateway at ${path}: ${(e as Error).message} (is \`ferry serve\` running with this data directory?)`,
        );
      }
      process.stdout.write(f.json ? JSON.stringify(r, null, 2) + '\n' : formatExits(r));
    });
}

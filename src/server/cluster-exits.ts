// Exit health with several workers (`ferry serve --workers N`).
//
// Each worker runs its own pools: sticky tables, counters and passive failure counting are state on
// the hot path, and must not cost IPC. Active probes, though, would be multiplied by N if every
// worker ran them — N× the load on every upstream and probe URL, and N verdicts that may disagree.
// So the primary runs the only prober: it builds the outbound table itself (no listeners, no
// traffic), probes, and after each probe sends the member's probe state to every worker, which
// adopts it (Member.adoptProbeState; worker pools are built with probes: external). A worker that
// (re)starts is sent the current state of every probed member at once.
//
// `ferry exits` asks the primary's admin socket; the primary asks every worker for its report and
// merges: counters (active, ok, failed, sticky sessions) add up; a member is up when the prober and
// every worker say so; `workers` says in how many workers it is ejected (passive ejections are per
// worker: each sees only its own traffic).
import { validateConfig } from '../config/load.js';
import type { Outbound } from '../outbound/outbound.js';
import type { MemberState, ProbeState } from '../outbound/pool/member.js';
import { PoolOutbound, type PoolState } from '../outbound/pool/pool.js';
import { exitsReport, type ExitsReport } from './admin-socket.js';
import { buildOutbounds } from './outbounds.js';

/** Primary → worker: the new probe state of one member. */
export interface ProbeStateMessage {
  type: 'probe-state';
  pool: string;
  member: string;
  state: ProbeState;
}

/** The primary's side: the one prober of the cluster. */
export class ClusterExits {
  private table: Map<string, Outbound>;

  constructor(
    config: unknown,
    private readonly broadcast: (m: ProbeStateMessage) => void,
  ) {
    this.table = this.build(config);
  }

  /** Rebuilds the probing pools from a new configuration (the old ones stop probing). */
  reload(config: unknown): void {
    const old = this.table;
    this.table = this.build(config);
    for (const o of old.values()) o.close?.();
  }

  /** The probe state of every probed member: what a worker that has just started must adopt. */
  snapshot(): ProbeStateMessage[] {
    const out: ProbeStateMessage[] = [];
    for (const p of this.probingPools())
      for (const m of p.members)
        out.push({ type: 'probe-state', pool: p.name, member: m.name, state: m.probeState() });
    return out;
  }

  /** One round of every pool's probes now; each result is broadcast as it comes. */
  async probeNow(): Promise<void> {
    await Promise.all(this.probingPools().map((p) => p.probeNow()));
  }

  /** The cluster's view: the prober's report merged with the workers' (see mergeExits). */
  merged(workers: readonly ExitsReport[]): ExitsReport {
    return mergeExits(exitsReport(this.table.values()), workers);
  }

  close(): void {
    for (const o of this.table.values()) o.close?.();
  }

  private probingPools(): PoolOutbound[] {
    const out: PoolOutbound[] = [];
    for (const o of this.table.values()) if (o instanceof PoolOutbound && o.probing) out.push(o);
    return out;
  }

  private build(config: unknown): Map<string, Outbound> {
    return buildOutbounds(validateConfig(config), {
      onProbeResult: (pool, member, state) => this.broadcast({ type: 'probe-state', pool, member, state }),
    });
  }
}

/**
 * Merges the prober's report (`probed`: health from active probes, probe latency) with the workers'
 * reports (traffic counters, passive health). Pools and members are matched by name; a pool a
 * worker does not have (mid-reload) adds nothing.
 */
export function mergeExits(probed: ExitsReport, workers: readonly ExitsReport[]): ExitsReport {
  const pools = probed.pools.map((p): PoolState => {
    const wp = workers.map((w) => w.pools.find((x) => x.name === p.name)).filter((x) => x !== undefined);
    return {
      ...p,
      stickySessions: wp.reduce((n, x) => n + x.stickySessions, 0),
      members: p.members.map((m) => mergeMember(m, wp)),
    };
  });
  return { pools, outbounds: probed.outbounds };
}

function mergeMember(m: MemberState, pools: readonly PoolState[]): MemberState {
  const ws = pools.map((p) => p.members.find((x) => x.name === m.name)).filter((x) => x !== undefined);
  const down = ws.filter((x) => !x.healthy);
  const healthy = m.healthy && down.length === 0;
  const since = [m.downSince, ...down.map((x) => x.downSince)].filter((x): x is string => x !== null).sort();
  return {
    ...m,
    healthy,
    consecutiveFails: Math.max(m.consecutiveFails, ...ws.map((x) => x.consecutiveFails)),
    active: ws.reduce((n, x) => n + x.active, 0),
    ok: ws.reduce((n, x) => n + x.ok, 0),
    failed: ws.reduce((n, x) => n + x.failed, 0),
    lastError: m.lastError ?? down.find((x) => x.lastError !== null)?.lastError ?? null,
    downSince: healthy ? null : (since[0] ?? null),
    workers: { down: down.length, of: ws.length },
  };
}

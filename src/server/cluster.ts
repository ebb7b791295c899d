// Several worker processes sharing the listeners (node:cluster), so the gateway uses every core.
// The primary builds and validates the configuration, creates generated material once, starts the
// workers, relays reload and stop to them and restarts a worker that dies. Workers run a Gateway
// each. Listening sockets are shared with SCHED_NONE: every worker accepts on the same socket and
// the kernel hands each connection to one of them, with no per-connection IPC through the primary.
//
// What is per worker: the brute-force throttle and the connection limits (max_connections and
// max_connections_per_user are divided by the worker count so the totals hold), and the pools'
// sticky tables and passive health. Active health probes run once, in the primary (cluster-exits.ts).
//
// What is shared through the primary: Shadowsocks replay protection. A replayed first flight may be
// accepted by any worker, so salts cannot be checked per worker; SIP022 §3.1.4 wants them stored
// exactly (no Bloom filter, no false positives) and a check that two workers cannot both pass. The
// primary holds the one exact filter per inbound (SaltRegistry) and answers each worker's claim in
// the order claims arrive, so the first claim of a salt wins and every later one, on any worker, is
// refused — no race window. A claim is one IPC message each way per new connection; the worker sends
// it when the request has authenticated and dials the destination meanwhile, forwarding nothing of
// the request (and answering nothing) until the claim holds, so it adds no latency. (Broadcasting
// salts from worker to worker without a single authority could not be exact: two workers could each
// accept a salt before hearing of the other's.) The worker's own filter still refuses replays to the
// same worker at once. UDP is not covered: 2022 UDP sessions keep their packet windows per worker.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../core/logger.js';
import { SaltRegistry, type SaltAuthority } from '../crypto/ss/replay.js';
import { PoolOutbound } from '../outbound/pool/pool.js';
import { exitsReport, type ExitsReport, type ExitsSource } from './admin-socket.js';
import { ClusterExits, type ProbeStateMessage } from './cluster-exits.js';
import { Gateway, type ListenerInfo } from './gateway.js';
import type { LiveSessions, SessionView } from '../control/api/live.js';
import { Metrics } from '../control/metrics.js';
import { openStore } from '../control/open-store.js';
import type { Store } from '../control/store/types.js';
import { privacyOf } from '../config/schema.js';
import { validateConfig } from '../config/load.js';
import { serveWorkerMetrics } from './cluster-metrics.js';
import { resolve as resolvePath } from 'node:path';

/** Live-session requests from the primary's admin API (see liveSessions). */
type LiveOp = { op: 'list' } | { op: 'kill'; session: string } | { op: 'killUser'; name: string };

type ToWorker =
  | { type: 'start'; config: unknown }
  | { type: 'reload'; config: unknown; id: number }
  | { type: 'stop'; drainMs: number }
  | ({ type: 'live'; id: number } & LiveOp)
  | ProbeStateMessage
  | { type: 'exits'; id: number }
  | { type: 'salt-ok'; id: number; fresh: boolean };
type FromWorker =
  | { type: 'hello' }
  | { type: 'ready'; listeners: ListenerInfo[] }
  | { type: 'failed'; error: string }
  | { type: 'reloaded'; id: number; error?: string }
  | { type: 'live'; id: number; result: SessionView[] | boolean | number }
  | { type: 'exits'; id: number; report: ExitsReport }
  | { type: 'salt'; id: number; scope: string; edition: 'aead' | '2022'; salt: string };

/** A claim the primary does not answer within this time is refused (fail closed). */
const CLAIM_TIMEOUT_MS = 5_000;

/** A worker that does not answer `ferry exits` within this is left out of the report. */
const EXITS_ANSWER_MS = 5_000;

export const WORKER_ENV = 'FERRY_CLUSTER_WORKER';

/** Divides the per-process limits so the sums over all workers keep the configured totals. */
export function perWorker(config: unknown, workers: number): unknown {
  const c = structuredClone(config) as { limits?: Record<string, number> };
  const l = c.limits ?? {};
  const div = (v: number): number => Math.max(1, Math.ceil(v / workers));
  c.limits = {
    ...l,
    max_connections: div(l.max_connections ?? 20_000),
    max_connections_per_user: div(l.max_connections_per_user ?? 2_000),
  };
  return c;
}

export class ClusterPrimary {
  private readonly workers = new Set<Worker>();
  private config: unknown;
  private stopping = false;
  private reloadSeq = 0;
  /** Every worker's Shadowsocks salts (see the header). */
  private readonly salts = new SaltRegistry();
  private exitsSeq = 0;
  /** Workers that are running a gateway (and so can take probe states and answer `ferry exits`). */
  private readonly ready = new Set<Worker>();
  private readonly exits: ClusterExits;

  constructor(
    private readonly count: number,
    config: unknown,
    private readonly log: Logger,
  ) {
    this.config = perWorker(config, count);
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    this.exits = new ClusterExits(config, (m) => {
      for (const w of this.ready) if (w.isConnected()) w.send(m satisfies ToWorker);
    });
  }

  /** `ferry exits` for the admin socket: the prober's view merged with every worker's. */
  exitsSource(): ExitsSource {
    return {
      report: () => this.exitsReport(),
      probe: async () => {
        await this.exits.probeNow();
        return this.exitsReport();
      },
    };
  }

  private async exitsReport(): Promise<ExitsReport> {
    const id = ++this.exitsSeq;
    const reports = await Promise.all(
      [...this.ready].map(
        (w) =>
          new Promise<ExitsReport | null>((resolve) => {
            const done = (r: ExitsReport | null): void => {
              clearTimeout(timer);
              w.off('message', onMsg);
              resolve(r);
            };
            const onMsg = (m: FromWorker): void => {
              if (m.type === 'exits' && m.id === id) done(m.report);
            };
            const timer = setTimeout(done, EXITS_ANSWER_MS, null);
            w.on('message', onMsg);
            if (w.isConnected()) w.send({ type: 'exits', id } satisfies ToWorker);
            else done(null);
          }),
      ),
    );
    return this.exits.merged(reports.filter((r) => r !== null));
  }

  /** Starts the workers; resolves with the first worker's listener table once all are ready. */
  async start(): Promise<ListenerInfo[]> {
    const ready = await Promise.all(Array.from({ length: this.count }, () => this.fork()));
    cluster.on('exit', (w, code, signal) => {
      this.workers.delete(w);
      this.ready.delete(w);
      if (this.stopping) return;
      this.log.error({ worker: w.process.pid, code, signal }, 'worker died; starting a new one');
      this.fork().catch((e: Error) => this.log.error({ err: e.message }, 'worker restart failed'));
    });
    return ready[0]!;
  }

  private fork(): Promise<ListenerInfo[]> {
    const w = cluster.fork({ [WORKER_ENV]: '1' });
    this.workers.add(w);
    w.on('message', (m: FromWorker) => {
      if (m.type !== 'salt') return;
      const fresh = this.salts.checkAndAdd(m.scope, m.edition, Buffer.from(m.salt, 'base64'));
      if (w.isConnected()) w.send({ type: 'salt-ok', id: m.id, fresh } satisfies ToWorker);
    });
    return new Promise((resolve, reject) => {
      const onMsg = (m: FromWorker): void => {
        // The worker says hello once it listens for messages: anything sent before that (say, on
        // 'online', which fires before an ES module has finished loading) would be lost.
        if (m.type === 'hello') w.send({ type: 'start', config: this.config } satisfies ToWorker);
        else if (m.type === 'ready') {
          w.off('message', onMsg);
          // What the prober has found so far; later results follow as they come.
          for (const s of this.exits.snapshot()) w.send(s satisfies ToWorker);
          this.ready.add(w);
          resolve(m.listeners);
        } else if (m.type === 'failed') {
          w.off('message', onMsg);
          reject(new Error(m.error));
        }
      };
      w.on('message', onMsg);
      w.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
    });
  }

  /** Sends a new configuration to every worker; rejects with the first worker's error. */
  async reload(config: unknown): Promise<void> {
    this.config = perWorker(config, this.count);
    const id = ++this.reloadSeq;
    const results = await Promise.all(
      [...this.workers].map(
        (w) =>
          new Promise<string | undefined>((resolve) => {
            const onMsg = (m: FromWorker): void => {
              if (m.type === 'reloaded' && m.id === id) {
                w.off('message', onMsg);
                resolve(m.error);
              }
            };
            w.on('message', onMsg);
            w.send({ type: 'reload', config: this.config, id } satisfies ToWorker);
          }),
      ),
    );
    const err = results.find((e) => e !== undefined);
    if (err) throw new Error(err);
    try {
      this.exits.reload(config);
    } catch (e) {
      // The workers run the new configuration; only the primary's prober is left on the old one.
      this.log.error({ err: (e as Error).message }, 'health prober kept the previous configuration');
    }
  }

  /** Sends one live-session request to every worker and collects the answers (1 s timeout each). */
  private askWorkers(op: LiveOp): Promise<(SessionView[] | boolean | number)[]> {
    const id = ++this.reloadSeq;
    return Promise.all(
      [...this.workers]
        .filter((w) => w.isConnected())
        .map(
          (w) =>
            new Promise<SessionView[] | boolean | number>((resolve) => {
              const done = (r: SessionView[] | boolean | number): void => {
                clearTimeout(t);
                w.off('message', onMsg);
                resolve(r);
              };
              // A worker that died or hangs answers "nothing" rather than blocking the API.
              const t = setTimeout(() => done(op.op === 'list' ? [] : op.op === 'kill' ? false : 0), 1000);
              const onMsg = (m: FromWorker): void => {
                if (m.type === 'live' && m.id === id) done(m.result);
              };
              w.on('message', onMsg);
              w.send({ type: 'live', id, ...op } satisfies ToWorker);
            }),
        ),
    );
  }

  /** The workers' open sessions for the admin API (ids carry the worker: "w2-17"). */
  liveSessions(): LiveSessions {
    return {
      list: async () => (await this.askWorkers({ op: 'list' })).flat() as SessionView[],
      kill: async (id) => (await this.askWorkers({ op: 'kill', session: id })).some((r) => r === true),
      killUser: async (name) =>
        (await this.askWorkers({ op: 'killUser', name })).reduce<number>(
          (a, r) => a + (typeof r === 'number' ? r : 0),
          0,
        ),
    };
  }

  /** Asks every worker to drain and exit; resolves when all have exited. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    this.exits.close();
    await Promise.all(
      [...this.workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            w.send({ type: 'stop', drainMs } satisfies ToWorker);
          }),
      ),
    );
  }
}

/** A worker's side of the salt claims: one message to the primary, resolved by its answer. */
class IpcSaltAuthority implements SaltAuthority {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (fresh: boolean) => void; timer: NodeJS.Timeout }>();

  claim(scope: string, edition: 'aead' | '2022', salt: Buffer): Promise<boolean> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer(id, false), CLAIM_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
      const m: FromWorker = { type: 'salt', id, scope, edition, salt: salt.toString('base64') };
      if (!process.connected) return this.answer(id, false);
      process.send!(m);
    });
  }

  answer(id: number, fresh: boolean): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(fresh);
  }
}

/**
 * The body of a worker process: waits for its configuration from the primary and runs a Gateway
 * with its own connection to the store (usage batches add up in the store, so counting stays exact
 * across workers) and its own metrics, which the primary sums at scrape time.
 */
export function runClusterWorker(makeLog: (config: unknown) => Logger): void {
  let gw: Gateway | null = null;
  let store: Store | null = null;
  const salts = new IpcSaltAuthority();
  process.on('message', (m: ToWorker) => {
    if (m.type === 'salt-ok') return salts.answer(m.id, m.fresh);
    void (async () => {
      switch (m.type) {
        case 'start':
          try {
            const cfg = validateConfig(m.config);
            const log = makeLog(m.config);
            store = await openStore({
              dataDir: resolvePath(cfg.data_dir ?? process.env.FERRY_HOME ?? '.ferry'),
              ...(cfg.store ? { store: cfg.store } : {}),
              log,
            });
            const metrics = new Metrics({ privacy: privacyOf(cfg).mode });
            serveWorkerMetrics(metrics);
            gw = await Gateway.start(m.config, {
              log,
              store,
              metrics,
              sessionIdPrefix: `w${cluster.worker?.id ?? process.pid}-`,
              clusterWorker: true,
              saltAuthority: salts,
            });
            process.send!({ type: 'ready', listeners: gw.listenerInfo() } satisfies FromWorker);
          } catch (e) {
            process.send!({ type: 'failed', error: (e as Error).message } satisfies FromWorker);
            process.exit(2);
          }
          break;
        case 'reload':
          try {
            await gw!.reload(m.config);
            process.send!({ type: 'reloaded', id: m.id } satisfies FromWorker);
          } catch (e) {
            process.send!({ type: 'reloaded', id: m.id, error: (e as Error).message } satisfies FromWorker);
          }
          break;
        case 'stop':
          await gw?.close(m.drainMs);
          await store?.close();
          process.exit(0);
          break;
        case 'live': {
          const live = gw?.liveSessions();
          const result =
            m.op === 'list'
              ? ((await live?.list()) ?? [])
              : m.op === 'kill'
                ? ((await live?.kill(m.session)) ?? false)
                : ((await live?.killUser(m.name)) ?? 0);
          process.send!({ type: 'live', id: m.id, result } satisfies FromWorker);
          break;
        }
        case 'probe-state': {
          const pool = gw?.outboundTable().get(m.pool);
          if (pool instanceof PoolOutbound) pool.adoptProbeState(m.member, m.state);
          break;
        }
        case 'exits':
          process.send!({
            type: 'exits',
            id: m.id,
            report: exitsReport(gw?.outboundTable().values() ?? []),
          } satisfies FromWorker);
          break;
      }
    })();
  });
  // Signals go to the primary, which coordinates; a worker ignores them (the terminal sends SIGINT to
  // the whole process group).
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.send!({ type: 'hello' } satisfies FromWorker);
  // The primary is gone (killed hard): nobody can stop us any more, so stop now.
  process.on('disconnect', () => {
    void (gw?.close(0) ?? Promise.resolve()).then(() => store?.close()).then(() => process.exit(1));
  });
}

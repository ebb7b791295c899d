// The forwarding resolver: answer from the cache, else join an identical question already in flight,
// else ask the upstreams in order until one answers. An upstream that failed is tried after the healthy
// ones for a while, so a dead first upstream does not cost every query a timeout.
import { randomFillSync } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { DnsCache } from './cache.js';
import type { DnsStats } from './stats.js';
import type { Upstream } from './upstream/types.js';
import {
  RCODE_FORMERR,
  RCODE_NOTIMP,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  buildUpstreamQuery,
  scanResponse,
  type ParsedQuery,
} from './wire.js';

/** How long an upstream that failed goes to the back of the line. */
const PENALTY_MS = 30_000;

export interface ResolverOptions {
  upstreams: Upstream[];
  cache: DnsCache | null;
  /** Time allowed for one upstream attempt. */
  timeoutMs: number;
  stats: DnsStats;
  now: () => number;
  logger?: Logger;
}

export class Resolver {
  private readonly inFlight = new Map<string, Promise<Uint8Array | null>>();
  private readonly penalisedUntil: number[];
  private readonly ids = new Uint16Array(256);
  private idPos = this.ids.length;

  constructor(private readonly opts: ResolverOptions) {
    this.penalisedUntil = opts.upstreams.map(() => 0);
  }

  /** The cached response for the query, TTLs counted down, or null. */
  cached(q: ParsedQuery): Uint8Array | null {
    const hit = this.opts.cache?.lookup(q.key, 0, this.opts.now()) ?? null;
    if (hit) this.opts.stats.cacheHits++;
    return hit;
  }

  /** The upstream response for the query (ID and question spelling still to be adapted to the client),
   * or null when no upstream answered. Does not look in the cache (call cached() first) but fills it.
   * Coalesced callers share the returned bytes: adapt a copy. */
  resolve(q: ParsedQuery): Promise<Uint8Array | null> {
    const { stats } = this.opts;
    const pending = this.inFlight.get(q.key);
    if (pending) {
      stats.coalesced++;
      return pending;
    }
    const p = this.forward(q).finally(() => this.inFlight.delete(q.key));
    this.inFlight.set(q.key, p);
    return p;
  }

  private async forward(q: ParsedQuery): Promise<Uint8Array | null> {
    const { upstreams, stats, cache } = this.opts;
    let fallback: Uint8Array | null = null;
    for (const i of this.order()) {
      const upstream = upstreams[i]!;
      stats.upstreamQueries++;
      try {
        const response = await upstream.query(buildUpstreamQuery(q, this.nextId()), this.opts.timeoutMs);
        const scanned = scanResponse(response);
        const { rcode } = scanned;
        if (
          rcode === RCODE_SERVFAIL ||
          rcode === RCODE_REFUSED ||
          rcode === RCODE_NOTIMP ||
          rcode === RCODE_FORMERR
        ) {
          // This upstream cannot answer; another may. Its answer is kept in case none can.
          stats.upstreamFailures++;
          fallback = response;
          continue;
        }
        this.penalisedUntil[i] = 0;
        cache?.store(q.key, response, this.opts.now(), scanned);
        return response;
      } catch (e) {
        stats.upstreamFailures++;
        const now = this.opts.now();
        if (this.penalisedUntil[i]! <= now) {
          // Logged once per penalty period, with the upstream's URL and the error only: never a name.
          this.opts.logger?.warn(
            { upstream: upstream.name, err: (e as Error).message },
            'DNS upstream failed',
          );
        }
        this.penalisedUntil[i] = now + PENALTY_MS;
      }
    }
    return fallback;
  }

  /** Upstream indexes: those not penalised in configured order, then the penalised ones. */
  private order(): number[] {
    const now = this.opts.now();
    const healthy: number[] = [];
    const penalised: number[] = [];
    for (let i = 0; i < this.penalisedUntil.length; i++)
      (this.penalisedUntil[i]! > now ? penalised : healthy).push(i);
    return healthy.concat(penalised);
  }

  /** Query IDs from the CSPRNG (RFC 5452 §4.3), drawn 256 at a time. */
  private nextId(): number {
    if (this.idPos === this.ids.length) {
      randomFillSync(this.ids);
      this.idPos = 0;
    }
    return this.ids[this.idPos++]!;
  }

  close(): void {
    for (const u of this.opts.upstreams) u.close();
  }
}

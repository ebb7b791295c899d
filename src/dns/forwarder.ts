// The DNS forwarder Ferry serves on its tunnel addresses: UDP and TCP listeners on every listen
// address, in front of a cache and the configured upstreams, answering only clients inside the
// allowed networks.
import type { Logger } from '../core/logger.js';
import { CidrSet } from '../net/cidr.js';
import { bindWithRetry } from './bind-retry.js';
import { DnsCache, type CacheOptions } from './cache.js';
import { QueryHandler } from './query-handler.js';
import { Resolver } from './resolver.js';
import { newDnsStats, type DnsStats } from './stats.js';
import { TcpListener, type TcpListenerOptions } from './tcp-listener.js';
import { UdpListener } from './udp-listener.js';
import { createUpstream } from './upstream/index.js';
import type { Upstream } from './upstream/types.js';

export interface DnsListenAddress {
  host: string;
  /** 53 in service; 0 picks a free port (the same one for UDP and TCP). */
  port: number;
}

export interface DnsForwarderOptions {
  /** Where to answer: normally the tunnel addresses (the first host address of each tunnel subnet). */
  listen: DnsListenAddress[];
  /** Upstream resolvers as URLs, tried in this order: udp://, tcp://, tls:// (DoT), https:// (DoH). */
  upstreams: string[];
  /** Client source networks that get answers (the tunnel subnets). Everyone else gets REFUSED; an
   * empty list answers no one. */
  allowFrom: string[];
  /** PEM file of CA certificates trusted for tls:// and https:// upstreams instead of the system's. */
  caFile?: string;
  /** Time allowed for one upstream attempt before the next upstream is tried. Default 2000 ms. */
  upstreamTimeoutMs?: number;
  /** Cache limits, or false for no cache. */
  cache?: CacheOptions | false;
  /** Log every query's name, client and outcome at info level. Default false; must stay false when
   * the service runs with `logging: none`. */
  logQueries?: boolean;
  /** The service's `logging:` mode. With 'none', logQueries must be false: starting fails otherwise, so
   * a configuration mistake cannot quietly log names in no-logs mode. */
  loggingMode?: 'none' | 'minimal' | 'audit';
  logger?: Logger;
  /** Close an idle client TCP connection after this long. Default 10 s (RFC 7766 §6.2.3). */
  tcpIdleMs?: number;
  /** Concurrent client TCP connections per listen address. Default 256. */
  maxTcpConnections?: number;
  /** Keep retrying a bind that fails with EADDRNOTAVAIL (the tunnel address not configured yet) for
   * this long. Default 0: fail at once. */
  bindTimeoutMs?: number;
  /** Clock for the cache and upstream health, milliseconds. Default Date.now. */
  now?: () => number;
  /** Upstreams built by the caller (tests); when given, `upstreams` is ignored. */
  upstreamInstances?: Upstream[];
}

export interface DnsForwarder {
  /** The bound addresses, with the actual port when 0 was asked for. */
  addresses(): DnsListenAddress[];
  close(): Promise<void>;
  /** Live counters (totals only; no names or addresses). */
  readonly stats: DnsStats;
}

const DEFAULT_TIMEOUT_MS = 2000;
/** Tries at finding a port free for both UDP and TCP when port 0 is asked for. */
const PORT_PICK_TRIES = 10;

export async function startDnsForwarder(opts: DnsForwarderOptions): Promise<DnsForwarder> {
  if (opts.listen.length === 0) throw new Error('DNS forwarder: no listen address');
  if (opts.logQueries && opts.loggingMode === 'none') {
    throw new Error('DNS forwarder: query logging cannot be on with logging: none');
  }
  const upstreams =
    opts.upstreamInstances ?? opts.upstreams.map((u) => createUpstream(u, { caFile: opts.caFile }));
  if (upstreams.length === 0) throw new Error('DNS forwarder: no upstream resolver');
  const stats = newDnsStats();
  const now = opts.now ?? Date.now;
  const resolver = new Resolver({
    upstreams,
    cache: opts.cache === false ? null : new DnsCache(opts.cache ?? {}),
    timeoutMs: opts.upstreamTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    stats,
    now,
    logger: opts.logger,
  });
  const handler = new QueryHandler({
    resolver,
    allowFrom: new CidrSet(opts.allowFrom),
    stats,
    logQueries: opts.logQueries ?? false,
    logger: opts.logger,
  });
  const tcpOpts = {
    idleMs: opts.tcpIdleMs ?? 10_000,
    maxConnections: opts.maxTcpConnections ?? 256,
    maxInFlight: 64,
  };
  const bound: { host: string; udp: UdpListener; tcp: TcpListener }[] = [];
  const closeAll = (): void => {
    for (const b of bound) {
      b.udp.close();
      b.tcp.close();
    }
    resolver.close();
  };
  try {
    for (const { host, port } of opts.listen) {
      bound.push(await bindWithRetry(() => bindPair(host, port, handler, tcpOpts), opts.bindTimeoutMs ?? 0));
    }
  } catch (e) {
    closeAll();
    throw new Error(`DNS forwarder: cannot listen: ${(e as Error).message}`);
  }
  return {
    stats,
    addresses: () => bound.map((b) => ({ host: b.host, port: b.udp.port })),
    close: async () => closeAll(),
  };
}

async function bindPair(
  host: string,
  port: number,
  handler: QueryHandler,
  tcpOpts: TcpListenerOptions,
): Promise<{ host: string; udp: UdpListener; tcp: TcpListener }> {
  for (let attempt = 1; ; attempt++) {
    const udp = await UdpListener.bind(host, port, handler);
    try {
      const tcp = await TcpListener.bind(host, udp.port, handler, tcpOpts);
      return { host, udp, tcp };
    } catch (e) {
      udp.close();
      // With port 0 the UDP port picked may be taken for TCP: pick again.
      if (port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= PORT_PICK_TRIES)
        throw e;
    }
  }
}

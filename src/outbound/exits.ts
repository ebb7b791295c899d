// Builds the exit outbounds of a configuration — upstream proxies and pools — which refer to other
// outbounds by name (`via`, pool members). They are built depth-first so that every reference
// exists before its user; a reference cycle (a → b → a) is a configuration error that names the
// whole loop.
import { readFileSync } from 'node:fs';
import type { OutboundConfig } from '../config/schema.js';
import { parseListen } from '../config/listen-address.js';
import { FerryError } from '../core/errors.js';
import type { Outbound } from './outbound.js';
import { parseProbe } from './pool/health.js';
import { PoolOutbound, type PoolConfig } from './pool/pool.js';
import { SourceAddressOutbound } from './source-address.js';
import { UpstreamOutbound } from './upstream/upstream.js';

type Cfg = OutboundConfig;
type UpstreamCfg = Extract<Cfg, { type: 'http' | 'https' | 'socks4a' | 'socks5' }>;
type PoolCfg = Extract<Cfg, { type: 'pool' }>;
type DirectCfg = Extract<Cfg, { type: 'direct' }>;

export function isExitConfig(o: Cfg): o is UpstreamCfg | PoolCfg {
  return (
    o.type === 'http' ||
    o.type === 'https' ||
    o.type === 'socks4a' ||
    o.type === 'socks5' ||
    o.type === 'pool'
  );
}

/** A direct outbound that rotates source addresses, or null for a plain direct one. */
export function buildSourceAddress(o: DirectCfg): Outbound | null {
  if (o.source_addresses === undefined && o.ipv6_prefix === undefined) return null;
  if (o.bind !== undefined || o.interface !== undefined)
    throw new FerryError(
      'E_CONFIG',
      `outbound ${o.name}: use either bind/interface or source_addresses/ipv6_prefix`,
    );
  return new SourceAddressOutbound({
    name: o.name,
    addresses: o.source_addresses,
    ipv6Prefix: o.ipv6_prefix,
    setup: o.ipv6_prefix_setup,
    rotation: o.rotation,
  });
}

/**
 * Adds the upstream and pool outbounds of `all` to `built` (which holds the others already).
 * Throws E_CONFIG on an unknown reference, a cycle, or a pool inside a pool.
 */
export interface ExitBuildOptions {
  /**
   * For a cluster worker: pools leave their active probes to the primary (PoolConfig.probes) and
   * make choices the other workers agree with (PoolConfig.coordinated).
   */
  clusterWorker?: boolean | undefined;
  /** Told after each probe (see PoolConfig.onProbeResult). */
  onProbeResult?: PoolConfig['onProbeResult'];
}

export function buildExits(
  all: readonly Cfg[],
  built: Map<string, Outbound>,
  opts: ExitBuildOptions = {},
): void {
  const cfgs = new Map<string, UpstreamCfg | PoolCfg>();
  for (const o of all) if (isExitConfig(o)) cfgs.set(o.name, o);
  const visiting: string[] = [];

  const get = (ref: string, from: string): Outbound => {
    const have = built.get(ref);
    if (have !== undefined) return have;
    const c = cfgs.get(ref);
    if (c === undefined)
      throw new FerryError('E_CONFIG', `outbound ${from}: refers to unknown outbound '${ref}'`);
    return build(c);
  };

  const build = (c: UpstreamCfg | PoolCfg): Outbound => {
    const at = visiting.indexOf(c.name);
    if (at >= 0)
      throw new FerryError(
        'E_CONFIG',
        `outbounds refer to each other in a loop: ${[...visiting.slice(at), c.name].join(' → ')}`,
      );
    visiting.push(c.name);
    try {
      const o = c.type === 'pool' ? buildPool(c, get, opts) : buildUpstream(c, get);
      built.set(c.name, o);
      return o;
    } finally {
      visiting.pop();
    }
  };

  for (const c of cfgs.values()) if (!built.has(c.name)) build(c);
}

function buildUpstream(c: UpstreamCfg, get: (ref: string, from: string) => Outbound): UpstreamOutbound {
  const { host, port } = parseListen(c.server);
  let ca: string | undefined;
  if (c.tls?.ca !== undefined) {
    try {
      ca = readFileSync(c.tls.ca, 'utf8');
    } catch (e) {
      throw new FerryError(
        'E_CONFIG',
        `outbound ${c.name}: cannot read tls.ca ${c.tls.ca}: ${(e as Error).message}`,
      );
    }
  }
  if (c.tls !== undefined && c.type !== 'https')
    throw new FerryError('E_CONFIG', `outbound ${c.name}: tls settings need type https`);
  return new UpstreamOutbound({
    name: c.name,
    protocol: c.type,
    host,
    port,
    username: c.username,
    password: c.password,
    via: c.via !== undefined ? get(c.via, c.name) : undefined,
    tls: c.tls ? { serverName: c.tls.server_name, ca, insecure: c.tls.insecure } : undefined,
    dns: c.dns,
    forwardHttp: c.forward_http,
  });
}

function buildPool(
  c: PoolCfg,
  get: (ref: string, from: string) => Outbound,
  opts: ExitBuildOptions,
): PoolOutbound {
  const members = c.members.map((m) => {
    const o = get(m.outbound, c.name);
    // A member's selectExit/exit pin would collide with the pool's own (one Session.exit field).
    if (o instanceof PoolOutbound)
      throw new FerryError(
        'E_CONFIG',
        `pool ${c.name}: member '${m.outbound}' is a pool; list its members instead`,
      );
    return { outbound: o, tags: m.tags, weight: m.weight };
  });
  let probe;
  try {
    probe = c.health.probe !== undefined ? parseProbe(c.health.probe) : undefined;
  } catch (e) {
    throw new FerryError('E_CONFIG', `pool ${c.name}: health.probe: ${(e as Error).message}`);
  }
  return new PoolOutbound({
    name: c.name,
    members,
    strategy: c.strategy,
    rotation: c.rotation,
    rotationIntervalMs: c.rotation_interval,
    stickyTtlMs: c.sticky.ttl,
    sesstimeUnitMs: c.sticky.sesstime_unit,
    stickyMaxTtlMs: c.sticky.max_ttl,
    maxAttempts: c.max_attempts,
    attemptTimeoutMs: c.attempt_timeout,
    health: {
      maxFails: c.health.max_fails,
      ejectMs: c.health.eject,
      probe,
      probeIntervalMs: c.health.interval,
      probeTimeoutMs: c.health.timeout,
    },
    probes: opts.clusterWorker ? 'external' : 'own',
    coordinated: opts.clusterWorker === true,
    onProbeResult: opts.onProbeResult,
  });
}

// DNS on the tunnel: the forwarder of src/dns/ on the server's tunnel addresses (UDP and TCP port
// 53), answering only the address pool and forwarding to `vpn.dns_forwarder.upstreams`. Client
// configs made with `dns: [tunnel]` point at exactly these addresses.
import type { Logger } from '../core/logger.js';
import { startDnsForwarder, type DnsForwarder } from '../dns/index.js';
import type { VpnConfig } from './config.js';
import type { AddressPool } from './pool.js';

/** RFC 1035 §4.2: DNS over UDP and TCP on port 53. */
const DNS_PORT = 53;

export async function startTunnelDns(opts: {
  config: VpnConfig;
  pool: AddressPool;
  log: Logger;
  loggingMode?: 'none' | 'minimal' | 'audit';
}): Promise<DnsForwarder | null> {
  const f = opts.config.dns_forwarder;
  if (!f) return null;
  const server = opts.pool.serverAddresses();
  const listen = [server.v4, server.v6]
    .filter((a): a is string => a !== null)
    .map((host) => ({ host, port: DNS_PORT }));
  const allowFrom = [opts.pool.prefixV4, opts.pool.prefixV6].filter((p): p is string => p !== null);
  return startDnsForwarder({
    listen,
    upstreams: f.upstreams,
    allowFrom,
    ...(f.ca_file ? { caFile: f.ca_file } : {}),
    cache: f.cache ? {} : false,
    // Never: query names are the most revealing record a VPN could keep (docs/vpn.md, privacy).
    logQueries: false,
    ...(opts.loggingMode ? { loggingMode: opts.loggingMode } : {}),
    logger: opts.log,
    // The addresses were just configured; a slow kernel may take a moment to make them bindable.
    bindTimeoutMs: 5000,
  });
}

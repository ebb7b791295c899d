// The DNS module's public surface: the tunnel forwarder, the leak-test responder, and upstream URL
// parsing (for validating configuration before anything starts).
export {
  startDnsForwarder,
  type DnsForwarder,
  type DnsForwarderOptions,
  type DnsListenAddress,
} from './forwarder.js';
export type { CacheOptions } from './cache.js';
export type { DnsStats } from './stats.js';
export { parseUpstreamUrl, type UpstreamSpec } from './upstream/url.js';
export {
  ASKER,
  startWhoamiDns,
  uniqueName,
  type WhoamiDns,
  type WhoamiOptions,
  type WhoamiQuery,
} from './whoami.js';

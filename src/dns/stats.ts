// Counters of the forwarder's work: totals only, no names or addresses, so they are safe to export in
// every logging mode.

export interface DnsStats {
  /** Well-formed queries from allowed clients. */
  queries: number;
  cacheHits: number;
  /** Queries that joined an identical question already on its way upstream. */
  coalesced: number;
  /** Queries sent to an upstream (each attempt counts). */
  upstreamQueries: number;
  /** Upstream attempts that timed out, failed or were answered with an error code. */
  upstreamFailures: number;
  /** Queries answered SERVFAIL because no upstream gave an answer. */
  servfail: number;
  /** Queries refused: client outside the allowed networks, or a zone transfer. */
  refused: number;
  /** Malformed or unsupported messages (answered FORMERR/NOTIMP/BADVERS, or dropped). */
  malformed: number;
  /** UDP answers cut to a TC answer because they were larger than the client can receive. */
  truncated: number;
}

export function newDnsStats(): DnsStats {
  return {
    queries: 0,
    cacheHits: 0,
    coalesced: 0,
    upstreamQueries: 0,
    upstreamFailures: 0,
    servfail: 0,
    refused: 0,
    malformed: 0,
    truncated: 0,
  };
}

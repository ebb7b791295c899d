// One constructor for every upstream kind.
import { readFileSync } from 'node:fs';
import { DohUpstream } from './doh.js';
import { StreamUpstream } from './stream.js';
import type { Upstream } from './types.js';
import { UdpUpstream } from './udp.js';
import { parseUpstreamUrl } from './url.js';

export type { Upstream } from './types.js';
export { parseUpstreamUrl, type UpstreamSpec } from './url.js';

export interface UpstreamTlsOptions {
  /** A PEM file of CA certificates trusted for tls:// and https:// upstreams instead of the system's. */
  caFile?: string;
}

export function createUpstream(url: string, opts: UpstreamTlsOptions = {}): Upstream {
  const spec = parseUpstreamUrl(url);
  const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
  switch (spec.kind) {
    case 'udp':
      return new UdpUpstream(spec);
    case 'tcp':
      return new StreamUpstream(spec, null);
    case 'tls':
      return new StreamUpstream(spec, { ca });
    case 'https':
      return new DohUpstream(spec, { ca });
  }
}

// Upstream resolvers are written as URLs, one scheme per transport:
//   udp://9.9.9.9        plain DNS over UDP, falling back to TCP on a truncated answer (port 53)
//   tcp://9.9.9.9        plain DNS over TCP (port 53)
//   tls://dns.quad9.net  DNS over TLS, RFC 7858 (port 853)
//   tls://9.9.9.9#dns.quad9.net   DoT to an address, verifying the certificate for the name after '#'
//   https://dns.quad9.net/dns-query   DNS over HTTPS, RFC 8484
// An IPv6 address is written in brackets: udp://[2620:fe::fe]:53.
import { isIP } from 'node:net';

export type UpstreamKind = 'udp' | 'tcp' | 'tls' | 'https';

export interface UpstreamSpec {
  kind: UpstreamKind;
  /** Host name or IP address to connect to (IPv6 without brackets). */
  host: string;
  port: number;
  /** TLS/HTTPS: the name the certificate must carry (RFC 8310 §8 "authentication domain name"). */
  serverName?: string;
  /** HTTPS: the URI template's path (RFC 8484 §3), with any query string. */
  path?: string;
  /** The URL as configured, for error messages and stats. */
  text: string;
}

const DEFAULT_PORT: Record<UpstreamKind, number> = {
  udp: 53, // RFC 1035 §4.2
  tcp: 53,
  tls: 853, // RFC 7858 §3.1
  https: 443,
};

export function parseUpstreamUrl(text: string): UpstreamSpec {
  let url: URL;
  try {
    // RFC 8484 §4.1 URI templates such as {?dns} are for GET; Ferry POSTs, so the variable part goes.
    url = new URL(text.replace(/\{[^}]*\}/g, ''));
  } catch {
    throw new Error(
      `DNS upstream '${text}' is not a URL (write udp://1.2.3.4, tls://host, https://host/dns-query)`,
    );
  }
  const kind = url.protocol.slice(0, -1) as UpstreamKind;
  if (!(kind in DEFAULT_PORT)) {
    throw new Error(`DNS upstream '${text}': unknown scheme '${url.protocol}' (use udp, tcp, tls or https)`);
  }
  if (url.username || url.password) throw new Error(`DNS upstream '${text}' must not carry credentials`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!host) throw new Error(`DNS upstream '${text}' has no host`);
  const port = url.port ? Number(url.port) : DEFAULT_PORT[kind];
  const spec: UpstreamSpec = { kind, host, port, text };
  if (kind === 'udp' || kind === 'tcp') {
    if (isIP(host) === 0) {
      // Resolving the resolver's own name would need a resolver: plain upstreams are addresses.
      throw new Error(`DNS upstream '${text}': plain DNS upstreams are IP addresses`);
    }
    if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
      throw new Error(`DNS upstream '${text}' takes no path`);
    }
    return spec;
  }
  const fragment = url.hash ? decodeURIComponent(url.hash.slice(1)) : '';
  spec.serverName = fragment || host;
  if (isIP(spec.serverName) === 0 && !/^[a-z0-9.-]+$/i.test(spec.serverName)) {
    throw new Error(`DNS upstream '${text}': '${spec.serverName}' is not a host name`);
  }
  if (kind === 'tls') {
    if ((url.pathname && url.pathname !== '/') || url.search)
      throw new Error(`DNS upstream '${text}' takes no path`);
    return spec;
  }
  spec.path = (url.pathname || '/dns-query') + url.search;
  return spec;
}

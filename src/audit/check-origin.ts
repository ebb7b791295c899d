// The check origin: a small HTTP (and HTTPS) server that audit tools fetch through a proxy or an
// exit to see what the far side sees. It answers:
//
//   GET /ip        the client address it sees (text)               — which exit is this?
//   GET /headers   the request as received (JSON: client, method, target, raw header list)
//                                                                   — did the proxy add or alter headers?
//   GET /known     a fixed HTML body whose SHA-256 is KNOWN_SHA256  — did the proxy modify bodies?
//   GET /tls       the TLS endpoint's certificate fingerprint      — fetched directly, compared with
//                                                                     what a client sees through the proxy
//   GET /dns/LABEL the resolver addresses that asked its DNS server for LABEL.<zone> (JSON), when
//                  it serves one (src/dns/whoami.ts)                — who resolves the proxy's names?
//
// Everything else it answers is derived from the request alone. The DNS server remembers a bounded
// number of recent queries in its zone (name, type, asker, time) in memory; nothing is logged.
//
// DNS deployment: delegate the zone to the check origin's host (an NS record), or, in a lab, make
// the proxy's resolver this server. Each audit asks a fresh random label, so no cache anywhere can
// answer for it and every resolution reaches this server.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { generateSelfSigned } from '../tls/self-signed.js';
import { startWhoamiDns, type WhoamiDns } from '../dns/whoami.js';
import { unmapIpv4 } from '../net/mapped-ipv4.js';

/** The /known body: an HTML page (rewriting proxies target HTML) with deterministic filler. */
export const KNOWN_BODY: Buffer = (() => {
  const lines: string[] = ['<!doctype html>', '<html><head><title>ferry check</title></head><body>'];
  let x = 0x2545f491;
  for (let i = 0; i < 512; i++) {
    // xorshift32: fixed pseudo-random text so a compressing or rewriting proxy has work to do.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    lines.push(`<p>${i} ${(x >>> 0).toString(36)} ${((x >>> 0) * 7).toString(16)}</p>`);
  }
  lines.push('</body></html>', '');
  return Buffer.from(lines.join('\n'), 'utf8');
})();

export const KNOWN_SHA256 = createHash('sha256').update(KNOWN_BODY).digest('hex');

export interface CheckOriginOptions {
  host: string;
  port: number;
  /** Also serve over TLS on this port (self-signed unless cert/key given). */
  tlsPort?: number | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  /** Test hook: a different /known body for these client addresses (simulates a site that blocks an exit). */
  variants?: ReadonlyMap<string, Buffer> | undefined;
  /** Also serve DNS for a zone (on `host`, UDP and TCP), for the DNS-leak check. */
  dns?: CheckOriginDnsOptions | undefined;
}

export interface CheckOriginDnsOptions {
  port: number;
  /** The zone served, e.g. "audit.example.net". */
  zone: string;
  /** Address A queries in the zone get (the check origin's IPv4 address); none (NODATA) if absent. */
  ipv4?: string | undefined;
  /** Address AAAA queries in the zone get; none (NODATA) if absent. */
  ipv6?: string | undefined;
}

export interface CheckOrigin {
  readonly port: number;
  readonly tlsPort: number | null;
  readonly fingerprint256: string | null;
  /** Port of the DNS server (UDP and TCP), or null. */
  readonly dnsPort: number | null;
  close(): Promise<void>;
}

export async function startCheckOrigin(opts: CheckOriginOptions): Promise<CheckOrigin> {
  let fingerprint256: string | null = null;
  const d = opts.dns;
  const dns =
    d !== undefined
      ? await startWhoamiDns({
          host: opts.host,
          port: d.port,
          zone: d.zone,
          ipv4: d.ipv4 ?? null,
          ipv6: d.ipv6 ?? null,
        })
      : null;
  const handler = (req: IncomingMessage, res: ServerResponse): void =>
    answer(req, res, fingerprint256, opts.variants, dns);
  const http = createServer(handler);
  http.keepAliveTimeout = 5000;
  const port = await listen(http, opts.host, opts.port);
  let https: Server | null = null;
  let tlsPort: number | null = null;
  if (opts.tlsPort !== undefined) {
    let cert = opts.cert;
    let key = opts.key;
    if (cert === undefined || key === undefined) {
      const s = generateSelfSigned({ commonName: 'ferry check origin', hosts: ['localhost', opts.host] });
      cert = s.certPem;
      key = s.keyPem;
      fingerprint256 = s.fingerprint256;
    } else {
      const { X509Certificate } = await import('node:crypto');
      fingerprint256 = new X509Certificate(cert).fingerprint256;
    }
    https = createHttpsServer({ cert, key }, handler) as unknown as Server;
    tlsPort = await listen(https, opts.host, opts.tlsPort);
  }
  return {
    port,
    tlsPort,
    fingerprint256,
    dnsPort: dns?.port ?? null,
    async close() {
      await dns?.close();
      http.closeAllConnections();
      (https as unknown as { closeAllConnections?: () => void } | null)?.closeAllConnections?.();
      await Promise.all([close(http), https ? close(https) : Promise.resolve()]);
    },
  };
}

function answer(
  req: IncomingMessage,
  res: ServerResponse,
  fingerprint256: string | null,
  variants: ReadonlyMap<string, Buffer> | undefined,
  dns: WhoamiDns | null,
): void {
  const client = normalize(req.socket.remoteAddress ?? '');
  const path = (req.url ?? '/').replace(/^[a-z]+:\/\/[^/]*/i, '').split('?')[0];
  const send = (status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
  };
  switch (path) {
    case '/ip':
      return send(200, 'text/plain', client + '\n');
    case '/headers':
      return send(
        200,
        'application/json',
        JSON.stringify({
          client: { address: client, port: req.socket.remotePort },
          method: req.method,
          target: req.url,
          headers: pairs(req.rawHeaders),
        }),
      );
    case '/known':
      return send(200, 'text/html; charset=utf-8', variants?.get(client) ?? KNOWN_BODY);
    case '/tls':
      return send(200, 'application/json', JSON.stringify({ fingerprint256 }));
    default:
      if (dns !== null && path?.startsWith('/dns/')) {
        const label = path.slice(5).toLowerCase();
        // One label (RFC 1035 §2.3.1), as audits generate them: nothing else was asked for.
        const resolvers = LABEL.test(label) ? dns.whoAsked(`${label}.${dns.zone}`) : [];
        return send(200, 'application/json', JSON.stringify({ zone: dns.zone, label, resolvers }));
      }
      return send(404, 'text/plain', 'endpoints: /ip /headers /known /tls /dns/LABEL\n');
  }
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** ::ffff:10.0.0.1 → 10.0.0.1 (a dual-stack listener reports IPv4 clients mapped). */
export const normalize = unmapIpv4;

/** One DNS label of letters, digits and hyphens (RFC 1035 §2.3.1). */
const LABEL = /^[a-z0-9-]{1,63}$/;

function listen(s: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.removeListener('error', reject);
      const a = s.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

// `ferry audit-proxy <proxy-url>`: what does a third-party proxy do to traffic a user is about to
// trust it with? Against a check origin (`ferry check-origin`, src/audit/check-origin.ts) it finds:
//
//   anonymity   transparent — a header carries our address (X-Forwarded-For, Forwarded, ...)
//               anonymous   — headers reveal a proxy (Via, X-Forwarded-For without our address, ...)
//               elite       — the origin cannot tell a proxy was used from the headers
//   headers     added, removed and changed request headers
//   bodies      the /known page arrives with a different SHA-256: the proxy modifies content
//   TLS         the certificate seen through a CONNECT tunnel differs from the origin's: interception
//
// HTTP proxies are asked in absolute-form (how browsers use them; where headers get added), SOCKS
// proxies through a tunnel. DNS leaks concern the client's resolver, not the proxy; see the leak test.
import { networkInterfaces } from 'node:os';
import type { Socket } from 'node:net';
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { makeDestination, newSessionId, type Destination, type Session } from '../core/session.js';
import { KNOWN_SHA256, normalize, startCheckOrigin } from '../audit/check-origin.js';
import { fetchOver, type FetchResult } from '../audit/fetch.js';
import { DirectOutbound } from '../outbound/direct.js';
import type { Outbound } from '../outbound/outbound.js';
import { UpstreamOutbound, type UpstreamProtocol } from '../outbound/upstream/upstream.js';
import { ALLOW_ALL } from '../router/address-guard.js';
import { parseListen } from '../config/listen-address.js';

export type Anonymity = 'transparent' | 'anonymous' | 'elite';

export interface AuditReport {
  proxy: string;
  anonymity: Anonymity | null;
  /** Headers that reveal a proxy or our address. */
  revealing: string[];
  headersAdded: string[];
  headersRemoved: string[];
  headersChanged: string[];
  /** What the origin saw as the client address through the proxy. */
  exitAddress: string | null;
  modifiesBodies: boolean | null;
  interceptsTls: boolean | null;
  errors: string[];
}

/** Request headers whose presence tells the origin a proxy is in the path. */
const PROXY_HEADERS = new Set([
  'via',
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'client-ip',
  'x-client-ip',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-server',
  'x-proxy-id',
  'x-bluecoat-via',
  'proxy-connection',
  'x-originating-ip',
  'true-client-ip',
]);

/** The headers fetchOver sends; the proxy may drop the hop-by-hop Connection and its own credentials. */
const SENT: [string, string][] = [
  ['host', ''],
  ['user-agent', 'ferry-check'],
  ['accept', '*/*'],
];
const HOP_BY_HOP = new Set(['connection', 'proxy-authorization', 'keep-alive', 'te', 'upgrade']);

export function parseProxyUrl(text: string): UpstreamOutbound {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new FerryError(
      'E_BAD_REQUEST',
      `'${text}' is not a proxy URL (e.g. http://user:pass@host:3128, socks5://host:1080)`,
    );
  }
  const schemes: Record<string, UpstreamProtocol> = {
    'http:': 'http',
    'https:': 'https',
    'socks5:': 'socks5',
    'socks5h:': 'socks5',
    'socks4a:': 'socks4a',
    'socks4:': 'socks4a',
  };
  const protocol = schemes[u.protocol];
  if (!protocol)
    throw new FerryError(
      'E_BAD_REQUEST',
      `proxy URL scheme '${u.protocol}' is not one of http, https, socks4a, socks5`,
    );
  const def = protocol === 'http' ? 8080 : protocol === 'https' ? 443 : 1080;
  return new UpstreamOutbound({
    name: 'audited',
    protocol,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : def,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  });
}

function session(dest: Destination): Session {
  return {
    id: newSessionId(),
    inbound: 'audit-proxy',
    user: null,
    source: { address: '', port: 0 },
    dest,
    command: 'http',
  };
}

interface Origin {
  host: string;
  port: number;
  tlsPort: number | null;
}

/** GET path from the origin through `o` (absolute-form to an HTTP proxy), remembering our local address. */
async function get(
  o: Outbound,
  origin: Origin,
  path: string,
  timeoutMs: number,
  ours: Set<string>,
): Promise<FetchResult> {
  const dest = makeDestination(origin.host, origin.port);
  const hostHeader = dest.kind === 'ipv6' ? `[${dest.host}]:${dest.port}` : `${dest.host}:${dest.port}`;
  const s = session(dest);
  const fwd = o.httpProxy?.(s) ?? null;
  const sock: Socket = await o.dial(dest, {
    guard: ALLOW_ALL,
    connectTimeoutMs: timeoutMs,
    session: s,
    absoluteForm: fwd !== null,
  });
  if (sock.localAddress) ours.add(normalize(sock.localAddress));
  return fetchOver(sock, {
    target: fwd !== null ? `http://${hostHeader}${path}` : path,
    host: hostHeader,
    extraHeaders: fwd?.proxyAuthorization ? [['Proxy-Authorization', fwd.proxyAuthorization]] : [],
    timeoutMs,
  });
}

function headerList(r: FetchResult): { client: string; headers: [string, string][] } {
  const j = JSON.parse(r.body.toString('utf8')) as {
    client: { address: string };
    headers: [string, string][];
  };
  return { client: normalize(j.client.address), headers: j.headers };
}

export function classify(
  headers: [string, string][],
  ours: Set<string>,
): { anonymity: Anonymity; revealing: string[] } {
  const revealing: string[] = [];
  let transparent = false;
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    const leaks = [...ours].some((a) => a !== '' && v.includes(a));
    if (leaks) transparent = true;
    if (PROXY_HEADERS.has(name) || leaks) revealing.push(`${k}: ${v}`);
  }
  return { anonymity: transparent ? 'transparent' : revealing.length > 0 ? 'anonymous' : 'elite', revealing };
}

/** The proxy URL without its credentials, for the report. */
export function proxyLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export async function auditProxy(
  proxy: UpstreamOutbound,
  label: string,
  origin: Origin,
  timeoutMs: number,
): Promise<AuditReport> {
  const direct = new DirectOutbound({ name: 'audit-direct' });
  const ours = new Set<string>();
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (!a.internal) ours.add(normalize(a.address));
  const rep: AuditReport = {
    proxy: label,
    anonymity: null,
    revealing: [],
    headersAdded: [],
    headersRemoved: [],
    headersChanged: [],
    exitAddress: null,
    modifiesBodies: null,
    interceptsTls: null,
    errors: [],
  };
  // Baseline: the address the origin sees without the proxy (it is ours, too).
  try {
    ours.add(headerList(await get(direct, origin, '/headers', timeoutMs, ours)).client);
  } catch (e) {
    rep.errors.push(`origin not reachable directly: ${(e as Error).message}`);
  }
  try {
    const seen = headerList(await get(proxy, origin, '/headers', timeoutMs, ours));
    rep.exitAddress = seen.client;
    Object.assign(rep, classify(seen.headers, ours));
    const got = new Map<string, string>();
    for (const [k, v] of seen.headers)
      got.set(k.toLowerCase(), got.has(k.toLowerCase()) ? `${got.get(k.toLowerCase())}, ${v}` : v);
    const sent = new Map(SENT);
    for (const [k, v] of got) if (!sent.has(k) && !HOP_BY_HOP.has(k)) rep.headersAdded.push(`${k}: ${v}`);
    for (const [k, v] of sent) {
      if (!got.has(k)) rep.headersRemoved.push(k);
      else if (k !== 'host' && got.get(k) !== v) rep.headersChanged.push(`${k}: ${v} → ${got.get(k)}`);
    }
  } catch (e) {
    rep.errors.push(`headers through the proxy: ${(e as Error).message}`);
  }
  try {
    const r = await get(proxy, origin, '/known', timeoutMs, ours);
    rep.modifiesBodies = r.status !== 200 || r.sha256 !== KNOWN_SHA256;
  } catch (e) {
    rep.errors.push(`known body through the proxy: ${(e as Error).message}`);
  }
  if (origin.tlsPort !== null) {
    try {
      const want = (
        JSON.parse((await get(direct, origin, '/tls', timeoutMs, ours)).body.toString('utf8')) as {
          fingerprint256: string | null;
        }
      ).fingerprint256;
      const dest = makeDestination(origin.host, origin.tlsPort);
      // A tunnel (never absolute-form): what certificate arrives at the end of it?
      const sock = await proxy.dial(dest, {
        guard: ALLOW_ALL,
        connectTimeoutMs: timeoutMs,
        session: session(dest),
      });
      const r = await fetchOver(sock, {
        target: '/ip',
        host: origin.host,
        tls: { rejectUnauthorized: false },
        timeoutMs,
      });
      rep.interceptsTls = want === null ? null : r.cert?.fingerprint256 !== want;
    } catch (e) {
      rep.errors.push(`TLS through the proxy: ${(e as Error).message}`);
    }
  }
  return rep;
}

export function formatReport(r: AuditReport): string {
  const yn = (v: boolean | null, yes: string, no: string): string =>
    v === null ? 'not tested' : v ? yes : no;
  const lines = [
    `proxy:        ${r.proxy}`,
    `anonymity:    ${r.anonymity ?? 'unknown'}`,
    ...r.revealing.map((h) => `  reveals     ${h}`),
    `exit address: ${r.exitAddress ?? '-'}`,
    `headers:      ${r.headersAdded.length} added, ${r.headersRemoved.length} removed, ${r.headersChanged.length} changed`,
    ...r.headersAdded.map((h) => `  + ${h}`),
    ...r.headersRemoved.map((h) => `  - ${h}`),
    ...r.headersChanged.map((h) => `  ~ ${h}`),
    `bodies:       ${yn(r.modifiesBodies, 'MODIFIED (modifying proxy)', 'unchanged')}`,
    `TLS:          ${yn(r.interceptsTls, 'INTERCEPTED (certificate differs)', 'not intercepted')}`,
    ...r.errors.map((e) => `error:        ${e}`),
  ];
  return lines.join('\n') + '\n';
}

export function registerAuditProxy(program: Command): void {
  program
    .command('audit-proxy <proxy-url>')
    .description(
      'check what a proxy does to traffic: anonymity level, header and body changes, TLS interception',
    )
    .requiredOption('--origin <host:port>', 'a check origin (`ferry check-origin`) the proxy can reach')
    .option('--origin-tls <port>', "the check origin's TLS port (enables the interception test)")
    .option('--timeout <seconds>', 'per request', '15')
    .option('--json', 'JSON output')
    .action(
      async (url: string, f: { origin: string; originTls?: string; timeout: string; json?: boolean }) => {
        const { host, port } = parseListen(f.origin);
        const rep = await auditProxy(
          parseProxyUrl(url),
          proxyLabel(url),
          { host, port, tlsPort: f.originTls !== undefined ? Number(f.originTls) : null },
          Math.max(1, Number(f.timeout) || 15) * 1000,
        );
        process.stdout.write(f.json ? JSON.stringify(rep, null, 2) + '\n' : formatReport(rep));
        if (rep.anonymity === null || rep.modifiesBodies !== false) process.exitCode = 1;
      },
    );

  program
    .command('check-origin')
    .description('serve the check origin that audit-proxy and check use (/ip /headers /known /tls)')
    .option('--listen <host:port>', 'HTTP address', '0.0.0.0:8081')
    .option('--tls-port <port>', 'also serve HTTPS (self-signed) on this port')
    .action(async (f: { listen: string; tlsPort?: string }) => {
      const { host, port } = parseListen(f.listen);
      const o = await startCheckOrigin({
        host,
        port,
        tlsPort: f.tlsPort !== undefined ? Number(f.tlsPort) : undefined,
      });
      process.stdout.write(
        `check origin on ${host}:${o.port}${o.tlsPort !== null ? `, TLS on ${o.tlsPort} (SHA-256 ${o.fingerprint256})` : ''}\n`,
      );
      const stop = (): void => void o.close().then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}

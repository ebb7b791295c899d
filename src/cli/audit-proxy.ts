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
//   DNS         with --dns-zone (a zone the check origin serves, src/dns/whoami.ts): a unique random
//               name is given to the proxy; the check origin's DNS server says who resolved it —
//               a resolver on the proxy's side (remote DNS), or this host / the resolver this host
//               uses (a DNS leak: the names you visit reach your own resolver), or nobody (the
//               proxy cannot resolve names)
//
// HTTP proxies are asked in absolute-form (how browsers use them; where headers get added), SOCKS
// proxies through a tunnel, always with the name (never an address we resolved) when a name is used.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
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
  /** null when not tested (no --dns-zone). */
  dns: DnsFinding | null;
  errors: string[];
}

/** What the DNS check found (see dnsCheck). */
export interface DnsFinding {
  /** A resolver on the proxy's side (not this host, not this host's resolver) resolved the name. */
  remote: boolean | null;
  /** This host or its resolver resolved a name only the proxy was given. */
  leak: boolean;
  /** Who asked the check origin's DNS server for the name given to the proxy. */
  resolvers: string[];
  /** Who asked for a name this host resolved itself: this host's resolver, as the world sees it. */
  clientResolvers: string[];
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
  /** Ask for this name instead of origin.host (it must resolve to the origin). */
  name?: string,
): Promise<FetchResult> {
  const dest = makeDestination(name ?? origin.host, origin.port);
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

/**
 * The DNS check. Two unique names in `zone`: one this host resolves itself (so the check origin
 * learns which address this host's resolver asks from), one given only to the proxy. Whoever asked
 * for the second resolved it for the proxy.
 */
async function dnsCheck(
  proxy: UpstreamOutbound,
  origin: Origin,
  zone: string,
  timeoutMs: number,
  ours: Set<string>,
  errors: string[],
): Promise<DnsFinding> {
  const direct = new DirectOutbound({ name: 'audit-direct' });
  const token = randomBytes(8).toString('hex');
  const mine = `${token}-c`;
  const theirs = `${token}-p`;
  try {
    await withTimeout(lookup(`${mine}.${zone}`), timeoutMs, 'no answer');
  } catch (e) {
    errors.push(
      `DNS: this host cannot resolve names in ${zone} (${(e as Error).message}); leaks via its resolver are not detected`,
    );
  }
  let fetched = false;
  try {
    const r = await get(proxy, origin, '/ip', timeoutMs, ours, `${theirs}.${zone}`);
    fetched = r.status === 200;
    if (!fetched) errors.push(`DNS: the proxy answered ${r.status} for http://${theirs}.${zone}/ip`);
  } catch (e) {
    errors.push(`DNS: a name in ${zone} through the proxy: ${(e as Error).message}`);
  }
  const askedFor = async (label: string): Promise<string[]> =>
    (
      JSON.parse((await get(direct, origin, `/dns/${label}`, timeoutMs, ours)).body.toString('utf8')) as {
        resolvers: string[];
      }
    ).resolvers;
  const clientResolvers = await askedFor(mine);
  const resolvers = await askedFor(theirs);
  const local = new Set([...ours, ...clientResolvers]);
  const leak = resolvers.some((r) => local.has(r));
  const away = resolvers.some((r) => !local.has(r));
  // Nobody asked and the fetch failed: the proxy does not resolve names (or cannot reach the zone).
  // Nobody asked yet the fetch worked: something answered without us — say we do not know.
  const remote = away ? true : resolvers.length > 0 || !fetched ? false : null;
  return { remote, leak, resolvers, clientResolvers };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function auditProxy(
  proxy: UpstreamOutbound,
  label: string,
  origin: Origin,
  timeoutMs: number,
  dnsZone: string | null = null,
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
    dns: null,
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
  if (dnsZone !== null) {
    try {
      rep.dns = await dnsCheck(proxy, origin, dnsZone, timeoutMs, ours, rep.errors);
    } catch (e) {
      rep.errors.push(`DNS check: ${(e as Error).message}`);
    }
  }
  return rep;
}

function dnsLine(d: DnsFinding | null): string {
  if (d === null) return 'not tested';
  const by = d.resolvers.length > 0 ? ` (resolved by ${d.resolvers.join(', ')})` : '';
  if (d.leak) return `LEAK: names reach this host's own resolver${by}`;
  if (d.remote === true) return `remote: the proxy resolves names on its side${by}`;
  if (d.remote === false) return 'the proxy did not resolve the name (no remote DNS)';
  return 'unknown (the name was fetched but its resolution was not seen)';
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
    `DNS:          ${dnsLine(r.dns)}`,
    ...r.errors.map((e) => `error:        ${e}`),
  ];
  return lines.join('\n') + '\n';
}

export function registerAuditProxy(program: Command): void {
  program
    .command('audit-proxy <proxy-url>')
    .description(
      'check what a proxy does to traffic: anonymity level, header and body changes, TLS interception, DNS leaks',
    )
    .requiredOption('--origin <host:port>', 'a check origin (`ferry check-origin`) the proxy can reach')
    .option('--origin-tls <port>', "the check origin's TLS port (enables the interception test)")
    .option(
      '--dns-zone <zone>',
      "a zone the check origin's DNS server answers for (check-origin --dns-zone): enables the DNS-leak test",
    )
    .option('--timeout <seconds>', 'per request', '15')
    .option('--json', 'JSON output')
    .action(
      async (
        url: string,
        f: { origin: string; originTls?: string; dnsZone?: string; timeout: string; json?: boolean },
      ) => {
        const { host, port } = parseListen(f.origin);
        const rep = await auditProxy(
          parseProxyUrl(url),
          proxyLabel(url),
          { host, port, tlsPort: f.originTls !== undefined ? Number(f.originTls) : null },
          Math.max(1, Number(f.timeout) || 15) * 1000,
          f.dnsZone ?? null,
        );
        process.stdout.write(f.json ? JSON.stringify(rep, null, 2) + '\n' : formatReport(rep));
        if (rep.anonymity === null || rep.modifiesBodies !== false || rep.dns?.leak === true)
          process.exitCode = 1;
      },
    );

  program
    .command('check-origin')
    .description('serve the check origin that audit-proxy and check use (/ip /headers /known /tls /dns)')
    .option('--listen <host:port>', 'HTTP address', '0.0.0.0:8081')
    .option('--tls-port <port>', 'also serve HTTPS (self-signed) on this port')
    .option('--dns-zone <zone>', 'also serve DNS for this zone (delegate it here) for the DNS-leak test')
    .option('--dns-port <port>', 'port of the DNS server (UDP and TCP)', '53')
    .option('--dns-answer <ipv4>', 'the address names in the zone resolve to (default: the --listen host)')
    .action(
      async (f: {
        listen: string;
        tlsPort?: string;
        dnsZone?: string;
        dnsPort: string;
        dnsAnswer?: string;
      }) => {
        const { host, port } = parseListen(f.listen);
        const answer4 = f.dnsAnswer ?? (isIP(host) === 4 && host !== '0.0.0.0' ? host : undefined);
        if (f.dnsZone !== undefined && answer4 === undefined)
          throw new FerryError('E_CONFIG', "--dns-zone needs --dns-answer (this host's public IPv4 address)");
        const o = await startCheckOrigin({
          host,
          port,
          tlsPort: f.tlsPort !== undefined ? Number(f.tlsPort) : undefined,
          dns:
            f.dnsZone !== undefined ? { zone: f.dnsZone, port: Number(f.dnsPort), ipv4: answer4 } : undefined,
        });
        process.stdout.write(
          `check origin on ${host}:${o.port}${o.tlsPort !== null ? `, TLS on ${o.tlsPort} (SHA-256 ${o.fingerprint256})` : ''}` +
            `${o.dnsPort !== null ? `, DNS for ${f.dnsZone} on port ${o.dnsPort} (UDP, TCP)` : ''}\n`,
        );
        const stop = (): void => void o.close().then(() => process.exit(0));
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      },
    );
}

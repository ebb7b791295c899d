// `ferry check <url>`: fetch a URL through every exit of a configuration (or those matching
// --region/--tag), a few at a time, and show per exit: the exit's address as a check origin sees it
// (--ip-url), status, latency, size, the TLS certificate's subject and issuer, and whether the body
// differs from what most exits got — a sign that the site treats that exit differently (blocking, a
// regional variant) or that the exit injects content. `--json` prints the same as JSON.
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { makeDestination, newSessionId, type Session } from '../core/session.js';
import { fetchOver } from '../audit/fetch.js';
import { ALLOW_ALL } from '../router/address-guard.js';
import { exitsFromConfig, type Exit } from './exits-from-config.js';

export interface CheckRow {
  exit: string;
  tags: Record<string, string>;
  exitIp: string | null;
  status: number | null;
  ms: number | null;
  size: number | null;
  tlsSubject: string | null;
  tlsIssuer: string | null;
  sha256: string | null;
  /** The body differs from the majority's (null when the fetch failed or there is no majority). */
  differs: boolean | null;
  error: string | null;
}

interface Target {
  url: URL;
  tls: boolean;
}

function target(u: string): Target {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new FerryError('E_BAD_REQUEST', `'${u}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new FerryError('E_BAD_REQUEST', `'${u}': only http:// and https:// URLs can be checked`);
  return { url, tls: url.protocol === 'https:' };
}

async function fetchVia(exit: Exit, t: Target, timeoutMs: number, insecure: boolean) {
  const host = t.url.hostname.replace(/^\[|\]$/g, '');
  const port = t.url.port ? Number(t.url.port) : t.tls ? 443 : 80;
  const dest = makeDestination(host, port);
  const session: Session = {
    id: newSessionId(),
    inbound: 'ferry-check',
    user: null,
    source: { address: '', port: 0 },
    dest,
    command: 'connect',
  };
  const started = Date.now();
  // The operator asked for this URL on purpose: no restricted-destination guard.
  const sock = await exit.outbound.dial(dest, { guard: ALLOW_ALL, connectTimeoutMs: timeoutMs, session });
  return fetchOver(
    sock,
    {
      target: (t.url.pathname || '/') + t.url.search,
      host: t.url.host,
      tls: t.tls
        ? { servername: dest.kind === 'domain' ? host : undefined, rejectUnauthorized: !insecure }
        : undefined,
      timeoutMs,
    },
    started,
  );
}

export async function runCheck(
  exits: Exit[],
  url: string,
  opts: { ipUrl?: string | undefined; parallel: number; timeoutMs: number; insecure: boolean },
): Promise<CheckRow[]> {
  const t = target(url);
  const ipT = opts.ipUrl !== undefined ? target(opts.ipUrl) : null;
  const rows: CheckRow[] = new Array<CheckRow>(exits.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < exits.length) {
      const i = next++;
      const e = exits[i]!;
      const row: CheckRow = {
        exit: e.name,
        tags: { ...e.tags },
        exitIp: null,
        status: null,
        ms: null,
        size: null,
        tlsSubject: null,
        tlsIssuer: null,
        sha256: null,
        differs: null,
        error: null,
      };
      try {
        const r = await fetchVia(e, t, opts.timeoutMs, opts.insecure);
        Object.assign(row, { status: r.status, ms: r.ms, size: r.body.length, sha256: r.sha256 });
        if (r.cert) Object.assign(row, { tlsSubject: r.cert.subject, tlsIssuer: r.cert.issuer });
      } catch (err) {
        row.error = (err as Error).message;
      }
      if (ipT !== null) {
        try {
          const r = await fetchVia(e, ipT, opts.timeoutMs, opts.insecure);
          if (r.status === 200) row.exitIp = r.body.toString('utf8').trim().slice(0, 64);
        } catch {
          /* the exit IP column stays empty; the main fetch decides the row's error */
        }
      }
      rows[i] = row;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel, exits.length)) }, worker));
  markMajority(rows);
  return rows;
}

/** Marks each row whose body hash differs from the most common one among successful fetches. */
export function markMajority(rows: CheckRow[]): void {
  const counts = new Map<string, number>();
  for (const r of rows) if (r.sha256 !== null) counts.set(r.sha256, (counts.get(r.sha256) ?? 0) + 1);
  let best: string | null = null;
  let bestN = 0;
  let tie = false;
  for (const [h, n] of counts) {
    if (n > bestN) {
      best = h;
      bestN = n;
      tie = false;
    } else if (n === bestN) tie = true;
  }
  for (const r of rows)
    r.differs = r.sha256 === null || best === null || (tie && counts.size > 1) ? null : r.sha256 !== best;
}

export function formatTable(rows: CheckRow[]): string {
  const head = ['EXIT', 'TAGS', 'EXIT IP', 'STATUS', 'MS', 'SIZE', 'TLS SUBJECT', 'TLS ISSUER', 'BODY'];
  const data = rows.map((r) => [
    r.exit,
    Object.entries(r.tags)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-',
    r.exitIp ?? '-',
    r.status === null ? 'ERROR' : String(r.status),
    r.ms === null ? '-' : String(r.ms),
    r.size === null ? '-' : String(r.size),
    r.tlsSubject ?? '-',
    r.tlsIssuer ?? '-',
    r.error !== null ? r.error : r.differs === null ? '?' : r.differs ? 'DIFFERS' : 'same',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...data.map((d) => d[i]!.length)));
  return (
    [head, ...data]
      .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(w[i]!))).join('  '))
      .join('\n') + '\n'
  );
}

function parseTags(region: string | undefined, tags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (region !== undefined) out.region = region;
  for (const t of tags) {
    const i = t.indexOf('=');
    if (i <= 0) throw new FerryError('E_BAD_REQUEST', `--tag '${t}': expected KEY=VALUE`);
    out[t.slice(0, i).toLowerCase()] = t.slice(i + 1);
  }
  return out;
}

export function registerCheck(program: Command): void {
  program
    .command('check <url>')
    .description('fetch a URL through every exit (pool members) and compare what each one gets')
    .requiredOption('-c, --config <file>', 'configuration whose exits to use')
    .option('--pool <name>', 'only the members of this pool')
    .option('--region <region>', 'only exits tagged region=<region>')
    .option(
      '--tag <key=value>',
      'only exits with this tag (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('--ip-url <url>', 'a URL that answers with the client address (e.g. a check origin /ip)')
    .option('--parallel <n>', 'exits fetched at once', '8')
    .option('--timeout <seconds>', 'per fetch', '15')
    .option('-k, --insecure', 'do not verify TLS certificates (still shown)')
    .option('--json', 'JSON output')
    .action(
      async (
        url: string,
        f: {
          config: string;
          pool?: string;
          region?: string;
          tag: string[];
          ipUrl?: string;
          parallel: string;
          timeout: string;
          insecure?: boolean;
          json?: boolean;
        },
      ) => {
        const set = exitsFromConfig(f.config, { pool: f.pool, tags: parseTags(f.region, f.tag) });
        try {
          if (set.exits.length === 0) throw new FerryError('E_CONFIG', 'no exit matches');
          const rows = await runCheck(set.exits, url, {
            ipUrl: f.ipUrl,
            parallel: Math.max(1, Number(f.parallel) || 8),
            timeoutMs: Math.max(1, Number(f.timeout) || 15) * 1000,
            insecure: f.insecure === true,
          });
          process.stdout.write(f.json ? JSON.stringify(rows, null, 2) + '\n' : formatTable(rows));
          if (rows.some((r) => r.error !== null || r.differs === true)) process.exitCode = 1;
        } finally {
          set.close();
        }
      },
    );
}

// A small local admin endpoint for the CLI (`ferry exits`): HTTP/1.1 on a unix socket in the data
// directory (mode 0600, so only the gateway's user can read it), JSON out. Until the management
// plane's REST API exists this is how a running gateway is asked about its state:
//
//   GET  /v1/exits         pools (members, health, counters) and upstream exits
//   POST /v1/exits/probe   run every pool's active health probes once, then answer as GET
//
//   curl --unix-socket .ferry/admin.sock http://ferry/v1/exits
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { Outbound } from '../outbound/outbound.js';
import { PoolOutbound, type PoolState } from '../outbound/pool/pool.js';
import { UpstreamOutbound } from '../outbound/upstream/upstream.js';
import { formatHostPort } from '../core/session.js';

export interface ExitsReport {
  pools: PoolState[];
  /** Every other outbound, with its upstream server if it has one. */
  outbounds: { name: string; kind: string; server?: string }[];
}

export function adminSocketPath(dataDir: string): string {
  return join(dataDir, 'admin.sock');
}

export function exitsReport(outbounds: Iterable<Outbound>): ExitsReport {
  const pools: PoolState[] = [];
  const others: ExitsReport['outbounds'] = [];
  for (const o of outbounds) {
    if (o instanceof PoolOutbound) pools.push(o.state());
    else if (o instanceof UpstreamOutbound)
      others.push({
        name: o.name,
        kind: o.kind,
        server: formatHostPort(o.serverAddress.host, o.serverAddress.port),
      });
    else others.push({ name: o.name, kind: o.kind });
  }
  return { pools, outbounds: others };
}

/** Where the admin socket gets its answers: this process's outbounds, or a cluster's (cluster-exits.ts). */
export interface ExitsSource {
  report(): Promise<ExitsReport>;
  /** Runs every pool's active probes once, then reports. */
  probe(): Promise<ExitsReport>;
}

/** The exits of this process; `table` returns the current outbounds (it changes on reload). */
export function localExits(table: () => ReadonlyMap<string, Outbound>): ExitsSource {
  return {
    report: () => Promise.resolve(exitsReport(table().values())),
    async probe() {
      const pools = [...table().values()].filter((o): o is PoolOutbound => o instanceof PoolOutbound);
      await Promise.all(pools.map((p) => p.probeNow()));
      return exitsReport(table().values());
    },
  };
}

export interface AdminSocket {
  readonly path: string;
  close(): void;
}

/** Listens on `path` and answers from `exits`. */
export async function startAdminSocket(path: string, exits: ExitsSource, log: Logger): Promise<AdminSocket> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // A socket file left by a gateway that died is in the way; a live gateway's is not ours to take.
  if (existsSync(path)) {
    if (await answers(path)) throw new Error(`${path}: another gateway is running with this data directory`);
    unlinkSync(path);
  }
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body, null, 2) + '\n';
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    const answer = (p: Promise<ExitsReport>): void =>
      void p.then(
        (r) => send(200, r),
        (e: Error) => send(500, { error: e.message }),
      );
    if (req.url === '/v1/exits' && req.method === 'GET') return answer(exits.report());
    if (req.url === '/v1/exits/probe' && req.method === 'POST') return answer(exits.probe());
    send(404, { error: 'not found: GET /v1/exits, POST /v1/exits/probe' });
  });
  server.on('clientError', (_e, sock) => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  server.on('error', (e) => log.error({ err: e.message }, 'admin socket error'));
  log.debug({ path }, 'admin socket listening');
  return {
    path,
    close(): void {
      server.close();
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

/** Sends one request to an admin socket and parses the JSON answer. */
export function adminRequest(
  path: string,
  method: 'GET' | 'POST',
  url: string,
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method, path: url, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          const v = JSON.parse(body) as unknown;
          if ((res.statusCode ?? 500) >= 400)
            reject(new Error((v as { error?: string }).error ?? `HTTP ${res.statusCode}`));
          else resolve(v);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('admin socket did not answer')));
    req.on('error', reject);
    req.end();
  });
}

function answers(path: string): Promise<boolean> {
  return adminRequest(path, 'GET', '/v1/exits', 1000).then(
    () => true,
    () => false,
  );
}

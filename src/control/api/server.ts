// The admin REST API listener (fastify): /api/v1/... (routes.ts), the OpenAPI document at
// /api/v1/openapi.json and Prometheus metrics at /metrics.
//
// Security defaults: it binds loopback unless told otherwise and refuses any other address without
// TLS (a bearer token must not cross a network in clear); every route but the OpenAPI document needs
// a token (RFC 6750 bearer); responses are never cached (they carry one-time secrets); request lines
// and headers are never logged (tokens, and in logging mode none not even who called when).
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { isLoopbackHost, parseListen } from '../../config/listen-address.js';
import { asFerryError, FerryError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { Metrics } from '../metrics.js';
import { ControlService, type Principal, type ServiceOptions } from '../service/index.js';
import { requireRead } from '../service/principal.js';
import { parseInput } from '../service/schemas.js';
import type { Store } from '../store/types.js';
import type { LiveSessions } from './live.js';
import { API_PREFIX, buildOpenApi } from './openapi.js';
import { ROUTES, type Deps } from './routes.js';

export interface ApiServerOptions {
  store: Store;
  /** The control service; built from `store` and `serviceOptions` when absent. */
  service?: ControlService;
  /** For the service built here: config users (read-only overrides), clock. */
  serviceOptions?: ServiceOptions;
  /** "host:port"; port 0 picks a free one. Non-loopback hosts need `tls`. */
  listen: string;
  /** PEM certificate and key: file paths, or the PEM text itself. */
  tls?: { cert: string; key: string };
  log?: Logger;
  /** The gateway's open sessions; the /sessions routes answer 501 without it. */
  live?: LiveSessions;
  /** Extra /status fields from the gateway (listeners, workers, ...). */
  status?: () => object | Promise<object>;
  /** Served at /metrics (501 without). */
  metrics?: Metrics | Registry;
  /** /metrics without a token; allowed only on a loopback listener. */
  metricsPublic?: boolean;
  /** Reported by /status and the OpenAPI document; default: package.json's. */
  version?: string;
}

export interface ApiServer {
  address: { host: string; port: number };
  /** Base URL for clients, e.g. "http://127.0.0.1:9090". */
  url: string;
  close(): Promise<void>;
}

/** Request bodies are small JSON objects; anything larger is a mistake or an attack. */
const BODY_LIMIT = 64 * 1024;
/** A request must arrive whole within this time (slow-loris). */
const REQUEST_TIMEOUT_MS = 30_000;

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const pem = (v: string, what: string): string => {
  if (v.includes('-----BEGIN')) return v;
  try {
    return readFileSync(v, 'utf8');
  } catch (e) {
    throw new FerryError('E_CONFIG', `api.tls.${what}: cannot read ${v}: ${(e as Error).message}`);
  }
};

/** Authorization: Bearer <token> (RFC 6750 §2.1: the scheme is case-insensitive, b64token syntax). */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

async function authenticate(service: ControlService, req: FastifyRequest): Promise<Principal> {
  const h = req.headers.authorization;
  if (!h) throw new FerryError('E_AUTH_REQUIRED', 'an API token is required (Authorization: Bearer <token>)');
  const m = BEARER.exec(h);
  if (!m) throw new FerryError('E_AUTH', 'malformed Authorization header; expected "Bearer <token>"');
  return service.authenticateToken(m[1]!);
}

/**
 * The error reply. Authentication failures are 401 here with a WWW-Authenticate challenge
 * (RFC 6750 §3), not the proxies' 407. Framework errors (bad JSON, wrong content type, body too
 * large) keep fastify's 4xx status under E_BAD_REQUEST; anything unexpected is E_INTERNAL without
 * details for the client, and logged.
 */
function sendError(reply: FastifyReply, err: unknown, log: Logger): void {
  let fe: FerryError;
  let status: number;
  const fw = err as Partial<FastifyError>;
  if (err instanceof FerryError) {
    fe = err;
    status = fe.httpStatus;
  } else if (typeof fw.statusCode === 'number' && fw.statusCode >= 400 && fw.statusCode < 500) {
    fe = new FerryError('E_BAD_REQUEST', fw.message ?? 'bad request');
    status = fw.statusCode;
  } else {
    log.error({ err: asFerryError(err) }, 'api: internal error');
    fe = new FerryError('E_INTERNAL', 'internal error; see the server log');
    status = 500;
  }
  if (fe.code === 'E_AUTH' || fe.code === 'E_AUTH_REQUIRED') {
    status = 401;
    void reply.header(
      'www-authenticate',
      fe.code === 'E_AUTH' ? 'Bearer realm="ferry", error="invalid_token"' : 'Bearer realm="ferry"',
    );
  }
  if (status >= 500 && fe.code !== 'E_INTERNAL') log.warn({ code: fe.code }, `api: ${fe.message}`);
  void reply.code(status).send({ error: { code: fe.code, message: fe.message } });
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? silentLogger();
  let where: { host: string; port: number };
  try {
    where = parseListen(opts.listen);
  } catch (e) {
    throw new FerryError('E_CONFIG', `api.listen: ${(e as Error).message}`);
  }
  const loopback = isLoopbackHost(where.host);
  if (!loopback && !opts.tls)
    throw new FerryError(
      'E_CONFIG',
      `api.listen ${opts.listen} is not a loopback address: give api.tls { cert, key } ` +
        '(API tokens must not cross the network in clear), or listen on 127.0.0.1',
    );
  if (!loopback && opts.metricsPublic)
    throw new FerryError(
      'E_CONFIG',
      'api.metrics_public is only allowed on a loopback listener; give the scraper a read token instead',
    );

  const service = opts.service ?? new ControlService(opts.store, opts.serviceOptions ?? {});
  const version = opts.version ?? readVersion();
  const registry: Registry | undefined =
    opts.metrics === undefined
      ? undefined
      : 'registry' in opts.metrics
        ? opts.metrics.registry
        : opts.metrics;
  const deps: Deps = {
    service,
    store: opts.store,
    live: opts.live,
    status: opts.status,
    metrics: opts.metrics !== undefined && 'forgetUser' in opts.metrics ? opts.metrics : undefined,
    version,
    startedAt: Date.now(),
    now: Date.now,
  };
  // Built on first request: most servers are never asked for it.
  let openapi: string | undefined;

  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    requestTimeout: REQUEST_TIMEOUT_MS,
    return503OnClosing: true,
    forceCloseConnections: true,
    ...(opts.tls ? { https: { cert: pem(opts.tls.cert, 'cert'), key: pem(opts.tls.key, 'key') } } : {}),
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    // One-time secrets (passwords, tokens) travel in responses: no cache may keep them (RFC 6750 §5.3).
    void reply.header('cache-control', 'no-store');
    void reply.header('x-content-type-options', 'nosniff');
    return payload;
  });
  app.setErrorHandler((err, _req, reply) => sendError(reply, err, log));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new FerryError('E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`), log),
  );

  app.get(`${API_PREFIX}/openapi.json`, (_req, reply) => {
    openapi ??= JSON.stringify(buildOpenApi(ROUTES, version));
    void reply.type('application/json; charset=utf-8').send(openapi);
  });

  app.get('/metrics', async (req, reply) => {
    if (!opts.metricsPublic) requireRead(await authenticate(service, req), 'read metrics');
    if (!registry) throw new FerryError('E_UNSUPPORTED', 'metrics are not enabled in this process');
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });

  for (const r of ROUTES) {
    app.route({
      method: r.method,
      url: API_PREFIX + r.path,
      handler: async (req, reply) => {
        const principal = await authenticate(service, req);
        const params = r.params ? parseInput(r.params, req.params, 'path') : undefined;
        const query = r.query ? parseInput(r.query, req.query, 'query') : undefined;
        const body = r.body
          ? parseInput(r.body, req.body ?? (r.bodyOptional ? {} : undefined), 'body')
          : undefined;
        const result = await r.run({ api: service.as(principal), principal, params, query, body, deps });
        if (r.status === 204) return reply.code(204).send();
        return reply.code(r.status).send(result);
      },
    });
  }

  try {
    await app.listen({ host: where.host, port: where.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new FerryError('E_CONFIG', `api: cannot listen on ${opts.listen}: ${code}`, { cause: e });
  }
  const a = app.server.address() as AddressInfo;
  const hostInUrl = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const url = `${opts.tls ? 'https' : 'http'}://${hostInUrl}:${a.port}`;
  log.info({ url, tls: Boolean(opts.tls), metricsPublic: Boolean(opts.metricsPublic) }, 'api listening');
  return {
    address: { host: a.address, port: a.port },
    url,
    close: () => app.close(),
  };
}

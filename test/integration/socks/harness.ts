// Test rig for the SOCKS inbound: the handler behind a net.Server with a hand-built InboundContext
// (direct outbound, loopback allowed, optional users), a log capture, and origins on loopback.
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Authenticator, MapUserSource } from '../../../src/auth/authenticator.js';
import { hashPassword } from '../../../src/auth/password-hash.js';
import { createLogger } from '../../../src/core/logger.js';
import type { AccessLogMode, InboundContext, Limits, Timeouts } from '../../../src/inbound/context.js';
import { createMixedHandler } from '../../../src/inbound/mixed.js';
import { createSocksHandler } from '../../../src/inbound/socks/index.js';
import { ConnTracker } from '../../../src/inbound/tracker.js';
import { DirectOutbound } from '../../../src/outbound/direct.js';
import type { Outbound } from '../../../src/outbound/outbound.js';
import { Router } from '../../../src/router/router.js';
import type { RuleConfig } from '../../../src/router/rule.js';

export const USER = 'alice';
export const PASSWORD = 'pa55-secret-word';

export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  reason?: string;
  [k: string]: unknown;
}

export interface Rig {
  port: number;
  host: string;
  ctx: InboundContext;
  tracker: ConnTracker;
  logs: LogLine[];
  rawLog(): string;
  close(): Promise<void>;
}

export interface RigOptions {
  auth?: boolean;
  rules?: RuleConfig[];
  timeouts?: Partial<Timeouts>;
  limits?: Partial<Limits>;
  accessLog?: AccessLogMode;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Put the handler behind the mixed inbound's first-byte sniffer. */
  mixed?: boolean;
  extraOutbounds?: Outbound[];
  /** Sees each accepted client socket (server side), e.g. to inspect its listeners. */
  onSocket?: (s: Socket) => void;
}

let cachedHash: Promise<string> | null = null;

export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const logs: LogLine[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString();
      raw += text;
      for (const line of text.split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const outbounds = new Map<string, Outbound>([['direct', new DirectOutbound({ name: 'direct' })]]);
  for (const o of opts.extraOutbounds ?? []) outbounds.set(o.name, o);
  const router = new Router(
    { rules: opts.rules ?? [], default: 'direct', allowDestinations: ['127.0.0.0/8', '::1/128'] },
    outbounds,
  );
  let auth: Authenticator | null = null;
  if (opts.auth) {
    // A cheap scrypt cost: the tests run many logins at once and are not about hash strength.
    cachedHash ??= hashPassword(PASSWORD, { logN: 10, r: 8, p: 1 });
    auth = new Authenticator(new MapUserSource([{ name: USER, passwordHash: await cachedHash }]), {
      maxFailures: 1000,
      windowMs: 60_000,
    });
  }
  const tracker = new ConnTracker();
  const timeouts: Timeouts = { handshakeMs: 5000, connectMs: 5000, idleMs: 30_000, ...opts.timeouts };
  const limits: Limits = {
    maxHeaderBytes: 65536,
    maxConnections: 10_000,
    maxConnectionsPerUser: 1000,
    ...opts.limits,
  };
  const ctx: InboundContext = {
    name: 'socks-test',
    router: () => router,
    auth: () => auth,
    log: createLogger({ level: 'debug', destination: sink }),
    timeouts: () => timeouts,
    limits: () => limits,
    http: () => ({ via: false, xForwardedFor: false }),
    accessLog: () => opts.accessLog ?? 'minimal',
    tracker,
  };
  const socks = createSocksHandler(ctx);
  const handler = opts.mixed ? createMixedHandler(ctx, { handle: (s: Socket) => s.destroy() }, socks) : socks;
  const server: Server = createServer({ noDelay: true }, (sock) => {
    tracker.admit(sock, 10_000);
    opts.onSocket?.(sock);
    handler.handle(sock);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    host,
    ctx,
    tracker,
    logs,
    rawLog: () => raw,
    async close() {
      tracker.destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Log lines for clients closed for bad input, optionally filtered by error code. */
export function badClientLines(rig: Rig, code?: string): LogLine[] {
  return rig.logs.filter((l) => l.msg === 'client connection closed' && (!code || l.code === code));
}

export interface Origin {
  port: number;
  bigSha256: string;
  bigSize: number;
  close(): Promise<void>;
}

/** Deterministic pseudo-random bytes (xorshift), so the download is incompressible and checkable. */
export function pseudoRandom(size: number, seed = 0x9e3779b9): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) b[i] = i & 0xff;
  return b;
}

/** An HTTP origin: /small answers "hello from <host>", /big a 20 MB body. */
export async function startOrigin(host = '127.0.0.1', bigSize = 20 * 1024 * 1024): Promise<Origin> {
  const big = pseudoRandom(bigSize);
  const bigSha256 = createHash('sha256').update(big).digest('hex');
  const server: HttpServer = createHttpServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
      res.end(big);
    } else {
      const body = `hello from ${host}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bigSha256,
    bigSize,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

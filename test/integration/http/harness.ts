// A hand-built InboundContext around the HTTP handler, served by a net.Server or a tls.Server on
// 127.0.0.1, plus small origins, a self-signed certificate and curl helpers for the http suites.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import {
  connect as connectTcp,
  createServer as createNetServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import pino from 'pino';
import { Authenticator, MapUserSource } from '../../../src/auth/authenticator.js';
import { hashPassword } from '../../../src/auth/password-hash.js';
import type {
  AccessLogMode,
  HttpOptions,
  InboundContext,
  Limits,
  Timeouts,
} from '../../../src/inbound/context.js';
import { createHttpHandler, type HttpHandler } from '../../../src/inbound/http/index.js';
import { ConnTracker } from '../../../src/inbound/tracker.js';
import { waitFor } from '../../helpers/wait.js';
import { DirectOutbound } from '../../../src/outbound/direct.js';
import { Router, type RouterConfig } from '../../../src/router/router.js';

export interface ProxyOptions {
  tls?: { cert: string; key: string };
  users?: { name: string; password: string }[];
  throttle?: { maxFailures: number; windowMs: number };
  timeouts?: Partial<Timeouts>;
  limits?: Partial<Limits>;
  http?: Partial<HttpOptions>;
  rules?: RouterConfig['rules'];
  accessLog?: AccessLogMode;
}

export interface Proxy {
  port: number;
  url: string;
  handler: HttpHandler;
  ctx: InboundContext;
  http: HttpOptions;
  /** Everything the proxy logged, as JSON lines. */
  logs(): string;
  /** Client sockets currently open on the proxy. */
  clientCount(): number;
  close(): Promise<void>;
}

export async function startProxy(o: ProxyOptions = {}): Promise<Proxy> {
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const outbounds = new Map([['direct', new DirectOutbound({ name: 'direct' })]]);
  const router = new Router(
    { rules: o.rules ?? [], default: 'direct', allowDestinations: ['127.0.0.0/8', '::1/128'] },
    outbounds,
  );
  let auth: Authenticator | null = null;
  if (o.users) {
    // Cheap scrypt parameters: the tests check the protocol, not the hash cost.
    const recs = await Promise.all(
      o.users.map(async (u) => ({
        name: u.name,
        passwordHash: await hashPassword(u.password, { logN: 10, r: 8, p: 1 }),
      })),
    );
    auth = new Authenticator(new MapUserSource(recs), o.throttle);
  }
  const timeouts: Timeouts = { handshakeMs: 10_000, connectMs: 5_000, idleMs: 30_000, ...o.timeouts };
  const limits: Limits = {
    maxHeaderBytes: 65536,
    maxConnections: 1000,
    maxConnectionsPerUser: 1000,
    ...o.limits,
  };
  const http: HttpOptions = { via: false, xForwardedFor: false, ...o.http };
  const ctx: InboundContext = {
    name: 'h',
    router: () => router,
    auth: () => auth,
    log,
    timeouts: () => timeouts,
    limits: () => limits,
    http: () => http,
    accessLog: () => o.accessLog ?? 'minimal',
    tracker: new ConnTracker(),
  };
  const handler = createHttpHandler(ctx);
  const sockets = new Set<Socket>();
  const onConn = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    handler.handle(s);
  };
  const server: Server = o.tls
    ? createTlsServer({ cert: o.tls.cert, key: o.tls.key }, onConn)
    : createNetServer(onConn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    handler,
    ctx,
    http,
    logs: () => logText,
    clientCount: () => sockets.size,
    async close() {
      handler.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Origin {
  port: number;
  /** TCP connections the origin has accepted. */
  connections(): number;
  close(): Promise<void>;
}

/** A node:http origin on 127.0.0.1 (or ::1) that counts its TCP connections. */
export async function startHttpOrigin(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  opts: { host?: string; setup?: (s: HttpServer) => void } = {},
): Promise<Origin> {
  const server = createHttpServer(handler);
  opts.setup?.(server);
  return listenCounting(server, opts.host ?? '127.0.0.1');
}

/** A raw TCP origin: `onConn` gets each socket. */
export async function startRawOrigin(onConn: (s: Socket) => void, host = '127.0.0.1'): Promise<Origin> {
  return listenCounting(createNetServer(onConn), host);
}

export async function listenCounting(server: Server, host: string): Promise<Origin> {
  let n = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    n++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => n,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface TempCert {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  cleanup(): void;
}

/** A self-signed P-256 certificate for localhost, 127.0.0.1 and ::1. */
export function makeCert(): TempCert {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-http-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '-days',
      '2',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return {
    dir,
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CurlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs curl (no config file, silent, errors shown) without blocking the event loop. */
export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-q', '-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, // no *_proxy variables from the host
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A raw TCP client for tests that must see exact bytes and connection closes. */
export class RawClient {
  readonly socket: Socket;
  private data = Buffer.alloc(0);
  ended = false;
  closed = false;
  private readonly connected: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = connectTcp({ port, host });
    this.socket.on('data', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => {});
    this.connected = new Promise((r) => this.socket.once('connect', () => r()));
  }

  async send(data: string | Buffer): Promise<void> {
    await this.connected;
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  text(): string {
    return this.data.toString('latin1');
  }

  bytes(): Buffer {
    return this.data;
  }

  /** Waits until the received text satisfies `pred` (polling; never a fixed sleep). */
  async until(what: string, pred: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
    await waitFor(what, () => pred(this.text()), { timeoutMs, intervalMs: 5 });
    return this.text();
  }

  /** Waits for `n` complete responses (by counting status lines). */
  async responses(n: number, timeoutMs = 5000): Promise<string> {
    return this.until(`${n} responses`, (t) => (t.match(/HTTP\/1\.1 \d{3} /g) ?? []).length >= n, timeoutMs);
  }

  async waitEnded(timeoutMs = 5000): Promise<void> {
    await waitFor('the proxy to close the connection', () => this.ended || this.closed, {
      timeoutMs,
      intervalMs: 5,
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

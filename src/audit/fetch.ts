// A one-shot HTTP/1.1 GET over a socket some outbound opened — through an exit, an upstream proxy
// or directly — with optional TLS on top, returning what audit tools compare: status, headers, body
// hash and size, latency, and the certificate the far end presented. Not a general client: one
// request, `Connection: close`, bodies read to the end (Content-Length, chunked or close).
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';

export interface FetchResult {
  status: number;
  headers: [string, string][];
  body: Buffer;
  sha256: string;
  ms: number;
  cert: { subject: string; issuer: string; fingerprint256: string } | null;
}

export interface FetchOptions {
  /** Request target: origin-form path ("/ip") or absolute-form URL (to an HTTP proxy). */
  target: string;
  host: string;
  /** Put TLS on the socket first (servername = host unless an IP). */
  tls?: { servername?: string | undefined; rejectUnauthorized?: boolean | undefined } | undefined;
  extraHeaders?: [string, string][] | undefined;
  timeoutMs: number;
  maxBytes?: number | undefined;
}

export async function fetchOver(
  sock: Socket,
  opts: FetchOptions,
  started = Date.now(),
): Promise<FetchResult> {
  let s: Socket = sock;
  let cert: FetchResult['cert'] = null;
  if (opts.tls) {
    const t = await startTls(sock, opts.tls, opts.timeoutMs);
    const pc = t.getPeerCertificate() as PeerCertificate | undefined;
    if (pc && pc.fingerprint256)
      cert = { subject: dn(pc.subject), issuer: dn(pc.issuer), fingerprint256: pc.fingerprint256 };
    s = t;
  }
  const lines = [
    `GET ${opts.target} HTTP/1.1`,
    `Host: ${opts.host}`,
    'User-Agent: ferry-check',
    'Accept: */*',
    'Connection: close',
  ];
  for (const [k, v] of opts.extraHeaders ?? []) lines.push(`${k}: ${v}`);
  const raw = await readAll(
    s,
    Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'),
    opts.timeoutMs,
    opts.maxBytes ?? 16 << 20,
  );
  const r = parseResponse(raw);
  return { ...r, sha256: createHash('sha256').update(r.body).digest('hex'), ms: Date.now() - started, cert };
}

function dn(x: object | undefined): string {
  if (!x) return '';
  return Object.entries(x as Record<string, string | string[]>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ');
}

function startTls(sock: Socket, o: NonNullable<FetchOptions['tls']>, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = tlsConnect({
      socket: sock,
      ...(o.servername ? { servername: o.servername } : {}),
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => t.destroy(new Error('TLS handshake timed out')), timeoutMs);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      t.removeAllListeners('error');
      resolve(t);
    });
    t.once('error', (e) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    });
  });
}

function readAll(s: Socket, request: Buffer, timeoutMs: number, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const timer = setTimeout(() => done(new Error('no complete response in time')), timeoutMs);
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      s.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      n += d.length;
      if (n > maxBytes) return done(new Error(`response larger than ${maxBytes} bytes`));
      if (complete(Buffer.concat(chunks))) done(null);
    });
    s.on('end', () => done(null));
    s.on('error', (e) => done(e));
    s.write(request);
  });
}

/** True once a response with Content-Length or chunked framing is complete (else wait for close). */
function complete(b: Buffer): boolean {
  const end = b.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = b.toString('latin1', 0, end).toLowerCase();
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) return b.length - end - 4 >= Number(cl[1]);
  // Chunked: the last chunk and an empty trailer section end the message (RFC 9112 §7.1).
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head))
    return b.length >= end + 9 && b.toString('latin1', b.length - 5) === '0\r\n\r\n';
  return false;
}

export function parseResponse(raw: Buffer): { status: number; headers: [string, string][]; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('incomplete response head');
  const lines = raw.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new Error('not an HTTP response');
  const headers: [string, string][] = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.push([l.slice(0, i).trim(), l.slice(i + 1).trim()]);
  }
  let body = raw.subarray(end + 4);
  const te = headers.find(([k]) => k.toLowerCase() === 'transfer-encoding')?.[1] ?? '';
  if (/chunked/i.test(te)) body = dechunk(body);
  else {
    const cl = headers.find(([k]) => k.toLowerCase() === 'content-length');
    if (cl) body = body.subarray(0, Number(cl[1]));
  }
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(b.toString('latin1', i, eol).split(';')[0]!, 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

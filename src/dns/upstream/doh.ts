// DNS over HTTPS (RFC 8484): POST of application/dns-message over one HTTP/2 session per upstream,
// reused for every query while it lives (RFC 8484 §5.2 recommends HTTP/2; many streams share a
// connection, so queries are naturally pipelined). The query goes out with ID 0 (RFC 8484 §4.1, so
// HTTP caches can share answers); the caller's ID is put back into the response.
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { HEADER_LEN, firstQuestion, questionMatches, readU16, writeU16 } from '../wire.js';
import type { TlsTrust, Upstream } from './types.js';
import type { UpstreamSpec } from './url.js';

const MEDIA_TYPE = 'application/dns-message'; // RFC 8484 §6
/** Close the session after this long without a stream. */
const IDLE_MS = 30_000;
/** RFC 8484 §4.2.1 lets a server answer with up to a full DNS message; refuse anything larger. */
const MAX_RESPONSE = 65_535;

export class DohUpstream implements Upstream {
  readonly name: string;
  private session: ClientHttp2Session | null = null;
  private closed = false;
  private readonly authority: string;

  constructor(
    private readonly spec: UpstreamSpec,
    private readonly tls: TlsTrust,
  ) {
    this.name = spec.text;
    const name = spec.serverName ?? spec.host;
    const host = name.includes(':') ? `[${name}]` : name;
    this.authority = spec.port === 443 ? host : `${host}:${spec.port}`;
  }

  private sessionFor(): ClientHttp2Session {
    if (this.closed) throw new Error('DNS upstream closed');
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const { host, port, serverName } = this.spec;
    const authority = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const session = connect(authority, {
      servername:
        serverName && !/^[\d.]+$/.test(serverName) && !serverName.includes(':') ? serverName : undefined,
      ca: this.tls.ca,
      minVersion: 'TLSv1.2', // RFC 8484 §5.2 → RFC 7540 §9.2: TLS 1.2 or later
    });
    session.on('error', () => {}); // every pending stream also gets the error
    session.on('close', () => {
      if (this.session === session) this.session = null;
    });
    session.on('goaway', () => {
      if (this.session === session) this.session = null;
    });
    session.setTimeout(IDLE_MS, () => session.close());
    // An idle session must not keep the process alive.
    session.unref();
    this.session = session;
    return session;
  }

  query(msg: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const id = readU16(msg, 0);
    const question = firstQuestion(msg);
    const body = Uint8Array.from(msg);
    writeU16(body, 0, 0);
    return new Promise<Uint8Array>((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.sessionFor();
      } catch (e) {
        reject(e as Error);
        return;
      }
      const req = session.request({
        ':method': 'POST',
        ':path': this.spec.path ?? '/dns-query',
        // The name the certificate was checked for, so a server with several names picks the right one.
        ':authority': this.authority,
        'content-type': MEDIA_TYPE,
        accept: MEDIA_TYPE,
        'content-length': body.length,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (err: Error | null, r?: Uint8Array): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          if (!req.closed) req.close(constants.NGHTTP2_CANCEL);
          reject(err);
        } else resolve(r!);
      };
      const timer = setTimeout(
        () => finish(new Error(`DNS upstream ${this.name} did not answer in time`)),
        timeoutMs,
      );
      req.on('response', (headers) => {
        const status = headers[':status'];
        const type = String(headers['content-type'] ?? '')
          .split(';')[0]!
          .trim()
          .toLowerCase();
        if (status !== 200) finish(new Error(`DNS upstream ${this.name} answered HTTP ${status}`));
        else if (type !== MEDIA_TYPE)
          finish(new Error(`DNS upstream ${this.name} answered ${type || 'no type'}`));
      });
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) finish(new Error(`DNS upstream ${this.name} answered too much`));
        else chunks.push(c);
      });
      req.on('end', () => {
        const r = new Uint8Array(Buffer.concat(chunks, size));
        if (r.length < HEADER_LEN || readU16(r, 0) !== 0 || !questionMatches(r, question)) {
          finish(new Error(`DNS upstream ${this.name} answered another question`));
          return;
        }
        writeU16(r, 0, id);
        finish(null, r);
      });
      req.on('error', (e) => finish(new Error(`DNS upstream ${this.name}: ${e.message}`)));
      req.on('close', () => finish(new Error(`DNS upstream ${this.name}: stream closed without an answer`)));
      req.end(body);
    });
  }

  close(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = null;
  }
}

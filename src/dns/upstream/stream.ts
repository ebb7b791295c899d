// Plain TCP (RFC 7766) and TLS (RFC 7858) upstreams: one connection, reused while it is busy or was
// used recently, carrying many queries at once (pipelining, RFC 7766 §6.2.1.1). Responses may arrive
// in any order; each is matched to its query by ID (unique among the queries in flight on the
// connection) and by question. A query that was written on a connection which then closed before any
// answer — the usual sign that the server timed the idle connection out as we wrote — is retried once
// on a fresh connection.
import { randomInt } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { FrameReader, frame } from '../frame-reader.js';
import { HEADER_LEN, firstQuestion, questionMatches, readU16, writeU16 } from '../wire.js';
import type { TlsTrust, Upstream } from './types.js';
import type { UpstreamSpec } from './url.js';

/** RFC 7766 §6.2.3 leaves the idle time to the client; a few seconds keeps a busy resolver's
 * connection open without holding server resources for long. */
const IDLE_MS = 10_000;
/** At most this many queries in flight on one connection; more wait for a new connection. */
const MAX_IN_FLIGHT = 256;

class ConnectionLost extends Error {}

interface Waiter {
  question: Uint8Array;
  resolve: (r: Uint8Array) => void;
  reject: (e: Error) => void;
}

class Connection {
  readonly socket: Socket;
  readonly waiters = new Map<number, Waiter>();
  private readonly reader = new FrameReader();
  closed = false;
  /** When the last answer arrived (ms; -Infinity before the first), to tell a dead connection from a slow question. */
  lastAnswerAt = -Infinity;
  private readonly onMessageBound = (m: Buffer): void => this.onMessage(m);

  constructor(socket: Socket, onClose: (c: Connection) => void) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_MS, () => {
      if (this.waiters.size === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk, this.onMessageBound));
    socket.on('error', () => {}); // 'close' follows and fails the waiters
    socket.on('close', () => {
      this.closed = true;
      const err = new ConnectionLost('connection to the DNS upstream closed');
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
      onClose(this);
    });
  }

  private onMessage(msg: Buffer): void {
    if (msg.length < HEADER_LEN) {
      this.socket.destroy(); // the stream is out of step; nothing after this can be trusted
      return;
    }
    const id = readU16(msg, 0);
    const w = this.waiters.get(id);
    if (!w || !questionMatches(msg, w.question)) return;
    this.waiters.delete(id);
    this.lastAnswerAt = Date.now();
    w.resolve(Uint8Array.from(msg));
  }
}

export class StreamUpstream implements Upstream {
  readonly name: string;
  private conn: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  private closed = false;

  constructor(
    private readonly spec: UpstreamSpec,
    private readonly tls: TlsTrust | null,
  ) {
    this.name = spec.text;
  }

  async query(msg: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    try {
      return await this.attempt(msg, deadline);
    } catch (e) {
      if (!(e instanceof ConnectionLost) || Date.now() >= deadline) throw e;
      return this.attempt(msg, deadline);
    }
  }

  private async attempt(msg: Uint8Array, deadline: number): Promise<Uint8Array> {
    const conn = await this.connection(deadline);
    const callerId = readU16(msg, 0);
    let id = callerId;
    let wire = msg;
    if (conn.waiters.has(id)) {
      // IDs must be unique among the queries in flight on one connection (RFC 7766 §7): pick a free one
      // and give the caller back its own.
      do id = randomInt(0x10000);
      while (conn.waiters.has(id));
      wire = Uint8Array.from(msg);
      writeU16(wire, 0, id);
    }
    const question = firstQuestion(msg);
    const sentAt = Date.now();
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          conn.waiters.delete(id);
          reject(new Error(`DNS upstream ${this.name} did not answer in time`));
          // Nothing at all came back on this connection while the query waited: it is as good as dead
          // (a middlebox dropped it, the server hung), so the next query opens a new one.
          if (conn.lastAnswerAt < sentAt) conn.socket.destroy();
        },
        Math.max(1, deadline - Date.now()),
      );
      conn.waiters.set(id, {
        question,
        resolve: (r) => {
          clearTimeout(timer);
          writeU16(r, 0, callerId);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      conn.socket.write(frame(wire));
    });
  }

  private async connection(deadline: number): Promise<Connection> {
    if (this.closed) throw new Error('DNS upstream closed');
    const c = this.conn;
    if (c && !c.closed && c.waiters.size < MAX_IN_FLIGHT) return c;
    this.connecting ??= this.open(deadline).finally(() => (this.connecting = null));
    return this.connecting;
  }

  private open(deadline: number): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const { host, port } = this.spec;
      const socket = this.tls
        ? tlsConnect({
            host,
            port,
            servername: isIpLiteral(this.spec.serverName) ? undefined : this.spec.serverName,
            // The default checkServerIdentity verifies the certificate against servername (or, for an
            // address, the address dialled): RFC 8310 §8.1 "authentication domain name".
            ca: this.tls.ca,
            minVersion: 'TLSv1.2', // RFC 8310 §9 / RFC 7525
          })
        : netConnect({ host, port });
      const ready = this.tls ? 'secureConnect' : 'connect';
      const timer = setTimeout(
        () => socket.destroy(new Error(`DNS upstream ${this.name}: connect timed out`)),
        Math.max(1, deadline - Date.now()),
      );
      const onError = (e: Error): void => {
        clearTimeout(timer);
        reject(new Error(`DNS upstream ${this.name}: ${e.message}`));
      };
      socket.once('error', onError);
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.off('error', onError);
        const conn = new Connection(socket, (gone) => {
          if (this.conn === gone) this.conn = null;
        });
        if (this.closed) socket.destroy();
        else this.conn = conn;
        resolve(conn);
      });
    });
  }

  close(): void {
    this.closed = true;
    this.conn?.socket.destroy();
    this.conn = null;
  }
}

function isIpLiteral(name: string | undefined): boolean {
  return name === undefined || /^[\d.]+$/.test(name) || name.includes(':');
}

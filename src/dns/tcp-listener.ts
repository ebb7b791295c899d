// DNS over TCP (RFC 7766): length-framed queries (RFC 1035 §4.2.2), several in flight per connection
// and answered as each completes (pipelining, RFC 7766 §6.2.1.1, out-of-order allowed), closed after a
// quiet spell (RFC 7766 §6.2.3) or on a malformed stream.
import { createServer, type Server, type Socket } from 'node:net';
import { FrameReader, frame } from './frame-reader.js';
import type { QueryHandler } from './query-handler.js';

export interface TcpListenerOptions {
  idleMs: number;
  maxConnections: number;
  /** Queries in flight on one connection before Ferry stops reading from it. */
  maxInFlight: number;
}

export class TcpListener {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly handler: QueryHandler,
    private readonly opts: TcpListenerOptions,
  ) {
    server.maxConnections = opts.maxConnections;
    server.on('connection', (s) => this.serve(s));
    server.on('error', () => {});
  }

  static bind(
    host: string,
    port: number,
    handler: QueryHandler,
    opts: TcpListenerOptions,
  ): Promise<TcpListener> {
    return new Promise((resolve, reject) => {
      const server = createServer({ allowHalfOpen: true });
      server.once('error', reject);
      server.listen({ host, port, exclusive: true, ipv6Only: host.includes(':') }, () => {
        server.off('error', reject);
        resolve(new TcpListener(server, handler, opts));
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  private serve(socket: Socket): void {
    const client = socket.remoteAddress ?? '';
    const reader = new FrameReader();
    let inFlight = 0;
    let ended = false;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
    socket.setTimeout(this.opts.idleMs, () => {
      if (inFlight === 0) socket.destroy();
    });
    const onMessage = (msg: Buffer): void => {
      inFlight++;
      if (inFlight >= this.opts.maxInFlight) socket.pause();
      void this.handler.handle(msg, client, false).then((answer) => {
        inFlight--;
        if (socket.destroyed) return;
        if (answer) socket.write(frame(answer));
        else if (msg.length < 12) socket.destroy(); // not DNS: stop reading this stream
        if (ended && inFlight === 0) socket.end();
        else if (socket.isPaused() && inFlight < this.opts.maxInFlight) socket.resume();
      });
    };
    socket.on('data', (chunk: Buffer) => reader.push(chunk, onMessage));
    // RFC 7766 §6.2.4: the client may half-close once it has sent its queries; answer them, then close.
    socket.on('end', () => {
      ended = true;
      if (inFlight === 0) socket.end();
    });
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

// Small origin servers on 127.0.0.1 for proxy tests: HTTP that echoes what it received, TCP echo,
// UDP echo. Each returns its port and a close function.
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

export interface HttpOrigin {
  port: number;
  /** Headers of the requests seen, in order. */
  seen: { method: string; url: string; headers: IncomingHttpHeaders; remotePort: number }[];
  connections: number;
  close(): Promise<void>;
}

/** GET /size/N returns N bytes; anything else returns a JSON echo of method, url and headers. */
export async function startHttpOrigin(host = '127.0.0.1'): Promise<HttpOrigin> {
  const seen: HttpOrigin['seen'] = [];
  const origin: HttpOrigin = { port: 0, seen, connections: 0, close: async () => undefined };
  const srv = createHttpServer((req, res) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      remotePort: req.socket.remotePort!,
    });
    const m = /^\/size\/(\d+)$/.exec(req.url ?? '');
    if (m) {
      const n = Number(m[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      const chunk = Buffer.alloc(65536, 0x61);
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const c = chunk.subarray(0, Math.min(left, chunk.length));
          left -= c.length;
          if (!res.write(c)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    const body: Buffer[] = [];
    req.on('data', (d: Buffer) => body.push(d));
    req.on('end', () => {
      const payload = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyLength: Buffer.concat(body).length,
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      });
      res.end(payload);
    });
  });
  srv.on('connection', () => origin.connections++);
  srv.keepAliveTimeout = 30_000;
  srv.listen(0, host);
  await once(srv, 'listening');
  origin.port = (srv.address() as { port: number }).port;
  origin.close = () =>
    new Promise((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    });
  return origin;
}

export async function startTcpEcho(host = '127.0.0.1'): Promise<{ port: number; close(): void }> {
  const sockets = new Set<import('node:net').Socket>();
  const srv = createTcpServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  srv.listen(0, host);
  await once(srv, 'listening');
  return {
    port: (srv.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

export async function startUdpEcho(host = '127.0.0.1'): Promise<{ port: number; close(): void }> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (msg, r) => s.send(msg, r.port, r.address));
  s.bind(0, host);
  await once(s, 'listening');
  return { port: s.address().port, close: () => s.close() };
}

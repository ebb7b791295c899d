// Tunnels through the HTTP proxy handler: CONNECT to a TLS origin (IPv4 and IPv6), a pipelined
// ClientHello, the proxy itself over TLS (the `https` inbound), and a WebSocket upgrade sent in
// absolute form with a raw-socket client.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'node:net';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import {
  curl,
  listenCounting,
  makeCert,
  RawClient,
  startHttpOrigin,
  startProxy,
  type Origin,
  type Proxy,
  type TempCert,
} from './harness.js';

describe(
  'http proxy: CONNECT, HTTPS proxy and WebSocket',
  { skip: skipReason({ tools: ['curl', 'openssl'] }) },
  () => {
    let cert: TempCert;
    let proxy: Proxy;
    let tlsProxy: Proxy;
    let tls4: Origin;
    let tls6: Origin;
    let ws: Origin;

    before(async () => {
      cert = makeCert();
      const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) =>
        res.end(`secure ${req.url} via ${req.socket.localAddress}`);
      tls4 = await listenCounting(
        createHttpsServer({ cert: cert.cert, key: cert.key }, handler),
        '127.0.0.1',
      );
      tls6 = await listenCounting(createHttpsServer({ cert: cert.cert, key: cert.key }, handler), '::1');
      ws = await startHttpOrigin((_req, res) => res.end('not a websocket request'), {
        setup: (s) =>
          s.on('upgrade', (req, sock: Socket, head: Buffer) => {
            const key = req.headers['sec-websocket-key'] ?? '';
            const accept = createHash('sha1')
              .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
              .digest('base64');
            sock.write(
              `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
            );
            // Echo server: unmask each client frame and send its payload back unmasked.
            let buf = head;
            const onData = (d: Buffer) => {
              buf = Buffer.concat([buf, d]);
              for (;;) {
                const f = parseFrame(buf);
                if (f === null) return;
                buf = buf.subarray(f.size);
                sock.write(frame(f.opcode, f.payload, null));
              }
            };
            sock.on('data', onData);
            sock.on('error', () => {});
            if (head.length > 0) onData(Buffer.alloc(0));
          }),
      });
      proxy = await startProxy();
      tlsProxy = await startProxy({ tls: { cert: cert.cert, key: cert.key } });
    });

    after(async () => {
      await proxy?.close();
      await tlsProxy?.close();
      await tls4?.close();
      await tls6?.close();
      await ws?.close();
      cert?.cleanup();
    });

    it('tunnels CONNECT to a TLS origin (curl --proxytunnel)', async () => {
      const r = await curl([
        '-x',
        proxy.url,
        '--proxytunnel',
        '--cacert',
        cert.certFile,
        `https://127.0.0.1:${tls4.port}/t`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'secure /t via 127.0.0.1');
    });

    it('tunnels CONNECT to an IPv6 literal destination [::1]', async () => {
      const r = await curl([
        '-x',
        proxy.url,
        '--proxytunnel',
        '--cacert',
        cert.certFile,
        `https://[::1]:${tls6.port}/six`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'secure /six via ::1');
    });

    it('relays a ClientHello written in the same packet as the CONNECT head', async () => {
      // Build a real TLS ClientHello by letting a TLS client write into a capture socket.
      const { Duplex } = await import('node:stream');
      const captured: Buffer[] = [];
      const fake = new Duplex({
        read() {},
        write(chunk: Buffer, _e, cb) {
          captured.push(chunk);
          cb();
        },
      });
      const probe = tlsConnect({ socket: fake as unknown as Socket, servername: 'localhost', ca: cert.cert });
      probe.on('error', () => {});
      await waitFor('a ClientHello', () => captured.length > 0);
      const hello = Buffer.concat(captured);
      probe.destroy();
      const c = new RawClient(proxy.port);
      try {
        await c.send(
          Buffer.concat([Buffer.from(`CONNECT 127.0.0.1:${tls4.port} HTTP/1.1\r\nHost: x\r\n\r\n`), hello]),
        );
        // The origin answers the ClientHello with a ServerHello (TLS record type 22 after our 200).
        const ok = 'HTTP/1.1 200 Connection established\r\n\r\n';
        await c.until('the ServerHello behind the 200', (t) => t.length > ok.length + 5);
        assert.ok(c.text().startsWith(ok));
        assert.equal(c.bytes()[ok.length], 22, 'a TLS handshake record follows the 200');
      } finally {
        c.destroy();
      }
    });

    it('serves as an HTTPS proxy (TLS to the proxy) for absolute-form and CONNECT', async () => {
      const a = await curl([
        '-x',
        tlsProxy.url,
        '--proxy-cacert',
        cert.certFile,
        `http://127.0.0.1:${ws.port}/plain`,
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(a.stdout, 'not a websocket request');
      const b = await curl([
        '-x',
        tlsProxy.url,
        '--proxy-cacert',
        cert.certFile,
        '--cacert',
        cert.certFile,
        `https://127.0.0.1:${tls4.port}/x`,
      ]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(b.stdout, 'secure /x via 127.0.0.1');
    });

    it('passes a WebSocket upgrade through and relays frames both ways', async () => {
      const c = new RawClient(proxy.port);
      try {
        const key = randomBytes(16).toString('base64');
        await c.send(
          `GET http://127.0.0.1:${ws.port}/chat HTTP/1.1\r\nHost: 127.0.0.1:${ws.port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        const head = await c.until('101', (t) => t.includes('\r\n\r\n'));
        assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
        assert.match(head, /\r\nUpgrade: websocket\r\n/i);
        assert.match(head, /\r\nConnection: Upgrade\r\n/i);
        const expect = createHash('sha1')
          .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
          .digest('base64');
        assert.match(head, new RegExp(`Sec-WebSocket-Accept: ${expect.replace(/[+/=]/g, '\\$&')}`));
        const headLen = head.indexOf('\r\n\r\n') + 4;
        const payload = Buffer.from('hello through ferry');
        await c.send(frame(1, payload, randomBytes(4)));
        await waitFor('the echoed frame', () => parseFrame(c.bytes().subarray(headLen)) !== null);
        const f = parseFrame(c.bytes().subarray(headLen))!;
        assert.equal(f.opcode, 1);
        assert.equal(f.payload.toString(), 'hello through ferry');
      } finally {
        c.destroy();
      }
    });
  },
);

/** One WebSocket frame (RFC 6455 §5.2), FIN set, short payloads only. */
function frame(opcode: number, payload: Buffer, mask: Buffer | null): Buffer {
  const head = Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | payload.length]);
  if (!mask) return Buffer.concat([head, payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, masked]);
}

function parseFrame(b: Buffer): { opcode: number; payload: Buffer; size: number } | null {
  if (b.length < 2) return null;
  const masked = (b[1]! & 0x80) !== 0;
  const len = b[1]! & 0x7f;
  const size = 2 + (masked ? 4 : 0) + len;
  if (len > 125 || b.length < size) return null;
  let payload = b.subarray(size - len, size);
  if (masked) {
    const m = b.subarray(2, 6);
    payload = Buffer.from(payload.map((x, i) => x ^ m[i % 4]!));
  }
  return { opcode: b[0]! & 0x0f, payload, size };
}

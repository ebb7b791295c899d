// Absolute-form forwarding through the HTTP proxy handler with real curl clients and node:http /
// raw TCP origins: bodies (length, chunked, large), keep-alive on both sides, hop-by-hop fields,
// no-body responses, close-delimited responses, 100-continue, pipelining and HTTP/1.0 clients.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import {
  curl,
  RawClient,
  startHttpOrigin,
  startProxy,
  startRawOrigin,
  type Origin,
  type Proxy,
} from './harness.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = randomBytes(24 * 1024 * 1024 + 123);

describe('http proxy: absolute-form forwarding', { skip: skipReason({ tools: ['curl'] }) }, () => {
  let proxy: Proxy;
  let origin: Origin;
  let raw: Origin;
  let base: string;
  let rawBase: string;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-http-fwd-'));
    origin = await startHttpOrigin(
      (req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          const url = req.url ?? '/';
          if (url.startsWith('/big')) {
            if (url.includes('chunked')) {
              // No Content-Length: node sends it chunked, in uneven pieces.
              for (let off = 0; off < BIG.length; off += 100_003) res.write(BIG.subarray(off, off + 100_003));
              res.end();
            } else {
              res.setHeader('Content-Length', BIG.length);
              res.end(BIG);
            }
            return;
          }
          if (url === '/204') {
            res.statusCode = 204;
            return res.end();
          }
          if (url === '/head') {
            res.setHeader('Content-Length', 1000);
            return res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1000, 0x61));
          }
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              method: req.method,
              url,
              raw: req.rawHeaders,
              len: body.length,
              sha: sha(body),
              httpVersion: req.httpVersion,
            }),
          );
        });
      },
      {
        setup: (s) => s.on('checkContinue', (req, res) => (res.writeContinue(), s.emit('request', req, res))),
      },
    );
    // Raw origin: close-delimited bodies and exact framing the node:http origin would not produce.
    raw = await startRawOrigin((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        const path = buf.split(' ')[1];
        buf = '';
        if (path === '/close') {
          s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end of the connection');
        } else if (path === '/304') {
          s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\nETag: "x"\r\n\r\n');
        } else if (path === '/chunked-trailer') {
          s.write(
            'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n4\r\nabcd\r\n3;e=1\r\nefg\r\n0\r\nX-T: 1\r\n\r\n',
          );
        } else {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      });
      s.on('error', () => {});
    });
    proxy = await startProxy();
    base = `http://127.0.0.1:${origin.port}`;
    rawBase = `http://127.0.0.1:${raw.port}`;
  });

  after(async () => {
    await proxy?.close();
    await origin?.close();
    await raw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const echo = async (args: string[]) => {
    const r = await curl(['-x', proxy.url, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as {
      method: string;
      url: string;
      raw: string[];
      len: number;
      sha: string;
      httpVersion: string;
    };
  };
  const headerNames = (raw: string[]) => raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());

  it('forwards a GET as origin-form with the URI authority as Host', async () => {
    const e = await echo([`${base}/a/b?c=d`]);
    assert.equal(e.method, 'GET');
    assert.equal(e.url, '/a/b?c=d');
    assert.equal(e.httpVersion, '1.1');
    const i = e.raw.findIndex((n) => n.toLowerCase() === 'host');
    assert.equal(e.raw[i + 1], `127.0.0.1:${origin.port}`);
  });

  it('forwards a POST with Content-Length intact', async () => {
    const e = await echo([`${base}/post`, '--data-binary', 'hello, origin']);
    assert.equal(e.method, 'POST');
    assert.equal(e.len, 13);
    assert.equal(e.sha, sha(Buffer.from('hello, origin')));
  });

  it('streams a large chunked upload intact (sha256)', async () => {
    const f = join(dir, 'up.bin');
    writeFileSync(f, BIG);
    const e = await echo([`${base}/up`, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${f}`]);
    assert.equal(e.len, BIG.length);
    assert.equal(e.sha, sha(BIG));
    assert.ok(headerNames(e.raw).includes('transfer-encoding'));
  });

  it('streams a large Content-Length upload intact (sha256)', async () => {
    const f = join(dir, 'up2.bin');
    writeFileSync(f, BIG);
    const e = await echo([`${base}/up`, '--data-binary', `@${f}`]);
    assert.equal(e.len, BIG.length);
    assert.equal(e.sha, sha(BIG));
  });

  for (const kind of ['content-length', 'chunked']) {
    it(`streams a large ${kind} download intact (sha256)`, async () => {
      const f = join(dir, `down-${kind}.bin`);
      const r = await curl(['-x', proxy.url, '-o', f, `${base}/big?${kind}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha(readFileSync(f)), sha(BIG));
    });
  }

  it('keeps both sides alive: several URLs in one curl use one client and one origin connection', async () => {
    const before = origin.connections();
    const r = await curl([
      '-x',
      proxy.url,
      '-w',
      '%{http_code}:%{num_connects}\n',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      `${base}/1`,
      `${base}/2`,
      `${base}/3`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split('\n'),
      ['200:1', '200:0', '200:0'],
      'curl reused its proxy connection',
    );
    assert.ok(
      origin.connections() - before <= 1,
      `origin saw ${origin.connections() - before} new connections`,
    );
    // ... and the pooled origin connection serves the next client too.
    const again = origin.connections();
    await echo([`${base}/4`]);
    assert.equal(origin.connections(), again, 'the idle origin connection was reused across clients');
  });

  it('keeps an HTTP/1.0 client alive when it asks (Connection: keep-alive)', async () => {
    const c = new RawClient(proxy.port);
    try {
      const req = `GET ${rawBase}/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`;
      await c.send(req);
      const first = await c.responses(1);
      assert.match(first, /\r\nConnection: keep-alive\r\n/i);
      await c.send(req);
      await c.responses(2);
      assert.equal(c.ended, false);
    } finally {
      c.destroy();
    }
  });

  it('strips hop-by-hop headers and adds no Via / X-Forwarded-For by default', async () => {
    const e = await echo([
      `${base}/h`,
      '-H',
      'Connection: X-Hop-One, x-hop-two',
      '-H',
      'X-Hop-One: 1',
      '-H',
      'X-Hop-Two: 2',
      '-H',
      'Keep-Alive: timeout=5',
      '-H',
      'TE: trailers',
      '-H',
      'Proxy-Connection: keep-alive',
      '-H',
      'Proxy-Authorization: Basic dXNlcjpwYXNz',
      '-H',
      'X-End-To-End: kept',
    ]);
    const names = headerNames(e.raw);
    for (const gone of [
      'connection',
      'x-hop-one',
      'x-hop-two',
      'keep-alive',
      'te',
      'proxy-connection',
      'proxy-authorization',
      'via',
      'x-forwarded-for',
    ]) {
      assert.ok(!names.includes(gone), `${gone} reached the origin: ${names.join(', ')}`);
    }
    assert.ok(names.includes('x-end-to-end'));
  });

  it('never lets Connection remove the framing (Connection: Content-Length)', async () => {
    const e = await echo([`${base}/p`, '-H', 'Connection: Content-Length', '--data-binary', 'abc']);
    assert.equal(e.len, 3);
  });

  it('adds Via and X-Forwarded-For when enabled', async () => {
    proxy.http.via = true;
    proxy.http.xForwardedFor = true;
    try {
      const r = await curl(['-x', proxy.url, '-i', `${base}/v`, '-H', 'X-Forwarded-For: 192.0.2.7']);
      assert.equal(r.code, 0, r.stderr);
      const [head, body] = r.stdout.split('\r\n\r\n');
      assert.match(head!, /\r\nVia: 1\.1 ferry(\r\n|$)/, 'Via on the response');
      const e = JSON.parse(body!) as { raw: string[] };
      const get = (n: string) => e.raw[e.raw.findIndex((x) => x.toLowerCase() === n) + 1];
      assert.equal(get('via'), '1.1 ferry');
      assert.equal(get('x-forwarded-for'), '192.0.2.7, 127.0.0.1');
    } finally {
      proxy.http.via = false;
      proxy.http.xForwardedFor = false;
    }
  });

  it('frames HEAD, 204 and 304 responses without a body and keeps the connection usable', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(
        `HEAD ${base}/head HTTP/1.1\r\nHost: x\r\n\r\n` +
          `GET ${base}/204 HTTP/1.1\r\nHost: x\r\n\r\n` +
          `GET ${rawBase}/304 HTTP/1.1\r\nHost: x\r\n\r\n` +
          `GET ${rawBase}/after HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      const text = await c.responses(4);
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
      assert.deepEqual(statuses, ['200', '204', '304', '200']);
      assert.match(
        text,
        /Content-Length: 1000\r\n/,
        'HEAD keeps the Content-Length of the body it would have',
      );
      await c.until('the last body', (t) => t.endsWith('\r\n\r\nok'));
      assert.ok(!text.includes('aaaa'), 'no body bytes after HEAD');
    } finally {
      c.destroy();
    }
  });

  it('passes a close-delimited response through and then closes the client connection', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(`GET ${rawBase}/close HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.waitEnded();
      const text = c.text();
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nConnection: close\r\n/);
      assert.ok(text.endsWith('\r\n\r\nuntil the end of the connection'), text);
    } finally {
      c.destroy();
    }
  });

  it('passes chunked responses through raw (with trailers) to HTTP/1.1 clients', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(`GET ${rawBase}/chunked-trailer HTTP/1.1\r\nHost: x\r\n\r\n`);
      const text = await c.until('the chunked body', (t) => t.endsWith('0\r\nX-T: 1\r\n\r\n'));
      assert.match(text, /Transfer-Encoding: chunked\r\n/);
      assert.ok(text.includes('\r\n\r\n4\r\nabcd\r\n3;e=1\r\nefg\r\n'));
    } finally {
      c.destroy();
    }
  });

  it('de-chunks for HTTP/1.0 clients and closes after the body', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(`GET ${rawBase}/chunked-trailer HTTP/1.0\r\n\r\n`);
      await c.waitEnded();
      const text = c.text();
      assert.ok(!/transfer-encoding/i.test(text), text);
      assert.ok(text.endsWith('\r\n\r\nabcdefg'), text);
    } finally {
      c.destroy();
    }
  });

  it('passes 100 Continue through (curl would otherwise wait 10 s and time out)', async () => {
    const r = await curl(
      [
        '-x',
        proxy.url,
        '-v',
        '--expect100-timeout',
        '10',
        '-H',
        'Expect: 100-continue',
        '--data-binary',
        'x'.repeat(5000),
        `${base}/c`,
      ],
      8000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /HTTP\/1\.1 100 Continue/);
    assert.equal((JSON.parse(r.stdout) as { len: number }).len, 5000);
  });

  it('answers pipelined requests in order', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(
        `GET ${base}/p1 HTTP/1.1\r\nHost: x\r\n\r\nGET ${base}/p2 HTTP/1.1\r\nHost: x\r\n\r\nPOST ${base}/p3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi`,
      );
      const text = await c.until('three bodies', (t) => (t.match(/"url":/g) ?? []).length === 3);
      assert.deepEqual(
        [...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]),
        ['/p1', '/p2', '/p3'],
      );
    } finally {
      c.destroy();
    }
  });

  it('refuses origin-form requests with a 400 saying this is a proxy', async () => {
    const r = await curl(['-i', `${proxy.url}/`]);
    assert.match(r.stdout, /^HTTP\/1\.1 400 /);
    assert.match(r.stdout, /forward proxy/);
  });

  it('forwards to an IPv6 literal destination', async () => {
    const o6 = await startHttpOrigin((req, res) => res.end(`v6 ${req.headers.host}`), { host: '::1' });
    try {
      const r = await curl(['-x', proxy.url, `http://[::1]:${o6.port}/`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `v6 [::1]:${o6.port}`);
    } finally {
      await o6.close();
    }
  });
});

describe('http proxy: behind a sniffer (mixed inbound)', { skip: skipReason({ tools: ['curl'] }) }, () => {
  it('serves a request whose first bytes were already read and whose socket was paused', async () => {
    const { createMixedHandler } = await import('../../../src/inbound/mixed.js');
    const { createServer } = await import('node:net');
    const origin = await startHttpOrigin((req, res) => res.end(`sniffed ${req.url}`));
    const proxy = await startProxy();
    const socks = { handle: (s: import('node:net').Socket) => s.destroy() };
    const mixed = createMixedHandler(proxy.ctx, proxy.handler, socks);
    const server = createServer((s) => mixed.handle(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as import('node:net').AddressInfo).port;
      const url = `http://127.0.0.1:${origin.port}`;
      const r = await curl([
        '-x',
        `http://127.0.0.1:${port}`,
        `${url}/one`,
        `${url}/two`,
        '-w',
        ' %{num_connects}\n',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'sniffed /one 1\nsniffed /two 0\n');
    } finally {
      server.close();
      await proxy.close();
      await origin.close();
    }
  });
});

describe('http proxy: session records', { skip: skipReason({ tools: ['curl'] }) }, () => {
  it('writes one audit record per request, also for requests on pooled origin connections', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('0123456789'));
    const proxy = await startProxy({ accessLog: 'audit' });
    try {
      const url = `http://127.0.0.1:${origin.port}`;
      const r = await curl(['-x', proxy.url, `${url}/a`, `${url}/b`, `${url}/c`]);
      assert.equal(r.code, 0, r.stderr);
      const records = proxy
        .logs()
        .split('\n')
        .filter((l) => l.includes('"msg":"session"'))
        .map(
          (l) => JSON.parse(l) as { cmd: string; dest: string; down: number; reused?: boolean; end: string },
        );
      assert.equal(records.length, 3, proxy.logs());
      for (const rec of records) {
        assert.equal(rec.cmd, 'http');
        assert.equal(rec.dest, `127.0.0.1:${origin.port}`);
        assert.ok(rec.down > 10, 'response bytes counted');
        assert.equal(rec.end, 'closed');
      }
      assert.equal(
        records.filter((x) => x.reused === true).length,
        2,
        'two requests rode the pooled connection',
      );
      assert.equal(origin.connections(), 1);
    } finally {
      await proxy.close();
      await origin.close();
    }
  });
});

// Authentication (Basic, RFC 7617), error mapping (X-Ferry-Error + status) and hostile input:
// oversized heads, garbage, smuggling attempts, slowloris, bad origins, stale pooled connections.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'node:net';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import {
  closedPort,
  curl,
  RawClient,
  startHttpOrigin,
  startProxy,
  startRawOrigin,
  type Origin,
  type Proxy,
} from './harness.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('http proxy: authentication', { skip: skipReason({ tools: ['curl'] }) }, () => {
  let proxy: Proxy;
  let throttled: Proxy;
  let origin: Origin;
  let base: string;

  before(async () => {
    origin = await startHttpOrigin((_req, res) => res.end('authorized'));
    base = `http://127.0.0.1:${origin.port}`;
    proxy = await startProxy({ users: [{ name: 'alice', password: 's3cret-pw' }] });
    throttled = await startProxy({
      users: [{ name: 'alice', password: 's3cret-pw' }],
      throttle: { maxFailures: 3, windowMs: 60_000 },
    });
  });
  after(async () => {
    await proxy?.close();
    await throttled?.close();
    await origin?.close();
  });

  it('answers a request without credentials with 407 and a Basic challenge', async () => {
    const r = await curl(['-x', proxy.url, '-i', `${base}/`]);
    assert.match(r.stdout, /^HTTP\/1\.1 407 /);
    assert.match(r.stdout, /\r\nProxy-Authenticate: Basic realm="ferry"/);
    assert.match(r.stdout, /\r\nX-Ferry-Error: E_AUTH_REQUIRED\r\n/);
  });

  it('answers wrong credentials with 407 E_AUTH', async () => {
    const r = await curl(['-x', proxy.url, '-i', '--proxy-user', 'alice:wrong', `${base}/`]);
    assert.match(r.stdout, /^HTTP\/1\.1 407 /);
    assert.match(r.stdout, /\r\nX-Ferry-Error: E_AUTH\r\n/);
  });

  it('lets the right credentials through, for absolute-form and CONNECT', async () => {
    const a = await curl(['-x', proxy.url, '--proxy-user', 'alice:s3cret-pw', `${base}/`]);
    assert.equal(a.stdout, 'authorized');
    const b = await curl(['-x', proxy.url, '--proxy-user', 'alice:s3cret-pw', '--proxytunnel', `${base}/`]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, 'authorized');
    const c = await curl(['-x', proxy.url, '--proxy-user', 'alice:nope', '--proxytunnel', `${base}/`]);
    assert.notEqual(c.code, 0, 'CONNECT with a wrong password must fail');
    assert.match(c.stderr, /407/);
  });

  it('keeps the connection open after a 407 so the client can retry on it', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(`GET ${base}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.responses(1);
      await c.send(
        `GET ${base}/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${b64('alice:s3cret-pw')}\r\n\r\n`,
      );
      const t = await c.until('the authorized body', (s) => s.endsWith('authorized'));
      assert.match(t, /HTTP\/1\.1 407 [\s\S]*HTTP\/1\.1 200 /);
      assert.equal(c.ended, false);
    } finally {
      c.destroy();
    }
  });

  it('throttles with 429 after repeated failures, even for the right password', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await curl(['-x', throttled.url, '-i', '--proxy-user', 'alice:bad', `${base}/`]);
      assert.match(r.stdout, /^HTTP\/1\.1 407 /, `failure ${i + 1}`);
    }
    const r = await curl(['-x', throttled.url, '-i', '--proxy-user', 'alice:s3cret-pw', `${base}/`]);
    assert.match(r.stdout, /^HTTP\/1\.1 429 /);
    assert.match(r.stdout, /X-Ferry-Error: E_AUTH_THROTTLED/);
  });

  it('never logs passwords or Proxy-Authorization values', async () => {
    await curl(['-x', proxy.url, '--proxy-user', 'alice:leaky-password', `${base}/`]);
    const logs = proxy.logs() + throttled.logs();
    assert.ok(logs.length > 0, 'refusals were logged');
    for (const secret of [
      'leaky-password',
      's3cret-pw',
      b64('alice:leaky-password'),
      b64('alice:s3cret-pw'),
      'Basic ',
    ]) {
      assert.ok(!logs.includes(secret), `the log contains ${secret}`);
    }
  });
});

describe('http proxy: errors and hostile clients', { skip: skipReason({ tools: ['curl'] }) }, () => {
  let proxy: Proxy;
  let origin: Origin;
  let base: string;
  let reject: Origin;

  before(async () => {
    origin = await startHttpOrigin((req, res) => {
      req.resume();
      req.on('end', () => res.end('fine'));
    });
    reject = await startHttpOrigin((_req, res) => res.end('should not be reached'));
    base = `http://127.0.0.1:${origin.port}`;
    proxy = await startProxy({
      timeouts: { handshakeMs: 500 },
      limits: { maxHeaderBytes: 4096 },
      rules: [
        {
          name: 'no-reject-port',
          ports: [reject.port],
          action: 'reject',
          reason: 'port blocked by test rule',
        },
      ],
    });
  });
  after(async () => {
    await proxy?.close();
    await origin?.close();
    await reject?.close();
  });

  const status = async (args: string[]) => {
    const r = await curl(['-x', proxy.url, '-i', ...args]);
    return r.stdout;
  };

  it('maps a refused upstream connection to 502 E_UPSTREAM_REFUSED', async () => {
    const out = await status([`http://127.0.0.1:${await closedPort()}/`]);
    assert.match(out, /^HTTP\/1\.1 502 /);
    assert.match(out, /\r\nX-Ferry-Error: E_UPSTREAM_REFUSED\r\n/);
    assert.match(out, /\r\n\r\nferry: E_UPSTREAM_REFUSED: .*refused\n$/);
  });

  it('maps a routing rule rejection to 403 E_POLICY_DENIED (and sends nothing to the origin)', async () => {
    const out = await status([`http://127.0.0.1:${reject.port}/`]);
    assert.match(out, /^HTTP\/1\.1 403 /);
    assert.match(out, /X-Ferry-Error: E_POLICY_DENIED/);
    assert.match(out, /port blocked by test rule/);
    assert.equal(reject.connections(), 0);
  });

  it('refuses a destination outside allow_destinations with 403 E_DEST_FORBIDDEN', async () => {
    const out = await status(['http://10.255.255.1/']);
    assert.match(out, /^HTTP\/1\.1 403 /);
    assert.match(out, /X-Ferry-Error: E_DEST_FORBIDDEN/);
  });

  it('answers a head over limits.max_header_bytes with 431 and closes', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(`GET ${base}/ HTTP/1.1\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
      await c.waitEnded();
      assert.match(c.text(), /^HTTP\/1\.1 431 /);
      assert.match(c.text(), /X-Ferry-Error: E_HEADER_TOO_LARGE/);
    } finally {
      c.destroy();
    }
  });

  it('answers a garbage request line with 400 and closes', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send('\u0016\u0003\u0001 garbage that is not HTTP\r\n\r\n');
      await c.waitEnded();
      assert.match(c.text(), /^HTTP\/1\.1 400 /);
      assert.match(c.text(), /\r\nConnection: close\r\n/);
    } finally {
      c.destroy();
    }
  });

  for (const [name, req] of [
    [
      'Content-Length with Transfer-Encoding',
      'POST {base}/ HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'conflicting Content-Length',
      'POST {base}/ HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd',
    ],
    [
      'Transfer-Encoding not ending in chunked',
      'POST {base}/ HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n',
    ],
    ['a bare-LF head', 'GET {base}/ HTTP/1.1\nHost: x\n\n'],
    ['obs-fold', 'GET {base}/ HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n'],
  ] as const) {
    it(`refuses a smuggling attempt (${name}) with 400 and closes, sending nothing on`, async () => {
      const before = origin.connections();
      const c = new RawClient(proxy.port);
      try {
        await c.send(req.replace('{base}', base));
        await c.waitEnded();
        assert.match(c.text(), /^HTTP\/1\.1 400 /);
        assert.equal(origin.connections(), before);
      } finally {
        c.destroy();
      }
    });
  }

  it('cuts a request whose chunked body is malformed with 400', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send(`POST ${base}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`);
      await c.waitEnded();
      assert.match(c.text(), /^HTTP\/1\.1 400 /);
      assert.match(c.text(), /malformed chunked body/);
    } finally {
      c.destroy();
    }
  });

  it('closes a slowloris client at the handshake deadline although it keeps sending', async () => {
    const c = new RawClient(proxy.port);
    const req = `GET ${base}/ HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(100)}`;
    let i = 0;
    const t0 = Date.now();
    const timer = setInterval(() => {
      if (!c.closed && i < req.length) void c.send(req[i++]!);
    }, 100);
    try {
      await c.waitEnded(4000);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 400 && elapsed < 2000, `closed after ${elapsed} ms (deadline 500 ms)`);
      assert.ok(i > 3 && i < req.length, 'it was still sending when cut off');
      assert.match(c.text(), /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(timer);
      c.destroy();
    }
  });

  it('closes a connection that sends nothing at the handshake deadline', async () => {
    const c = new RawClient(proxy.port);
    try {
      await c.send('');
      await c.waitEnded(3000);
    } finally {
      c.destroy();
    }
  });

  it('answers 502 when the origin sends an invalid response', async () => {
    const bad = await startRawOrigin((s: Socket) => {
      s.on('error', () => {});
      s.once('data', () => s.end('HTTP/1.1 2OO OK\r\n\r\n'));
    });
    try {
      const out = await status([`http://127.0.0.1:${bad.port}/`]);
      assert.match(out, /^HTTP\/1\.1 502 /);
      assert.match(out, /invalid response/);
    } finally {
      await bad.close();
    }
  });

  it('retries a body-less request once when a pooled connection turns out dead', async () => {
    // The origin answers the first request of each connection, then silently closes the
    // connection when a second request arrives on it: a keep-alive race, as with a short
    // server keep-alive timeout.
    const flaky = await startRawOrigin((s: Socket) => {
      let served = 0;
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        if (!d.includes('\r\n\r\n')) return;
        if (served++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        else s.destroy();
      });
    });
    try {
      const url = `http://127.0.0.1:${flaky.port}/`;
      const a = await curl(['-x', proxy.url, url]);
      assert.equal(a.stdout, 'hello');
      await waitFor('the origin connection to be pooled', () => proxy.handler.pooledConnections > 0);
      const b = await curl(['-x', proxy.url, url]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(b.stdout, 'hello');
      assert.equal(flaky.connections(), 2, 'the retry used a new connection');
    } finally {
      await flaky.close();
    }
  });

  it('never retries a non-idempotent request on a dead pooled connection (RFC 9110 §9.2.2)', async () => {
    const flaky = await startRawOrigin((s: Socket) => {
      let served = 0;
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        if (!d.includes('\r\n\r\n')) return;
        if (served++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        else s.destroy();
      });
    });
    try {
      const url = `http://127.0.0.1:${flaky.port}/`;
      assert.equal((await curl(['-x', proxy.url, url])).stdout, 'hello');
      await waitFor('the origin connection to be pooled', () => proxy.handler.pooledConnections > 0);
      const out = await status(['-X', 'POST', url]);
      assert.match(out, /^HTTP\/1\.1 502 /);
      assert.equal(flaky.connections(), 1, 'no second connection was opened for a retry');
    } finally {
      await flaky.close();
    }
  });

  it('closes origin and client connections when the client disconnects mid-response', async () => {
    let originSock: Socket | null = null;
    const slow = await startRawOrigin((s: Socket) => {
      originSock = s;
      s.on('error', () => {});
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial'));
    });
    try {
      const c = new RawClient(proxy.port);
      await c.send(`GET http://127.0.0.1:${slow.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.until('the partial body', (t) => t.endsWith('partial'));
      c.destroy();
      await waitFor(
        'the origin connection to be closed',
        () => originSock !== null && (originSock as Socket).destroyed,
      );
    } finally {
      await slow.close();
    }
  });

  it('survives random garbage and truncated requests, leaving no connection open', async () => {
    const { randomBytes } = await import('node:crypto');
    const inputs: Buffer[] = [];
    for (let i = 0; i < 60; i++) inputs.push(randomBytes(1 + ((i * 37) % 700)));
    const valid = `POST ${base}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
    // Every prefix of a valid request, cut off by the client closing.
    for (let i = 1; i < valid.length; i += 7) inputs.push(Buffer.from(valid.slice(0, i)));
    const clients = inputs.map((b) => {
      const c = new RawClient(proxy.port);
      void c.send(b).then(() => c.socket.end());
      return c;
    });
    try {
      await waitFor(
        'every hostile connection to be closed',
        () => clients.every((c) => c.closed || c.ended),
        {
          timeoutMs: 8000,
        },
      );
      await waitFor('the proxy to hold no client connection', () => proxy.clientCount() === 0, {
        timeoutMs: 8000,
      });
      const ok = await curl(['-x', proxy.url, `${base}/still-alive`]);
      assert.equal(ok.stdout, 'fine');
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('closes an idle keep-alive connection after timeouts.idle', async () => {
    const p = await startProxy({ timeouts: { idleMs: 300 } });
    const c = new RawClient(p.port);
    try {
      await c.send(`GET ${base}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.responses(1);
      const t0 = Date.now();
      await c.waitEnded(3000);
      assert.ok(Date.now() - t0 >= 200, 'not before the idle timeout');
    } finally {
      c.destroy();
      await p.close();
    }
  });
});

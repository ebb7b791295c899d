import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clientResponseHead,
  CONN_CLOSE,
  CONN_KEEP,
  CONN_UPGRADE,
  originRequestHead,
} from '../../../src/inbound/http/forward-headers.js';
import { frameRequest } from '../../../src/inbound/http/framing.js';
import { parseRequestHead, parseResponseHead } from '../../../src/inbound/http/head.js';
import { parseBasic } from '../../../src/inbound/http/proxy-auth.js';
import { parseAbsoluteForm, parseAuthority, type Target } from '../../../src/inbound/http/target.js';

describe('request targets', () => {
  it('parses absolute-form URIs into destination, Host authority and origin-form path', () => {
    assert.deepEqual(parseAbsoluteForm('http://Example.COM:8080/a/b?c=d#frag'), {
      dest: { host: 'example.com', port: 8080, kind: 'domain' },
      authority: 'Example.COM:8080',
      path: '/a/b?c=d',
    });
    assert.deepEqual(parseAbsoluteForm('HTTP://127.0.0.1'), {
      dest: { host: '127.0.0.1', port: 80, kind: 'ipv4' },
      authority: '127.0.0.1',
      path: '/',
    });
    const v6 = parseAbsoluteForm('http://[::1]:81?q') as Target;
    assert.deepEqual(v6.dest, { host: '::1', port: 81, kind: 'ipv6' });
    assert.equal(v6.path, '/?q');
    assert.equal(v6.authority, '[::1]:81');
  });

  for (const bad of [
    '/origin-form',
    '*',
    'http://user:pw@host/',
    'http:///x',
    'http://host:0/',
    'http://host:65536/',
    'http://host:8a/',
    'http://[::1/',
    'http://[zz::1]/',
    'http://::1/',
    'http://ho%73t/',
    'http://bad_host-.example/',
    'ftp://host/',
  ]) {
    it(`refuses the target ${JSON.stringify(bad)}`, () =>
      assert.equal(typeof parseAbsoluteForm(bad), 'string'));
  }

  it('says to use CONNECT for https:// targets', () => {
    assert.match(parseAbsoluteForm('https://a/') as string, /CONNECT/);
  });

  it('parses CONNECT authorities and requires the port', () => {
    assert.deepEqual(parseAuthority('[::1]:443', -1), { host: '::1', port: 443, kind: 'ipv6' });
    assert.deepEqual(parseAuthority('a.example:443', -1), { host: 'a.example', port: 443, kind: 'domain' });
    assert.equal(typeof parseAuthority('a.example', -1), 'string');
    assert.equal(typeof parseAuthority('a.example:', -1), 'string');
  });
});

describe('Proxy-Authorization Basic', () => {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  it('decodes user and password, splitting at the first colon', () => {
    assert.deepEqual(parseBasic(`Basic ${b64('alice:se:cret')}`), { user: 'alice', password: 'se:cret' });
    assert.deepEqual(parseBasic(`bAsIc   ${b64('\u00e9:\u00fc')}`), { user: '\u00e9', password: '\u00fc' });
  });
  it('refuses other schemes and malformed base64', () => {
    assert.equal(parseBasic(`Bearer ${b64('a:b')}`), null);
    assert.equal(parseBasic('Basic'), null);
    assert.equal(parseBasic('Basic a!b='), null);
    assert.equal(parseBasic('Basic YWJj'), null); // "abc": no colon
    assert.equal(parseBasic(`Basic ${b64('a:b')}=`), null);
  });
});

describe('hop-by-hop header rewriting', () => {
  const target = parseAbsoluteForm('http://o.example:81/p') as Target;

  it('drops hop-by-hop and Connection-named fields, replaces Host, never drops framing fields', () => {
    const h = parseRequestHead(
      'POST http://o.example:81/p HTTP/1.1\r\nHost: evil\r\nConnection: keep-alive, X-Hop, Content-Length\r\n' +
        'X-Hop: 1\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nProxy-Authenticate: Basic\r\nTE: trailers\r\n' +
        'Upgrade: h2c\r\nContent-Length: 3\r\nX-End: 2\r\n\r\n',
    );
    frameRequest(h);
    const out = originRequestHead(h, target, {
      upgrade: false,
      via: false,
      forwardedFor: null,
      upstreamProxy: null,
    });
    assert.equal(out, 'POST /p HTTP/1.1\r\nHost: o.example:81\r\nContent-Length: 3\r\nX-End: 2\r\n\r\n');
  });

  it('adds Via and appends to X-Forwarded-For only when asked', () => {
    const h = parseRequestHead('GET http://o.example:81/p HTTP/1.0\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n');
    assert.equal(
      originRequestHead(h, target, {
        upgrade: false,
        via: true,
        forwardedFor: '127.0.0.2',
        upstreamProxy: null,
      }),
      'GET /p HTTP/1.1\r\nHost: o.example:81\r\nVia: 1.0 ferry\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.2\r\n\r\n',
    );
    assert.equal(
      originRequestHead(h, target, { upgrade: false, via: false, forwardedFor: null, upstreamProxy: null }),
      'GET /p HTTP/1.1\r\nHost: o.example:81\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n',
    );
  });

  it("to an HTTP upstream proxy: absolute-form, its Proxy-Authorization instead of the client's", () => {
    const h = parseRequestHead(
      'GET http://o.example:81/p?q=1 HTTP/1.1\r\nHost: o.example:81\r\nProxy-Authorization: Basic Y2xpZW50OnB3\r\nAccept: */*\r\n\r\n',
    );
    const t = parseAbsoluteForm('http://o.example:81/p?q=1#frag') as Target;
    assert.equal(
      originRequestHead(h, t, {
        upgrade: false,
        via: false,
        forwardedFor: null,
        upstreamProxy: { proxyAuthorization: 'Basic dXA6c2VjcmV0' },
      }),
      'GET http://o.example:81/p?q=1 HTTP/1.1\r\nHost: o.example:81\r\nProxy-Authorization: Basic dXA6c2VjcmV0\r\nAccept: */*\r\n\r\n',
    );
    assert.equal(
      originRequestHead(h, t, {
        upgrade: false,
        via: false,
        forwardedFor: null,
        upstreamProxy: { proxyAuthorization: null },
      }),
      'GET http://o.example:81/p?q=1 HTTP/1.1\r\nHost: o.example:81\r\nAccept: */*\r\n\r\n',
    );
  });

  it('passes a WebSocket upgrade with Connection: Upgrade', () => {
    const h = parseRequestHead(
      'GET http://o.example:81/p HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n',
    );
    assert.equal(
      originRequestHead(h, target, { upgrade: true, via: false, forwardedFor: null, upstreamProxy: null }),
      'GET /p HTTP/1.1\r\nHost: o.example:81\r\nSec-WebSocket-Key: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
  });

  it('rewrites response heads: hop-by-hop out, our connection management in', () => {
    const h = parseResponseHead(
      'HTTP/1.0 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nProxy-Authenticate: Basic\r\n\r\n',
    );
    assert.equal(
      clientResponseHead(h, CONN_CLOSE, false, true),
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nProxy-Authenticate: Basic\r\nConnection: close\r\nVia: 1.0 ferry\r\n\r\n',
    );
    const te = parseResponseHead(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\nTrailer: X\r\n\r\n',
    );
    assert.equal(
      clientResponseHead(te, CONN_KEEP, false, false),
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n',
    );
    assert.equal(
      clientResponseHead(te, CONN_CLOSE, true, false),
      'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n',
    );
    const up = parseResponseHead(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    assert.equal(
      clientResponseHead(up, CONN_UPGRADE, false, false),
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FerryError } from '../../../src/core/errors.js';
import { frameRequest, frameResponse, chunkedIsFinal } from '../../../src/inbound/http/framing.js';
import {
  BODY_CHUNKED,
  BODY_CLOSE,
  BODY_LENGTH,
  BODY_NONE,
  parseContentLength,
  parseRequestHead,
  parseResponseHead,
} from '../../../src/inbound/http/head.js';

const req = (s: string) => parseRequestHead(s);
const rejects = (s: string, why: RegExp) =>
  assert.throws(
    () => frameRequest(req(s)),
    (e: unknown) => e instanceof FerryError && e.code === 'E_BAD_REQUEST' && why.test(e.message),
  );

describe('http request head parser', () => {
  it('parses an absolute-form request line, fields and their raw lines', () => {
    const h = req('GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\nX-Y:  v w \t\r\n\r\n');
    assert.equal(h.method, 'GET');
    assert.equal(h.target, 'http://a.example/x?y');
    assert.equal(h.minor, 1);
    assert.deepEqual(h.fields, [
      'host',
      'a.example',
      'Host: a.example\r\n',
      'x-y',
      'v w',
      'X-Y:  v w \t\r\n',
    ]);
    assert.equal(h.hostCount, 1);
  });

  it('keeps obs-text bytes of field values byte for byte', () => {
    const h = req('GET http://a/ HTTP/1.1\r\nX: caf\u00e9\u00ff\r\n\r\n');
    assert.equal(h.fields[1], 'caf\u00e9\u00ff');
  });

  it('treats HTTP/1.0 as minor 0 and HTTP/1.2 as 1.1', () => {
    assert.equal(req('GET http://a/ HTTP/1.0\r\n\r\n').minor, 0);
    assert.equal(req('GET http://a/ HTTP/1.2\r\n\r\n').minor, 1);
  });

  it('collects Connection options in lower case and notes Proxy-Authorization', () => {
    const h = req(
      'GET http://a/ HTTP/1.1\r\nConnection: Keep-Alive, X-Foo\r\nconnection: ,close,\r\nProxy-Authorization: Basic eA==\r\n\r\n',
    );
    assert.deepEqual(h.connection, ['keep-alive', 'x-foo', 'close']);
    assert.equal(h.proxyAuthorization, 'Basic eA==');
  });

  for (const [name, head, why] of [
    ['obs-fold', 'GET http://a/ HTTP/1.1\r\nX: a\r\n  b\r\n\r\n', /folding/],
    ['whitespace before the colon', 'GET http://a/ HTTP/1.1\r\nX : a\r\n\r\n', /before colon/],
    ['a bare CR inside a value', 'GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n', /bare CR|control/],
    ['a bare LF inside the head', 'GET http://a/ HTTP/1.1\r\nX: a\nY: b\r\n\r\n', /bare LF/],
    ['a NUL in a value', 'GET http://a/ HTTP/1.1\r\nX: a\u0000b\r\n\r\n', /control/],
    ['an invalid token char in a name', 'GET http://a/ HTTP/1.1\r\nX(y): a\r\n\r\n', /field name/],
    ['an empty field name', 'GET http://a/ HTTP/1.1\r\n: a\r\n\r\n', /field name/],
    ['two spaces in the request line', 'GET  http://a/ HTTP/1.1\r\n\r\n', /request target/],
    ['a missing version', 'GET http://a/\r\n\r\n', /request target|version/],
    ['HTTP/2.0', 'GET http://a/ HTTP/2.0\r\n\r\n', /version/],
    ['a lower-case version', 'GET http://a/ http/1.1\r\n\r\n', /version/],
    ['a control char in the target', 'GET http://a/\u0001 HTTP/1.1\r\n\r\n', /request target/],
    ['garbage', 'HELLO\r\n\r\n', /request line/],
    [
      'conflicting Content-Length lines',
      'POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      /conflicting/,
    ],
    [
      'a Content-Length list with different values',
      'POST http://a/ HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n',
      /Content-Length/,
    ],
    ['a signed Content-Length', 'POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n', /Content-Length/],
    ['a hex Content-Length', 'POST http://a/ HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n', /Content-Length/],
    [
      'Content-Length with Transfer-Encoding (smuggling)',
      'POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      /both/,
    ],
    [
      'Transfer-Encoding not ending in chunked',
      'POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
      /chunked/,
    ],
    [
      'chunked applied twice',
      'POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
      /chunked/,
    ],
    [
      'Transfer-Encoding in HTTP/1.0',
      'POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
      /1\.0/,
    ],
    [
      'two Proxy-Authorization fields',
      'GET http://a/ HTTP/1.1\r\nProxy-Authorization: a\r\nProxy-Authorization: b\r\n\r\n',
      /Proxy-Authorization/,
    ],
  ] as const) {
    it(`rejects ${name} with 400`, () => rejects(head, why));
  }

  it('accepts identical repeated Content-Length values (RFC 9110 §8.6)', () => {
    const h = req('POST http://a/ HTTP/1.1\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\n');
    frameRequest(h);
    assert.equal(h.bodyKind, BODY_LENGTH);
    assert.equal(h.bodyLength, 5);
  });

  it('frames requests: chunked, length, none', () => {
    const a = req('POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n');
    frameRequest(a);
    assert.equal(a.bodyKind, BODY_CHUNKED);
    const b = req('POST http://a/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n');
    frameRequest(b);
    assert.equal(b.bodyKind, BODY_NONE);
    const c = req('GET http://a/ HTTP/1.1\r\n\r\n');
    frameRequest(c);
    assert.equal(c.bodyKind, BODY_NONE);
  });

  it('parseContentLength handles OWS in lists and refuses junk', () => {
    assert.equal(parseContentLength('42'), 42);
    assert.equal(parseContentLength(' 7 ,7'), 7);
    assert.equal(parseContentLength(''), -1);
    assert.equal(parseContentLength('1 2'), -1);
    assert.equal(parseContentLength('5,'), -1);
    assert.equal(parseContentLength('1234567890123456'), -1);
  });

  it('chunkedIsFinal follows RFC 9112 §6.1', () => {
    assert.equal(chunkedIsFinal('chunked'), true);
    assert.equal(chunkedIsFinal('gzip , CHUNKED'), true);
    assert.equal(chunkedIsFinal('chunked, gzip'), false);
    assert.equal(chunkedIsFinal(''), false);
  });
});

describe('http response head parser', () => {
  it('parses a status line with and without a reason phrase', () => {
    const a = parseResponseHead('HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n');
    assert.equal(a.status, 404);
    assert.equal(a.statusRest, '404 Not Found');
    const b = parseResponseHead('HTTP/1.0 200\r\n\r\n');
    assert.equal(b.status, 200);
    assert.equal(b.minor, 0);
    assert.equal(b.statusRest, '200');
  });

  it('refuses a malformed status code', () => {
    assert.throws(() => parseResponseHead('HTTP/1.1 20 OK\r\n\r\n'));
    assert.throws(() => parseResponseHead('HTTP/1.1 099 X\r\n\r\n'));
    assert.throws(() => parseResponseHead('ICY 200 OK\r\n\r\n'));
  });

  const frame = (head: string, method = 'GET') => {
    const h = parseResponseHead(head);
    frameResponse(h, method);
    return [h.bodyKind, h.bodyLength];
  };

  it('frames responses per RFC 9112 §6.3', () => {
    assert.deepEqual(frame('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD'), [BODY_NONE, 0]);
    assert.deepEqual(frame('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n'), [BODY_NONE, 0]);
    assert.deepEqual(frame('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'), [BODY_NONE, 0]);
    assert.deepEqual(frame('HTTP/1.1 100 Continue\r\n\r\n'), [BODY_NONE, 0]);
    assert.deepEqual(frame('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), [BODY_LENGTH, 10]);
    assert.deepEqual(frame('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), [BODY_NONE, 0]);
    assert.deepEqual(
      frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n')[0],
      BODY_CHUNKED,
    );
    assert.deepEqual(frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')[0], BODY_CLOSE);
    assert.deepEqual(frame('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')[0], BODY_CLOSE);
    assert.deepEqual(frame('HTTP/1.1 200 OK\r\n\r\n')[0], BODY_CLOSE);
  });
});

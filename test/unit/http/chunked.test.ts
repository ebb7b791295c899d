import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedScanner } from '../../../src/inbound/http/chunked.js';

const BODY = '5;ext=1\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n';

/** Feeds `input` in pieces; returns [end offset in the whole input or -1, decoded data]. */
function feed(input: string, cuts: number[], decode = false): [number, string] {
  const s = new ChunkedScanner(1024, 'E_BAD_REQUEST');
  let data = '';
  const sink = decode
    ? { chunkData: (b: Buffer, a: number, e: number) => (data += b.toString('latin1', a, e)) }
    : null;
  const buf = Buffer.from(input, 'latin1');
  let pos = 0;
  for (const cut of [...cuts, buf.length]) {
    if (cut <= pos) continue;
    const r = s.scan(buf.subarray(pos, cut), 0, sink);
    if (r >= 0) return [pos + r, data];
    pos = cut;
  }
  return [-1, data];
}

describe('chunked body scanner', () => {
  it('finds the end of a chunked body with extensions and trailers', () => {
    assert.deepEqual(feed(BODY + 'NEXT', []), [BODY.length, '']);
  });

  it('finds the same end when the input is split at every byte boundary', () => {
    for (let i = 1; i < BODY.length; i++) assert.equal(feed(BODY, [i])[0], BODY.length, `split at ${i}`);
    const every = Array.from({ length: BODY.length }, (_, i) => i + 1);
    assert.equal(feed(BODY, every)[0], BODY.length);
  });

  it('decodes chunk data for HTTP/1.0 clients, split or not', () => {
    assert.deepEqual(feed(BODY, [], true), [BODY.length, 'helloabcdefghijklmnopqrstuvwxyz']);
    for (let i = 1; i < BODY.length; i++)
      assert.equal(feed(BODY, [i, i + 3], true)[1], 'helloabcdefghijklmnopqrstuvwxyz');
  });

  it('reports -1 while the body continues', () => {
    assert.equal(feed('5\r\nhel', [])[0], -1);
  });

  for (const [name, input] of [
    ['a non-hex size', 'x\r\n'],
    ['an empty size', '\r\n'],
    ['a negative size', '-1\r\n'],
    ['a size too large for an exact integer', 'fffffffffffffff\r\n'],
    ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
    ['a bare LF in an extension', '5;a\nb\r\nhello\r\n0\r\n\r\n'],
    ['data longer than its size', '3\r\nhello\r\n0\r\n\r\n'],
    ['a bare CR after data', '5\r\nhello\rX'],
    ['a bare LF ending the body', '0\r\n\n'],
    ['a bad trailer line', '0\r\n:x\r\n\r\n'],
    ['whitespace inside the size', '1 0\r\n'],
  ] as const) {
    it(`rejects ${name}`, () => assert.throws(() => feed(input, []), /malformed chunked body/));
  }

  it('bounds extension and trailer bytes', () => {
    assert.throws(() => feed(`1;${'a'.repeat(2000)}\r\nx\r\n0\r\n\r\n`, []), /too long/);
    assert.throws(() => feed(`0\r\nX: ${'a'.repeat(2000)}\r\n\r\n`, []), /too large/);
  });
});

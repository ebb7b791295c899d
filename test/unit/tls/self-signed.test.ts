import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, connect } from 'node:tls';
import { once } from 'node:events';
import { generateSelfSigned } from '../../../src/tls/self-signed.js';

test('generated certificate parses, matches its key, carries the SANs, and a TLS client pinning it connects', async () => {
  const c = generateSelfSigned({ hosts: ['localhost', '127.0.0.1', '::1'] });
  const x = new X509Certificate(c.certPem);
  assert.equal(x.fingerprint256, c.fingerprint256);
  assert.match(x.subjectAltName ?? '', /DNS:localhost/);
  assert.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.ok(x.verify(x.publicKey), 'self-signature verifies');
  const srv = createServer({ cert: c.certPem, key: c.keyPem }, (s) => s.end('hello'));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  try {
    const s = connect({ port, host: '127.0.0.1', ca: c.certPem, servername: 'localhost' });
    let data = '';
    s.on('data', (d) => (data += d));
    await once(s, 'end');
    assert.equal(data, 'hello');
    assert.equal(s.authorized, true);
  } finally {
    srv.close();
  }
});

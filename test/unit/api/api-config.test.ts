// The `api:` configuration section: optional, loopback by default, TLS required elsewhere, public
// metrics only on loopback.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiSchema, configSchema } from '../../../src/config/schema.js';

const inbounds = [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }];

describe('config api:', () => {
  it('is optional; {} means 127.0.0.1:9090 without public metrics', () => {
    assert.equal(configSchema.parse({ inbounds }).api, undefined);
    assert.deepEqual(configSchema.parse({ inbounds, api: {} }).api, {
      listen: '127.0.0.1:9090',
      metrics_public: false,
    });
  });

  it('refuses a non-loopback listener without TLS, and public metrics there', () => {
    const noTls = apiSchema.safeParse({ listen: '0.0.0.0:9090' });
    assert.ok(!noTls.success);
    assert.match(noTls.error.issues[0]!.message, /not a loopback address.*tls/);
    assert.ok(apiSchema.safeParse({ listen: '[::]:9090', tls: { cert: 'c', key: 'k' } }).success);
    const pub = apiSchema.safeParse({
      listen: '0.0.0.0:9090',
      tls: { cert: 'c', key: 'k' },
      metrics_public: true,
    });
    assert.ok(!pub.success);
    assert.deepEqual(pub.error.issues[0]!.path, ['metrics_public']);
    assert.ok(apiSchema.safeParse({ listen: '[::1]:9090', metrics_public: true }).success);
  });

  it('reports a malformed address once, on listen', () => {
    const r = apiSchema.safeParse({ listen: 'nonsense' });
    assert.ok(!r.success);
    assert.equal(r.error.issues.length, 1);
    assert.deepEqual(r.error.issues[0]!.path, ['listen']);
  });
});

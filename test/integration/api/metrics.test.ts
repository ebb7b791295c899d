// /metrics on the admin listener: the Prometheus text parses, carries the series the data plane
// feeds (connections, bytes, auth failures, denials, errors, WireGuard handshakes), needs a read
// token unless metrics_public, and has per-user series only in logging mode audit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metrics } from '../../../src/control/metrics.js';
import { startApiServer } from '../../../src/control/api/server.js';
import { assertError, http, parsePrometheus, startHarness, type Harness } from './harness.js';

const metrics = new Metrics({ privacy: 'audit', version: '1.2.3' });
let h: Harness;

before(async () => {
  h = await startHarness({ metrics }, 'ferry-metrics-');
});
after(() => h?.close());

async function scrape(url = h.server.url, token: string | undefined = h.adminToken) {
  const r = await http(url, 'GET', '/metrics', token === undefined ? {} : { token });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return { text: r.text, samples: parsePrometheus(r.text) };
}

function value(
  samples: ReturnType<typeof parsePrometheus>,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

describe('/metrics', () => {
  it('needs a read or admin token (401 without, 403 for a self token)', async () => {
    assertError(await http(h.server.url, 'GET', '/metrics'), 401, 'E_AUTH_REQUIRED');
    const api = h.service.as({ name: 'test', user: null, scopes: new Set(['admin']) });
    await api.users.add({ name: 'member1' });
    const self = (await api.tokens.create({ user: 'member1', scope: 'self' })).secret;
    assertError(await http(h.server.url, 'GET', '/metrics', { token: self }), 403, 'E_FORBIDDEN');
    const read = (await api.tokens.create({ user: 'root', scope: 'read' })).secret;
    await scrape(h.server.url, read);
  });

  it('counts what the data plane reports, per inbound, code and interface', async () => {
    metrics.declareInbound('idle');
    for (let i = 0; i < 3; i++) metrics.sessionOpened('h');
    metrics.sessionClosed('h', 100, 200, 'alice');
    metrics.sessionClosed('h', 100, 200, 'alice');
    metrics.addBytes('h', 5, 7, 'alice');
    metrics.sessionOpened('s');
    metrics.failed('s', 'E_AUTH');
    metrics.sessionClosed('s', 0, 0, null);
    metrics.failed('h', 'E_POLICY_DENIED');
    metrics.failed('h', 'E_QUOTA');
    metrics.failed('h', 'E_UPSTREAM_REFUSED');
    metrics.handshake('wg0', true);
    metrics.handshake('wg0', true);
    metrics.handshake('wg0', false);

    const { samples } = await scrape();
    const v = (name: string, labels: Record<string, string>) => value(samples, name, labels);
    assert.equal(v('ferry_connections_opened_total', { inbound: 'h' }), 3);
    assert.equal(v('ferry_connections_active', { inbound: 'h' }), 1);
    assert.equal(v('ferry_connections_active', { inbound: 's' }), 0);
    assert.equal(v('ferry_connections_opened_total', { inbound: 'idle' }), 0, 'declared inbounds show zeros');
    assert.equal(v('ferry_bytes_total', { inbound: 'h', direction: 'up' }), 205);
    assert.equal(v('ferry_bytes_total', { inbound: 'h', direction: 'down' }), 407);
    assert.equal(v('ferry_auth_failures_total', { inbound: 's' }), 1);
    assert.equal(v('ferry_auth_failures_total', { inbound: 'h' }), 0);
    assert.equal(v('ferry_policy_denials_total', { inbound: 'h', code: 'E_POLICY_DENIED' }), 1);
    assert.equal(v('ferry_policy_denials_total', { inbound: 'h', code: 'E_QUOTA' }), 1);
    assert.equal(v('ferry_errors_total', { code: 'E_UPSTREAM_REFUSED' }), 1);
    assert.equal(v('ferry_errors_total', { code: 'E_AUTH' }), 1, 'auth failures are errors too');
    assert.equal(v('ferry_errors_total', { code: 'E_QUOTA' }), 1);
    assert.equal(v('ferry_wireguard_handshakes_total', { interface: 'wg0', result: 'ok' }), 2);
    assert.equal(v('ferry_wireguard_handshakes_total', { interface: 'wg0', result: 'rejected' }), 1);
    assert.equal(
      v('ferry_user_bytes_total', { user: 'alice', direction: 'up' }),
      205,
      'audit mode: per user',
    );
    assert.equal(v('ferry_info', { version: '1.2.3', privacy: 'audit' }), 1);
    assert.ok(
      samples.some((s) => s.name === 'process_cpu_user_seconds_total'),
      'process metrics',
    );
  });

  it('leaving audit mode drops per-user series; in none mode no user name appears at all', async () => {
    metrics.setPrivacy('none');
    metrics.sessionOpened('h');
    metrics.sessionClosed('h', 1, 1, 'bob');
    const { text, samples } = await scrape();
    assert.ok(!samples.some((s) => s.name === 'ferry_user_bytes_total'), 'no per-user samples');
    assert.ok(!/alice|bob/.test(text), 'no user name anywhere in the exposition');
    assert.equal(value(samples, 'ferry_info', { privacy: 'none' }), 1);
    assert.equal(
      value(samples, 'ferry_bytes_total', { inbound: 'h', direction: 'up' }),
      206,
      'totals continue',
    );
  });

  it('forgetUser, and removing a user through the API, erase their series', async () => {
    metrics.setPrivacy('audit');
    metrics.addBytes('h', 1, 1, 'carol');
    metrics.addBytes('h', 1, 1, 'dan');
    metrics.forgetUser('carol');
    // Removing a user through the API drops their series too.
    const api = h.service.as({ name: 'test', user: null, scopes: new Set(['admin']) });
    await api.users.add({ name: 'zed' });
    metrics.addBytes('h', 1, 1, 'zed');
    assert.match((await scrape()).text, /user="zed"/);
    const del = await http(h.server.url, 'DELETE', '/api/v1/users/zed', { token: h.adminToken });
    assert.equal(del.status, 204, del.text);
    const { text } = await scrape();
    assert.ok(!text.includes('carol') && !text.includes('zed'));
    assert.match(text, /ferry_user_bytes_total\{user="dan",direction="up"\} 1/);
  });

  it('metrics_public serves them without a token on loopback', async () => {
    const pub = await startApiServer({
      store: h.store,
      service: h.service,
      listen: '127.0.0.1:0',
      metrics,
      metricsPublic: true,
    });
    try {
      const { samples } = await scrape(pub.url, undefined);
      assert.ok(samples.some((s) => s.name === 'ferry_connections_opened_total'));
      // The API itself still needs a token.
      assertError(await http(pub.url, 'GET', '/api/v1/users'), 401, 'E_AUTH_REQUIRED');
    } finally {
      await pub.close();
    }
  });
});

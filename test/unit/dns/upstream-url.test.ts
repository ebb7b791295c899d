import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseUpstreamUrl } from '../../../src/dns/upstream/url.js';

describe('parseUpstreamUrl', () => {
  it('reads each scheme with its default port', () => {
    assert.deepEqual(parseUpstreamUrl('udp://192.0.2.53'), {
      kind: 'udp',
      host: '192.0.2.53',
      port: 53,
      text: 'udp://192.0.2.53',
    });
    assert.equal(parseUpstreamUrl('tcp://[2001:db8::53]:5353').host, '2001:db8::53');
    assert.equal(parseUpstreamUrl('tcp://[2001:db8::53]:5353').port, 5353);
    const dot = parseUpstreamUrl('tls://dns.example.net');
    assert.equal(dot.port, 853);
    assert.equal(dot.serverName, 'dns.example.net');
    const dotByAddress = parseUpstreamUrl('tls://192.0.2.9:8853#dns.example.net');
    assert.equal(dotByAddress.host, '192.0.2.9');
    assert.equal(dotByAddress.serverName, 'dns.example.net');
    const doh = parseUpstreamUrl('https://dns.example.net/dns-query');
    assert.equal(doh.port, 443);
    assert.equal(doh.path, '/dns-query');
    assert.equal(parseUpstreamUrl('https://dns.example.net/q{?dns}').path, '/q');
  });

  it('rejects what it cannot use, saying why', () => {
    assert.throws(() => parseUpstreamUrl('8.8.8.8'), /not a URL/);
    assert.throws(() => parseUpstreamUrl('quic://dns.example'), /unknown scheme/);
    assert.throws(() => parseUpstreamUrl('udp://dns.example'), /IP addresses/);
    assert.throws(() => parseUpstreamUrl('tls://u:p@dns.example'), /credentials/);
    assert.throws(() => parseUpstreamUrl('udp://192.0.2.1/path'), /no path/);
  });
});

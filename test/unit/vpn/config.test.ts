import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../../src/config/load.js';

const base = { inbounds: [{ name: 'http', type: 'http', listen: '127.0.0.1:8080' }] };

describe('vpn: config section', () => {
  it('fills defaults', () => {
    const v = validateConfig({ ...base, vpn: {} }).vpn!;
    assert.equal(v.interface, 'ferry0');
    assert.equal(v.listen_port, 51820);
    assert.equal(v.address_v4, '10.66.0.0/24');
    assert.equal(v.address_v6, 'auto');
    assert.equal(v.mtu, 1420);
    assert.equal(v.nat, true);
    assert.equal(v.client_to_client, false);
    assert.deepEqual(v.routes, []);
  });

  it('names the bad key and says what is expected', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ interface: 'a-very-long-interface' }, /vpn\.interface: an interface name of at most 15/],
      [{ address_v4: 'fd00::/64' }, /vpn\.address_v4: 'fd00::\/64' is not an IPv4 prefix/],
      [{ address_v4: '10.0.0.0/31' }, /vpn\.address_v4: .*prefix length must be \/8\.\.\/30/],
      [{ address_v4: '10.0.0.1' }, /vpn\.address_v4: '10\.0\.0\.1': give a prefix/],
      [{ address_v6: '10.0.0.0/24' }, /vpn\.address_v6/],
      [{ endpoint: 'vpn.example.com' }, /vpn\.endpoint: HOST:PORT/],
      [{ routes: ['not-a-net'] }, /vpn\.routes\[0\]: 'not-a-net' is not an IP address or CIDR/],
      [{ dns: ['resolver'] }, /vpn\.dns\[0\]/],
      [{ mtu: 100 }, /vpn\.mtu/],
      [{ natt: true }, /vpn: .*natt/],
      [
        { dns: ['tunnel'] },
        /vpn\.dns: "tunnel" points clients at a resolver on the server: give dns_forwarder/,
      ],
      [{ dns_forwarder: { upstreams: [] } }, /vpn\.dns_forwarder\.upstreams: give at least one upstream/],
      [
        { dns_forwarder: { upstreams: ['udp://dns.example'] } },
        /upstreams\[0\]: .*plain DNS upstreams are IP addresses/,
      ],
    ];
    for (const [vpn, re] of bad)
      assert.throws(() => validateConfig({ ...base, vpn }, 'f.yaml'), re, JSON.stringify(vpn));
  });
});

// Building exits from configuration: dependency order, chains, cycles, bad references.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../../src/config/load.js';
import { PoolOutbound } from '../../../src/outbound/pool/pool.js';
import { SourceAddressOutbound } from '../../../src/outbound/source-address.js';
import { UpstreamOutbound } from '../../../src/outbound/upstream/upstream.js';
import { buildOutbounds } from '../../../src/server/outbounds.js';

const base = { inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }] };

function build(outbounds: unknown[]) {
  return buildOutbounds(validateConfig({ ...base, outbounds }));
}

describe('exit configuration', () => {
  it('builds pools before their members are declared, and chains through `via`', () => {
    const m = build([
      {
        name: 'pool',
        type: 'pool',
        members: ['hop2', { outbound: 's5', tags: { Region: 'EU' }, weight: 3 }],
        strategy: 'weighted',
        rotation: 'request',
      },
      { name: 'hop2', type: 'http', server: '10.0.0.2:3128', via: 'hop1', username: 'u', password: 'p' },
      { name: 'hop1', type: 'socks5', server: '10.0.0.1:1080' },
      { name: 's5', type: 'socks4a', server: 'proxy.example:1080' },
      { name: 'v6', type: 'direct', ipv6_prefix: '2001:db8:1::/64' },
    ]);
    assert.ok(m.get('pool') instanceof PoolOutbound);
    assert.ok(m.get('hop2') instanceof UpstreamOutbound);
    assert.ok(m.get('v6') instanceof SourceAddressOutbound);
    const st = (m.get('pool') as PoolOutbound).state();
    assert.deepEqual(
      st.members.map((x) => [x.name, x.tags, x.weight]),
      [
        ['hop2', {}, 1],
        ['s5', { region: 'eu' }, 3],
      ],
    );
    for (const o of m.values()) o.close?.();
  });

  it('names a reference loop', () => {
    assert.throws(
      () =>
        build([
          { name: 'a', type: 'http', server: '10.0.0.1:3128', via: 'b' },
          { name: 'b', type: 'socks5', server: '10.0.0.2:1080', via: 'c' },
          { name: 'c', type: 'pool', members: ['a'] },
        ]),
      /loop: a → b → c → a/,
    );
  });

  it('refuses unknown references, pools in pools and bad prefixes', () => {
    assert.throws(() => build([{ name: 'p', type: 'pool', members: ['nope'] }]), /unknown outbound 'nope'/);
    assert.throws(
      () =>
        build([
          { name: 'x', type: 'socks5', server: '10.0.0.1:1080' },
          { name: 'inner', type: 'pool', members: ['x'] },
          { name: 'outer', type: 'pool', members: ['inner'] },
        ]),
      /is a pool/,
    );
    assert.throws(
      () => build([{ name: 'v6', type: 'direct', ipv6_prefix: '10.0.0.0/8' }]),
      /not an IPv6 prefix/,
    );
    assert.throws(() => build([{ name: 'u', type: 'http', server: 'nope' }]), /server/);
    assert.throws(
      () =>
        build([
          { name: 'p', type: 'pool', members: ['direct'], health: { probe: 'ftp://x' } },
          { name: 'direct', type: 'direct' },
        ]),
      /probe/,
    );
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildRuleset, type FirewallSpec } from '../../../src/vpn/firewall.js';
import { haveTool, isRoot } from '../../helpers/prereq.js';
import { Netns } from '../../helpers/netns.js';

const spec: FirewallSpec = {
  ifname: 'ferry0',
  poolV4: '10.66.0.0/24',
  poolV6: 'fd66:1::/64',
  nat: true,
  routes: ['192.168.77.0/24', 'fd77::/48'],
  clientToClient: false,
};

/** nft's own check (`nft -c`), in a scratch namespace, when we can: the text must be valid nftables. */
function nftAccepts(text: string): boolean | null {
  if (!isRoot() || !haveTool('nft')) return null;
  const ns = new Netns('fw');
  try {
    ns.exec(['nft', '-c', '-f', '-'], { input: text });
    return true;
  } finally {
    ns.destroy();
  }
}

describe('VPN firewall ruleset', () => {
  it('NAT with routes: masquerade except towards the routed networks; only replies into the tunnel', (t) => {
    const text = buildRuleset(spec);
    assert.match(text, /^table inet ferry-ferry0 \{/);
    assert.match(text, /oifname != "ferry0" ip saddr 10\.66\.0\.0\/24 ip daddr != @routes4 masquerade/);
    assert.match(text, /oifname != "ferry0" ip6 saddr fd66:1::\/64 ip6 daddr != @routes6 masquerade/);
    assert.match(text, /iifname "ferry0" oifname "ferry0" drop/);
    assert.match(text, /oifname "ferry0" ct state established,related accept\n\s+oifname "ferry0" drop/);
    assert.match(text, /iifname "ferry0" accept/);
    assert.match(text, /iifname "ferry0" tcp flags syn \/ syn,rst tcp option maxseg size set rt mtu/);
    const ok = nftAccepts(text);
    if (ok === null) t.diagnostic('nft -c not run (needs root and nft)');
    else assert.equal(ok, true);
  });

  it('without NAT: forwarding from the tunnel only to the routes, no nat chain', (t) => {
    const text = buildRuleset({ ...spec, nat: false, clientToClient: true, routes: ['192.168.77.0/24'] });
    assert.ok(!text.includes('masquerade'));
    assert.ok(!text.includes('postrouting'));
    assert.match(text, /iifname "ferry0" ip daddr @routes4 accept\n\s+iifname "ferry0" drop/);
    assert.match(text, /iifname "ferry0" oifname "ferry0" accept/);
    const ok = nftAccepts(text);
    if (ok === null) t.diagnostic('nft -c not run (needs root and nft)');
    else assert.equal(ok, true);
  });

  it('an IPv4-only pool drops IPv6 from the tunnel', () => {
    const text = buildRuleset({ ...spec, poolV6: null, routes: [] });
    assert.match(text, /iifname "ferry0" meta nfproto ipv6 drop/);
    assert.ok(!text.includes('ip6 saddr'));
    assert.ok(!text.includes('@routes'));
  });
});

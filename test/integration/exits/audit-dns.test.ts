// `ferry audit-proxy --dns-zone`: who resolves the names a client gives a proxy? The origin
// namespace serves DNS for DNS_ZONE and every namespace uses it as its resolver, so its record of
// who asked names the resolving side: an exit (squid, danted: remote DNS) or gw itself — which is
// what a Ferry chain with `dns: local` does, and what a leak looks like to the audit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import type { AuditReport } from '../../../src/cli/audit-proxy.js';
import { buildTopology, DNS_ZONE, FERRY, ORIGIN, startGateway, type Topology } from './topology.js';

const needs = { root: true, tools: ['squid', 'danted', 'ip'] };
/** gw's address toward wan: how the origin (and its DNS server) sees gw. */
const GW = '10.70.0.1';

describe('ferry audit-proxy: the DNS-leak check', { skip: skipReason(needs) }, () => {
  let topo: Topology;

  before(async () => {
    topo = await buildTopology(['squid', 'danted'], { dns: true });
    // Two Ferry chains in gw to danted: one resolving names itself (dns: local), one not.
    await startGateway(topo, {
      log: { level: 'warn' },
      inbounds: [
        { name: 'leaky', type: 'http', listen: '127.0.0.1:3201' },
        { name: 'remote', type: 'socks', listen: '127.0.0.1:3202' },
      ],
      outbounds: [
        { name: 'dante-local', type: 'socks5', server: '10.50.2.2:1080', dns: 'local' },
        { name: 'dante-remote', type: 'socks5', server: '10.50.2.2:1080' },
      ],
      router: {
        default: 'dante-remote',
        allow_destinations: ['10.99.0.0/24'],
        rules: [{ inbounds: ['leaky'], action: 'dante-local' }],
      },
    });
  });
  after(async () => {
    await topo?.destroy();
  });

  async function audit(proxy: string): Promise<{ code: number | null; rep: AuditReport }> {
    const r = await topo.inGw(
      ['node', FERRY, 'audit-proxy', proxy, '--origin', `${ORIGIN}:80`, '--dns-zone', DNS_ZONE, '--json'],
      60_000,
    );
    assert.ok(r.stdout.startsWith('{'), `audit-proxy ${proxy}: ${r.stdout}${r.stderr}`);
    return { code: r.code, rep: JSON.parse(r.stdout) as AuditReport };
  }

  it('squid resolves names on its side: remote DNS, no leak', async () => {
    const { rep } = await audit('http://10.50.1.2:3128');
    assert.deepEqual(rep.dns, {
      remote: true,
      leak: false,
      resolvers: [topo.exits[0]!.egress],
      clientResolvers: [GW],
    });
  });

  it('danted (SOCKS5, names sent as names) resolves on its side too', async () => {
    const { rep } = await audit('socks5h://10.50.2.2:1080');
    assert.deepEqual(rep.dns, {
      remote: true,
      leak: false,
      resolvers: [topo.exits[1]!.egress],
      clientResolvers: [GW],
    });
  });

  it('a chain that resolves names locally is a leak, and the audit fails', async () => {
    const { code, rep } = await audit('http://127.0.0.1:3201');
    assert.equal(rep.dns?.leak, true, JSON.stringify(rep));
    assert.deepEqual(rep.dns?.resolvers, [GW]);
    assert.equal(code, 1);
    // The same chain with remote DNS: danted resolves, nothing leaks.
    const remote = await audit('socks5://127.0.0.1:3202');
    assert.deepEqual(remote.rep.dns?.resolvers, [topo.exits[1]!.egress]);
    assert.equal(remote.rep.dns?.leak, false);
  });
});

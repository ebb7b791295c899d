// `ferry leaktest` against real leaks in the small internet: it must pass with the tunnel up, and
// name the leak when DNS or IPv6 is deliberately sent around the tunnel, or when the tunnel is cut
// without a kill switch. With the kill switch, a capture on the client's ISP-facing link shows that
// nothing but WireGuard left while the tunnel was cut.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SmallInternet } from '../../helpers/small-internet.js';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import {
  clientWithServer,
  smallInternetForSuite,
  startCapture,
  CLIENT_NEEDS,
  type ClientSide,
} from './client-harness.js';

interface Report {
  leak: boolean;
  results: { check: string; verdict: string; detail: string; data?: Record<string, unknown> }[];
}

describe('ferry leaktest', { skip: skipReason(CLIENT_NEEDS), concurrency: false }, () => {
  let net: SmallInternet;
  smallInternetForSuite((n) => (net = n));

  async function leaktest(
    c: ClientSide,
    extra: string[] = [],
  ): Promise<{ code: number | null; report: Report }> {
    const r = await c.ferry([
      'leaktest',
      '--json',
      '--interface',
      c.ifname,
      '--origin',
      net.origin.url4,
      '--origin6',
      net.origin.url6,
      '--dns-zone',
      net.dns.zone,
      '--timeout',
      '4000',
      ...extra,
    ]);
    assert.ok(r.stdout.startsWith('{'), `leaktest printed JSON (stderr: ${r.stderr})`);
    return { code: r.code, report: JSON.parse(r.stdout) as Report };
  }
  const verdict = (rep: Report, check: string): string => rep.results.find((r) => r.check === check)!.verdict;

  it('passes with a full tunnel, and flags DNS sent around it', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    await c.up(c.writeConfig(server, { allowedIps: '0.0.0.0/0, ::/0', dns: net.dns.v4 }));
    const expect = ['--expect-exit', net.addrs.serverExit4, '--expect-exit', net.addrs.serverExit6];
    const ok = await leaktest(c, expect);
    assert.equal(ok.code, 0, JSON.stringify(ok.report));
    assert.equal(ok.report.leak, false);
    const table = await c.ferry([
      'leaktest',
      '--origin',
      net.origin.url4,
      '--dns-zone',
      net.dns.zone,
      ...expect,
    ]);
    assert.equal(table.code, 0, table.stdout + table.stderr);
    assert.match(table.stdout, /^check\s+result\s+detail$/m);
    assert.match(table.stdout, /^exit IPv4\s+PASS\s+the origin sees 10\.93\.0\.1 \(expected\)$/m);
    assert.match(table.stdout, /^no leak found$/m);
    assert.deepEqual(ok.report.results.find((r) => r.check === 'DNS')!.data!.askers, [net.addrs.serverExit4]);

    // A more specific route in the main table wins over the tunnel (suppress_prefixlength 0): DNS
    // to the resolver now goes straight out through the ISP.
    net.client.ip(['-4', 'route', 'add', `${net.dns.v4}/32`, 'via', net.addrs.isp4]);
    const undo = ['ip', '-4', 'route', 'del', `${net.dns.v4}/32`];
    try {
      const leak = await leaktest(c, expect);
      assert.equal(leak.code, 1);
      assert.equal(verdict(leak.report, 'DNS'), 'fail');
      assert.match(leak.report.results.find((r) => r.check === 'DNS')!.detail, new RegExp(net.addrs.client4));
      assert.equal(verdict(leak.report, 'exit IPv4'), 'pass');
    } catch (e) {
      // The client namespace is shared by the suite: undo the route even when the test failed.
      net.client.exec(undo, { allowFail: true });
      throw e;
    }
    net.client.exec(undo);
  });

  it('an IPv4-only tunnel blocks IPv6; removing the block is reported as an IPv6 leak', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    const log = await c.up(c.writeConfig(server, { allowedIps: '0.0.0.0/0', dns: net.dns.v4 }));
    assert.match(log, /ip -6 route add unreachable default table 51820/);
    const ok = await leaktest(c);
    assert.equal(ok.code, 0, JSON.stringify(ok.report));
    assert.match(ok.report.results.find((r) => r.check === 'exit IPv6')!.detail, /blocked/);

    net.client.ip(['-6', 'route', 'del', 'unreachable', 'default', 'table', '51820']);
    // Put it back (even when the test fails, and before the after hook's ferry down) so ferry down's
    // undo finds what it recorded.
    const undo = ['ip', '-6', 'route', 'add', 'unreachable', 'default', 'table', '51820'];
    try {
      const leak = await leaktest(c);
      assert.equal(leak.code, 1);
      assert.equal(verdict(leak.report, 'exit IPv6'), 'fail');
      assert.match(leak.report.results.find((r) => r.check === 'exit IPv6')!.detail, /IPv6 leak/);
    } catch (e) {
      net.client.exec(undo, { allowFail: true });
      throw e;
    }
    net.client.exec(undo);
  });

  it('with the kill switch, cutting the tunnel leaks nothing (empty capture) and it reconnects', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    await c.up(c.writeConfig(server, { allowedIps: '0.0.0.0/0, ::/0', dns: net.dns.v4 }), ['--kill-switch']);
    assert.match(net.client.exec(['nft', 'list', 'tables']), new RegExp(`inet ferry-ks-${c.ifname}`));
    assert.equal(await c.curl(net.origin.url4), net.addrs.serverExit4);

    // Everything IP on the client's ISP link except WireGuard to the server and neighbour discovery.
    const filter =
      `(ip or ip6) and not (udp and host ${net.addrs.server4} and port ${server.port})` +
      ' and not (icmp6 and (ip6[40] >= 133 and ip6[40] <= 136))' +
      ' and not (src net fe80::/10 and dst net ff02::/16)';
    const cap = await startCapture(net.client, net.links.client, filter);
    // Stopped below before the capture is read; this only catches a failure before that (a second
    // stop is harmless).
    t.after(async () => {
      await cap.stop().catch(() => undefined);
    });

    const r = await leaktest(c, ['--kill-switch-check']);
    const ks = r.report.results.find((x) => x.check === 'kill switch')!;
    assert.equal(ks.verdict, 'pass', ks.detail);
    assert.ok((ks.data!.dropped as number) > 0, 'the kill switch counted the probes it dropped');
    const got = await cap.stop();
    assert.equal(
      got.matched,
      0,
      `nothing but WireGuard on the ISP link while the tunnel was cut:\n${got.lines.join('\n')}`,
    );
    assert.match(ks.detail, /tunnel reconnected/);
    await waitFor(
      'the tunnel to carry traffic again',
      async () => (await c.curl(net.origin.url4, 3)) === net.addrs.serverExit4,
      {
        timeoutMs: 20_000,
      },
    );
  });

  it('without the kill switch, cutting the tunnel is reported as a leak', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    await c.up(c.writeConfig(server, { allowedIps: '0.0.0.0/0, ::/0', dns: net.dns.v4 }));
    const r = await leaktest(c, ['--kill-switch-check', '--no-reconnect']);
    assert.equal(r.code, 1);
    const ks = r.report.results.find((x) => x.check === 'kill switch')!;
    assert.equal(ks.verdict, 'fail');
    assert.match(ks.detail, /no kill switch/);
    assert.match(ks.detail, new RegExp(`sees ${net.addrs.client4}`));
  });
});

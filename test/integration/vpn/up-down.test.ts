// `ferry up` / `ferry down` in the small internet's client namespace against a wireguard-go server:
// full tunnel (policy routing, DNS, IPv6), split tunnel, and a clean teardown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readClientResolvConf, resolveTxtIn, type SmallInternet } from '../../helpers/small-internet.js';
import { skipReason } from '../../helpers/prereq.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { clientWithServer, smallInternetForSuite, startCapture, CLIENT_NEEDS } from './client-harness.js';

describe('ferry up/down (client role)', { skip: skipReason(CLIENT_NEEDS), concurrency: false }, () => {
  let net: SmallInternet;
  smallInternetForSuite((n) => (net = n));

  it("full tunnel: the origin sees the server, DNS is the tunnel's, everything is undone on down", async (t) => {
    const { c, server } = await clientWithServer(net, t);
    const before4 = net.client.ip(['-4', 'rule', 'show']);
    const before6 = net.client.ip(['-6', 'rule', 'show']);
    const resolvBefore = readClientResolvConf(net);
    const cfg = c.writeConfig(server, {
      allowedIps: '0.0.0.0/0, ::/0',
      dns: `${net.dns.v4}, vpn.example`,
      extra: ['PostUp = echo up-%i > /dev/null'],
    });
    const log = await c.up(cfg);
    assert.match(log, /ip -4 rule add not fwmark 51820 table 51820/);
    assert.match(log, /suppress_prefixlength 0/);

    // What the ISP sees while the tunnel carries a request: WireGuard to the server's port and
    // nothing else; the request's bytes nowhere in clear.
    const cap = await startCapture(net.client, net.links.client, 'ip or ip6', ['-A']);
    // Stopped below before the capture is read; this only catches a failure before that (a second
    // stop is harmless).
    t.after(async () => {
      await cap.stop().catch(() => undefined);
    });
    const marker = `ferry-marker-${process.pid}-${Date.now()}`;
    assert.equal(await c.curl(`${net.origin.url4}?${marker}`), net.addrs.serverExit4);
    assert.equal(await c.curl(net.origin.url6), net.addrs.serverExit6);
    assert.deepEqual(
      await resolveTxtIn(net.client, `full.${net.dns.zone}`),
      [net.addrs.serverExit4],
      'DNS reaches the resolver through the server',
    );
    const got = await cap.stop();
    // Link-local housekeeping never leaves the link: MLD reports and neighbour discovery from fe80::,
    // and duplicate address detection, which solicits from the unspecified address :: (RFC 4862 §5.4.2).
    const packets = got.lines.filter((l) => !/ IP6 (fe80::\S+|::) > (ff02|fe80)::/.test(l));
    assert.ok(packets.length > 0, `the capture saw the tunnel: ${got.output}`);
    const wg = new RegExp(
      `^\\S+ IP ${net.addrs.client4.replaceAll('.', '\\.')}\\.\\d+ > ${net.addrs.server4.replaceAll('.', '\\.')}\\.${server.port}: UDP|^\\S+ IP ${net.addrs.server4.replaceAll('.', '\\.')}\\.${server.port} > ${net.addrs.client4.replaceAll('.', '\\.')}\\.\\d+: UDP`,
    );
    assert.deepEqual(
      packets.filter((l) => !wg.test(l)),
      [],
      'only WireGuard on the ISP link',
    );
    assert.ok(!got.output.includes(marker), 'the request is not readable on the ISP link');
    const resolv = readClientResolvConf(net);
    assert.match(resolv, new RegExp(`^nameserver ${net.dns.v4.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(resolv, /^search vpn\.example$/m);
    assert.equal(net.client.exec(['wg', 'show', c.ifname, 'fwmark']).trim(), '0xca6c', 'fwmark 51820');

    assert.match(net.client.exec(['nft', 'list', 'tables']), new RegExp(`table ip6 ferry-wg-${c.ifname}`));
    await c.down();
    assert.doesNotMatch(net.client.exec(['nft', 'list', 'tables']), /ferry-/, 'nft tables removed');
    assert.equal(net.client.ip(['-4', 'rule', 'show']), before4);
    assert.equal(net.client.ip(['-6', 'rule', 'show']), before6);
    assert.equal(readClientResolvConf(net), resolvBefore);
    assert.equal(
      net.client.exec(['ip', 'link', 'show', c.ifname], { allowFail: true }).includes('does not exist'),
      true,
    );
    assert.equal(await c.curl(net.origin.url4), net.addrs.client4, 'direct again after down');
  });

  it('split tunnel: only the chosen networks go through the tunnel; no policy routing', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    const rules = net.client.ip(['-4', 'rule', 'show']);
    const hookFile = join(c.dir, 'hook');
    await c.up(
      c.writeConfig(server, {
        allowedIps: `${net.addrs.internet4}/32, ${net.addrs.internet6}/128`,
        extra: [`PostUp = echo "%i" > ${hookFile}`],
      }),
    );
    assert.equal(await c.curl(net.origin.url4), net.addrs.serverExit4, 'the origin is in the tunnel');
    assert.equal(await c.curl(net.origin.url6), net.addrs.serverExit6);
    // The resolver (another address of the same host) is not: it sees the client itself.
    assert.deepEqual(await resolveTxtIn(net.client, `split.${net.dns.zone}`), [net.addrs.client4]);
    assert.equal(net.client.ip(['-4', 'rule', 'show']), rules, 'no policy rules for a split tunnel');
    assert.match(
      net.client.ip(['-4', 'route', 'show', 'dev', c.ifname]),
      new RegExp(`^${net.addrs.internet4} `, 'm'),
    );
    // MTU: the route to the endpoint has the veth's 1500; minus 80 (wg-quick).
    assert.match(net.client.ip(['link', 'show', c.ifname]), / mtu 1420 /);
    assert.equal(readFileSync(hookFile, 'utf8').trim(), c.ifname, 'PostUp ran with %i expanded');
    await c.down();
  });

  it('Table = <n> and Table = off; SaveConfig is refused with a reason', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    const rules = net.client.ip(['-4', 'rule', 'show']);
    await c.up(
      c.writeConfig(server, {
        allowedIps: '0.0.0.0/0, 10.200.0.0/16',
        extra: ['Table = 4242', 'MTU = 1300'],
      }),
    );
    const tbl = net.client.ip(['-4', 'route', 'show', 'table', '4242']);
    assert.match(tbl, new RegExp(`^default dev ${c.ifname}`, 'm'));
    assert.match(tbl, new RegExp(`^10\\.200\\.0\\.0/16 dev ${c.ifname}`, 'm'));
    assert.equal(net.client.ip(['-4', 'rule', 'show']), rules, 'a numbered table gets no rules');
    assert.match(net.client.ip(['link', 'show', c.ifname]), / mtu 1300 /);
    await c.down();

    await c.up(c.writeConfig(server, { allowedIps: '10.200.0.0/16', extra: ['Table = off'] }));
    assert.equal(net.client.ip(['-4', 'route', 'show', 'dev', c.ifname]).trim(), '');
    await c.down();

    const r = await c.ferry([
      'up',
      c.writeConfig(server, { allowedIps: '10.200.0.0/16', extra: ['SaveConfig = true'] }),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SaveConfig is not supported/);
    assert.ok(!net.client.exec(['ip', 'link', 'show'], {}).includes(c.ifname));
  });

  it('a failing PostUp undoes everything but the kill switch, which ferry down removes', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    const rules = net.client.ip(['-4', 'rule', 'show']);
    const resolv = readClientResolvConf(net);
    const cfg = c.writeConfig(server, {
      allowedIps: '0.0.0.0/0, ::/0',
      dns: '10.99.0.1',
      extra: ['KillSwitch = true', 'PostUp = exit 3'],
    });
    const r = await c.ferry(['up', cfg]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /kill switch stays in place/);
    assert.equal(net.client.ip(['-4', 'rule', 'show']), rules);
    assert.equal(readClientResolvConf(net), resolv);
    assert.ok(!net.client.exec(['ip', 'link', 'show']).includes(c.ifname));
    assert.match(net.client.exec(['nft', 'list', 'tables']), new RegExp(`ferry-ks-${c.ifname}`));
    assert.equal(await c.curl(net.origin.url4, 2), null, 'the kill switch blocks direct traffic');
    await c.down();
    assert.doesNotMatch(net.client.exec(['nft', 'list', 'tables']), /ferry-ks-/);
    assert.equal(await c.curl(net.origin.url4), net.addrs.client4);
  });

  it('the kill switch outlives its daemon; ferry down still cleans up', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    await c.up(c.writeConfig(server, { allowedIps: '0.0.0.0/0, ::/0' }), ['--kill-switch']);
    const state = JSON.parse(readFileSync(join(c.stateDir, `${c.ifname}.json`), 'utf8')) as {
      daemonPid: number;
    };
    assert.equal(await ping(net.addrs.isp4), false, 'no LAN without --allow-lan');
    process.kill(state.daemonPid, 'SIGKILL');
    await waitFor(
      'the interface to disappear',
      () => !net.client.exec(['ip', 'link', 'show']).includes(c.ifname),
    );
    assert.equal(await c.curl(net.origin.url4, 2), null);
    assert.equal(await c.curl(net.origin.url6, 2), null);
    assert.match(net.client.exec(['nft', 'list', 'tables']), new RegExp(`ferry-ks-${c.ifname}`));
    await c.down();
    assert.doesNotMatch(net.client.exec(['nft', 'list', 'tables']), /ferry-/);
    assert.equal(await c.curl(net.origin.url4), net.addrs.client4);
  });

  it('runs on wireguard-go too (FERRY_UP_DAEMON), and ferry down stops it', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    await c.up(
      c.writeConfig(server, { allowedIps: '0.0.0.0/0, ::/0' }),
      [],
      ['FERRY_UP_DAEMON=wireguard-go'],
    );
    assert.equal(await c.curl(net.origin.url4), net.addrs.serverExit4);
    const state = JSON.parse(readFileSync(join(c.stateDir, `${c.ifname}.json`), 'utf8')) as {
      daemonPid: number;
    };
    assert.match(readFileSync(`/proc/${state.daemonPid}/cmdline`, 'utf8'), /wireguard-go/);
    await c.down();
    await waitFor('wireguard-go to exit', () => {
      try {
        return /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${state.daemonPid}/stat`, 'utf8'));
      } catch {
        return true;
      }
    });
  });

  it('--allow-lan lets the kill switch pass the local network, nothing else', async (t) => {
    const { c, server } = await clientWithServer(net, t);
    await c.up(c.writeConfig(server, { allowedIps: '0.0.0.0/0, ::/0' }), ['--kill-switch', '--allow-lan']);
    assert.equal(await ping(net.addrs.isp4), true, 'the LAN (RFC 1918) is reachable');
    assert.equal(await ping(net.addrs.isp6), false, 'a ULA outside link-local is not "LAN"');
    assert.equal(
      await c.curl(net.origin.url4),
      net.addrs.serverExit4,
      'the rest still goes through the tunnel',
    );
    await c.down();
  });

  async function ping(addr: string): Promise<boolean> {
    const r = await runAsync('ip', net.client.wrap(['ping', '-c', '1', '-W', '2', addr]));
    return r.code === 0;
  }
});

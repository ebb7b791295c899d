// `ferry up` / `ferry down` in the small internet's client namespace against a wireguard-go server:
// full tunnel (policy routing, DNS, IPv6), split tunnel, and a clean teardown.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildSmallInternet,
  readClientResolvConf,
  type SmallInternet,
} from '../../helpers/small-internet.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { ClientSide, startServer, CLIENT_NEEDS, type VpnServer } from './client-harness.js';

describe('ferry up/down (client role)', { skip: skipReason(CLIENT_NEEDS), concurrency: false }, () => {
  let net: SmallInternet;
  before(async () => {
    requirePrereqs(undefined, CLIENT_NEEDS);
    net = await buildSmallInternet();
  });
  after(async () => {
    await net?.cleanup();
  });

  it("full tunnel: the origin sees the server, DNS is the tunnel's, everything is undone on down", async (t) => {
    const c = new ClientSide(net);
    let server: VpnServer | null = null;
    t.after(async () => {
      await c.cleanup();
      await server?.stop();
    });
    server = await startServer(net, c.key);
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

    assert.equal(await c.curl(net.origin.url4), net.addrs.serverExit4);
    assert.equal(await c.curl(net.origin.url6), net.addrs.serverExit6);
    const resolv = readClientResolvConf(net);
    assert.match(resolv, new RegExp(`^nameserver ${net.dns.v4.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(resolv, /^search vpn\.example$/m);
    assert.equal(net.client.exec(['wg', 'show', c.ifname, 'fwmark']).trim(), '0xca6c', 'fwmark 51820');

    await c.down();
    assert.equal(net.client.ip(['-4', 'rule', 'show']), before4);
    assert.equal(net.client.ip(['-6', 'rule', 'show']), before6);
    assert.equal(readClientResolvConf(net), resolvBefore);
    assert.equal(
      net.client.exec(['ip', 'link', 'show', c.ifname], { allowFail: true }).includes('does not exist'),
      true,
    );
    assert.equal(await c.curl(net.origin.url4), net.addrs.client4, 'direct again after down');
  });
});

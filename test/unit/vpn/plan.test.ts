// The `ferry up` plan: wg-quick's routing decisions, Ferry's IPv6 block, and the kill switch ruleset.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseWgConfig } from '../../../src/wireguard/io/wg-config.js';
import {
  planUp,
  autoMtu,
  expandHook,
  allowedIpsByPrefix,
  validIfname,
  type Step,
} from '../../../src/vpn/client/plan.js';
import { killSwitchRuleset } from '../../../src/vpn/client/kill-switch.js';
import { resolveConfigArg } from '../../../src/cli/vpn.js';
import { isRoot, haveTool } from '../../helpers/prereq.js';

const K = 'YEocP0e2o1WT5GlvBvQzVF7EeR6z9aCk2ANZ5VnDtEE=';
const K2 = 'aP7ozZ9t4z1qW5QzpUoZ2gYbm5BSx2Wl3j4I8lL9l2c=';

function conf(iface: string[], allowed: string, endpoint = '192.0.2.1:51820'): string {
  return [
    '[Interface]',
    `PrivateKey = ${K}`,
    'Address = 10.99.0.2/32',
    ...iface,
    '',
    '[Peer]',
    `PublicKey = ${K2}`,
    `AllowedIPs = ${allowed}`,
    `Endpoint = ${endpoint}`,
    '',
  ].join('\n');
}
const opts = {
  ifname: 'wg0',
  killSwitch: false,
  allowLan: false,
  endpoints: [{ address: '192.0.2.1', port: 51820 }],
  freeTable: 51820,
};
const ipSteps = (steps: Step[]): string[] =>
  steps.flatMap((s) => (s.kind === 'ip' ? [s.args.join(' ')] : []));

describe('wg-quick keys in the config', () => {
  it('parses DNS (servers and search domains), Table, hooks, SaveConfig and KillSwitch', () => {
    const c = parseWgConfig(
      conf(
        [
          'DNS = 10.99.0.1, fd99::1, corp.example',
          'Table = 1234',
          'PreUp = echo a, b',
          'PostUp = x',
          'PostUp = y',
          'PreDown = z',
          'PostDown = w',
          'KillSwitch = true',
        ],
        '0.0.0.0/0',
      ),
    );
    assert.deepEqual(c.quick.dns, ['10.99.0.1', 'fd99::1']);
    assert.deepEqual(c.quick.dnsSearch, ['corp.example']);
    assert.equal(c.quick.table, '1234');
    assert.deepEqual(c.quick.preUp, ['echo a, b'], 'a hook is one line, commas and all');
    assert.deepEqual(c.quick.postUp, ['x', 'y']);
    assert.deepEqual([c.quick.preDown, c.quick.postDown], [['z'], ['w']]);
    assert.equal(c.quick.killSwitch, true);
    assert.equal(c.quick.saveConfig, false);
  });
  it('rejects a bad Table or boolean with the line number', () => {
    assert.throws(() => parseWgConfig(conf(['Table = main2'], '0.0.0.0/0')), /line 4: Table must be/);
    assert.throws(
      () => parseWgConfig(conf(['KillSwitch = maybe'], '0.0.0.0/0')),
      /line 4: KillSwitch must be true or false/,
    );
  });
});

describe('planUp', () => {
  it('full tunnel: fwmark policy routing exactly as wg-quick, for both families', () => {
    const p = planUp(parseWgConfig(conf([], '0.0.0.0/0, ::/0')), opts);
    assert.equal(p.fwmark, 51820);
    assert.deepEqual(p.tunnelled, [4, 6]);
    assert.deepEqual(p.blocked, []);
    assert.deepEqual(ipSteps(p.steps), [
      '-4 rule add not fwmark 51820 table 51820',
      '-4 rule add table main suppress_prefixlength 0',
      '-4 route add default dev wg0 table 51820',
      '-6 rule add not fwmark 51820 table 51820',
      '-6 rule add table main suppress_prefixlength 0',
      '-6 route add default dev wg0 table 51820',
    ]);
    assert.ok(p.steps.some((s) => s.kind === 'sysctl' && s.key === 'net.ipv4.conf.all.src_valid_mark'));
    assert.ok(!p.steps.some((s) => s.kind === 'route'), 'the /0 routes go only into the policy table');
  });
  it('IPv4-only full tunnel blocks IPv6 with an unreachable default in the policy table', () => {
    const p = planUp(parseWgConfig(conf([], '0.0.0.0/0')), opts);
    assert.deepEqual(p.blocked, [6]);
    assert.ok(ipSteps(p.steps).includes('-6 route add unreachable default table 51820'));
    const undo = p.steps.find((s) => s.kind === 'ip' && s.args.includes('unreachable'));
    assert.deepEqual(undo?.kind === 'ip' && undo.undo, [
      '-6',
      'route',
      'del',
      'unreachable',
      'default',
      'table',
      '51820',
    ]);
  });
  it('a FwMark in the config is the table; a free table is used otherwise', () => {
    assert.equal(planUp(parseWgConfig(conf(['FwMark = 0x1234'], '0.0.0.0/0')), opts).fwmark, 0x1234);
    assert.equal(planUp(parseWgConfig(conf([], '0.0.0.0/0')), { ...opts, freeTable: 51822 }).fwmark, 51822);
  });
  it('split tunnel: routes longest prefix first, no policy routing, nothing blocked', () => {
    const c = parseWgConfig(conf([], '10.0.0.0/8, 10.1.2.0/24, fd00::/8'));
    assert.deepEqual(allowedIpsByPrefix(c), ['10.1.2.0/24', '10.0.0.0/8', 'fd00::/8']);
    const p = planUp(c, opts);
    assert.equal(p.fwmark, null);
    assert.deepEqual(p.blocked, []);
    assert.deepEqual(ipSteps(p.steps), []);
    assert.deepEqual(
      p.steps.flatMap((s) => (s.kind === 'route' ? [`${s.cidr}@${s.table}`] : [])),
      ['10.1.2.0/24@null', '10.0.0.0/8@null', 'fd00::/8@null'],
    );
  });
  it('Table = n puts every route (default too) in n; Table = off adds none', () => {
    const n = planUp(parseWgConfig(conf(['Table = 7'], '0.0.0.0/0, 10.0.0.0/8')), opts);
    assert.equal(n.fwmark, null);
    assert.deepEqual(
      n.steps.flatMap((s) => (s.kind === 'route' ? [`${s.cidr}@${s.table}`] : [])),
      ['10.0.0.0/8@7', '0.0.0.0/0@7'],
    );
    const off = planUp(parseWgConfig(conf(['Table = off'], '0.0.0.0/0')), opts);
    assert.ok(!off.steps.some((s) => s.kind === 'route' || s.kind === 'ip'));
  });
  it('order: PreUp, kill switch before the daemon, DNS after addresses, PostUp last', () => {
    const p = planUp(parseWgConfig(conf(['DNS = 10.99.0.1', 'PreUp = a', 'PostUp = b'], '0.0.0.0/0')), {
      ...opts,
      killSwitch: true,
    });
    const kinds = p.steps.map((s) => s.kind);
    assert.equal(kinds[0], 'hook');
    assert.ok(kinds.indexOf('nft') < kinds.indexOf('daemon'));
    assert.ok(kinds.indexOf('address') < kinds.indexOf('dns'));
    assert.equal(kinds.at(-1), 'hook');
  });
  it('refuses SaveConfig with a reason', () => {
    assert.throws(
      () => planUp(parseWgConfig(conf(['SaveConfig = true'], '0.0.0.0/0')), opts),
      /SaveConfig is not supported/,
    );
  });
});

describe('helpers', () => {
  it('autoMtu: largest route MTU minus 80, 1500 when unknown', () => {
    assert.equal(autoMtu([1500, 9000]), 8920);
    assert.equal(autoMtu([0]), 1420);
    assert.equal(autoMtu([]), 1420);
  });
  it('expandHook substitutes every %i', () => {
    assert.equal(expandHook('ip link show %i; echo %i', 'wg0'), 'ip link show wg0; echo wg0');
  });
  it('interface names and config arguments follow wg-quick', () => {
    assert.ok(validIfname('wg0') && !validIfname('a'.repeat(16)) && !validIfname('wg 0'));
    assert.deepEqual(resolveConfigArg('home'), { path: '/etc/wireguard/home.conf', ifname: 'home' });
    assert.deepEqual(resolveConfigArg('./x/office.conf'), { path: './x/office.conf', ifname: 'office' });
    assert.throws(() => resolveConfigArg('/tmp/this-name-is-too-long.conf'), /not a valid interface name/);
  });
});

describe('kill switch ruleset', () => {
  const rs = killSwitchRuleset({
    ifname: 'wg0',
    endpoints: [
      { address: '192.0.2.1', port: 51820 },
      { address: '2001:db8::1', port: 443 },
    ],
    fwmark: 51820,
    allowLan: true,
  });
  it('drops by default and lets out only the tunnel, loopback and marked UDP to the endpoints', () => {
    assert.match(rs, /chain output \{\n\s+type filter hook output priority filter; policy drop;/);
    assert.match(rs, /oifname "wg0" accept/);
    assert.match(rs, /oifname "lo" accept/);
    assert.match(rs, /meta mark 51820 ip daddr \. udp dport \{ 192\.0\.2\.1 \. 51820 \} accept/);
    assert.match(rs, /meta mark 51820 ip6 daddr \. udp dport \{ 2001:db8::1 \. 443 \} accept/);
    assert.match(rs, /chain forward \{\n\s+type filter hook forward priority filter; policy drop;/);
    assert.match(rs, /ip daddr \{ 10\.0\.0\.0\/8, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 169\.254\.0\.0\/16/);
  });
  it('without --allow-lan there is no LAN exception', () => {
    const noLan = killSwitchRuleset({ ifname: 'wg0', endpoints: [], fwmark: null, allowLan: false });
    assert.doesNotMatch(noLan, /192\.168/);
  });
  it('is accepted by nft (syntax check, nothing loaded)', (t) => {
    if (!isRoot() || !haveTool('nft')) return t.skip('needs root and nft for `nft -c`');
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: rs, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});

// Exits end to end, in network namespaces: a Ferry gateway whose pool has four real upstreams
// (squid, tinyproxy, danted, and another Ferry with credentials), each in its own namespace with its
// own address toward an origin that echoes the client address it sees. curl is the client.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { adminRequest, adminSocketPath, type ExitsReport } from '../../../src/server/admin-socket.js';
import { parseCidr, cidrContains, parseIp } from '../../../src/net/cidr.js';
import {
  ALL_EXITS,
  buildTopology,
  exitNeeds,
  FERRY,
  ORIGIN,
  ORIGIN6,
  PREFIX6,
  exitOutbounds,
  startGateway,
  statusVia,
  type Topology,
} from './topology.js';

const KINDS = ALL_EXITS;
const needs = exitNeeds(KINDS, ['curl']);
const PW = 'alice-pw';
const HC = '127.0.0.1:3001'; // pool "conn": per-connection rotation, sticky, active health probes
const HR = '127.0.0.1:3002'; // pool "req": per-request rotation
const S5 = '127.0.0.1:1080'; // SOCKS5 → pool "conn"
const H6 = '127.0.0.1:3006'; // direct from a random address of PREFIX6 per request

const gatewayConfig = {
  log: { level: 'warn' },
  users: [{ name: 'alice', password: PW }],
  inbounds: [
    { name: 'hc', type: 'http', listen: HC },
    { name: 'hr', type: 'http', listen: HR },
    { name: 's', type: 'socks', listen: S5 },
    { name: 'h6', type: 'http', listen: H6 },
  ],
  outbounds: [
    ...exitOutbounds(KINDS, ['squid', 'tiny', 'dante', 'ferry']),
    {
      name: 'conn',
      type: 'pool',
      members: [
        { outbound: 'squid', tags: { region: 'eu', country: 'de' } },
        { outbound: 'tiny', tags: { region: 'eu', country: 'fr' } },
        { outbound: 'dante', tags: { region: 'us', country: 'us' } },
        { outbound: 'ferry', tags: { region: 'us', country: 'us' } },
      ],
      // sesstime counts seconds here so that expiry fits in a test.
      sticky: { sesstime_unit: 1 },
      health: { max_fails: 1, probe: 'tcp', interval: 0.2, timeout: 1 },
    },
    { name: 'req', type: 'pool', members: ['squid', 'tiny', 'dante', 'ferry'], rotation: 'request' },
    { name: 'v6', type: 'direct', ipv6_prefix: PREFIX6, ipv6_prefix_setup: true, rotation: 'request' },
  ],
  router: {
    default: 'conn',
    allow_destinations: ['10.99.0.0/24', 'fd00:99::/64'],
    rules: [
      { inbounds: ['hr'], action: 'req' },
      { inbounds: ['h6'], action: 'v6' },
    ],
  },
};

describe('exits in network namespaces', { skip: skipReason(needs) }, () => {
  let topo: Topology;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let egress: Map<string, string>; // origin-seen address → exit kind

  before(async () => {
    topo = await buildTopology(KINDS);
    egress = new Map(topo.exits.map((e) => [e.egress, e.kind]));
    gw = await startGateway(topo, gatewayConfig);
  });
  after(async () => {
    await topo?.destroy();
  });

  /** The addresses the origin saw, one per URL, fetched by one curl (one client connection, keep-alive). */
  async function viaProxy(proxy: string, n = 1, url = `http://${ORIGIN}/ip`): Promise<string[]> {
    const args = ['curl', '-sS', '--max-time', '15', '-x', proxy];
    for (let i = 0; i < n; i++) args.push(url);
    const r = await topo.inGw(args);
    assert.equal(r.code, 0, `curl via ${proxy.replace(/:[^:@/]*@/, ':***@')} failed: ${r.stderr}`);
    return r.stdout.trim().split('\n');
  }
  const http = (user: string, at = HC): string => `http://${user}:${PW}@${at}`;
  const socks = (user: string): string => `socks5h://${user}:${PW}@${S5}`;
  const exits = (): Promise<ExitsReport> =>
    adminRequest(adminSocketPath(gw.dataDir), 'GET', '/v1/exits') as Promise<ExitsReport>;
  const member = async (pool: string, name: string) =>
    (await exits()).pools.find((p) => p.name === pool)!.members.find((m) => m.name === name)!;

  it('per-connection rotation: each new connection (HTTP or SOCKS5) takes the next exit', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(...(await viaProxy(http('alice'))));
    for (let i = 0; i < 4; i++) seen.push(...(await viaProxy(socks('alice'))));
    assert.deepEqual(new Set(seen), new Set(egress.keys()), `seen: ${seen.join(' ')}`);
    // One keep-alive client connection keeps its exit for all its requests.
    const kept = await viaProxy(http('alice'), 6);
    assert.equal(new Set(kept).size, 1, `one connection, several exits: ${kept.join(' ')}`);
  });

  it('per-request rotation: requests on one keep-alive connection visit every exit', async () => {
    const seen = await viaProxy(http('alice', HR), 8);
    assert.equal(seen.length, 8);
    assert.deepEqual(new Set(seen), new Set(egress.keys()), `seen: ${seen.join(' ')}`);
  });

  it('sticky sessions keep one exit across HTTP and SOCKS5, and expire when idle', async () => {
    const login = 'alice-session-Abc123-sesstime-2';
    const seen = [...(await viaProxy(http(login), 3))];
    for (let i = 0; i < 3; i++) seen.push(...(await viaProxy(socks(login))));
    for (let i = 0; i < 2; i++) seen.push(...(await viaProxy(http(login))));
    assert.equal(new Set(seen).size, 1, `a sticky session changed exit: ${seen.join(' ')}`);
    // Idle for its sesstime (2 s here), the session is forgotten; the next use picks anew, and
    // round-robin has moved on, so it lands elsewhere.
    await waitFor(
      'the sticky session to expire',
      async () => (await exits()).pools.find((p) => p.name === 'conn')!.stickySessions === 0,
      {
        timeoutMs: 10_000,
        intervalMs: 200,
      },
    );
    const next = await viaProxy(socks(login));
    assert.notEqual(next[0], seen[0]);
  });

  it('region and country parameters pick only matching exits; no match is refused', async () => {
    const eu = topo.exits.filter((e) => e.kind === 'squid' || e.kind === 'tinyproxy').map((e) => e.egress);
    const us = topo.exits.filter((e) => e.kind === 'danted' || e.kind === 'ferry').map((e) => e.egress);
    const seenEu: string[] = [];
    for (let i = 0; i < 3; i++)
      seenEu.push(
        ...(await viaProxy(http('alice-region-eu'))),
        ...(await viaProxy(socks('alice-region-EU'))),
      );
    assert.deepEqual(new Set(seenEu), new Set(eu));
    const seenUs: string[] = [];
    for (let i = 0; i < 3; i++)
      seenUs.push(
        ...(await viaProxy(http('alice-country-us'))),
        ...(await viaProxy(socks('alice-country-us'))),
      );
    assert.deepEqual(new Set(seenUs), new Set(us));
    assert.deepEqual(await viaProxy(http('alice-country-fr')), eu.slice(1));
    assert.equal(await statusVia(topo, http('alice-country-jp'), `http://${ORIGIN}/ip`), '403');
  });

  it('an upstream killed mid-run: no request fails, it is ejected, and it comes back', async () => {
    const tiny = topo.exits.find((e) => e.kind === 'tinyproxy')!;
    const seen: string[] = [];
    for (let i = 0; i < 24; i++) {
      if (i === 6) await tiny.stop();
      seen.push(...(await viaProxy(i % 2 ? socks('alice') : http('alice'))));
    }
    assert.ok(seen.every((a) => egress.has(a)));
    await waitFor('tinyproxy to be ejected', async () => !(await member('conn', 'tiny')).healthy, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    // The operator sees it too.
    const table = await topo.inGw(['node', FERRY, 'exits', '--data-dir', gw.dataDir]);
    assert.match(
      table.stdout,
      /^\s+tiny\s+http\s+region=eu,country=fr\s+DOWN since /m,
      table.stdout + table.stderr,
    );
    const without: string[] = [];
    for (let i = 0; i < 8; i++) without.push(...(await viaProxy(http('alice'))));
    assert.ok(!without.includes(tiny.egress), 'an ejected exit got traffic');
    await tiny.start();
    await waitFor('tinyproxy to be healthy again', async () => (await member('conn', 'tiny')).healthy, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const back: string[] = [];
    for (let i = 0; i < 8; i++) back.push(...(await viaProxy(http('alice'))));
    assert.ok(back.includes(tiny.egress), 'the recovered exit gets traffic again');
  });

  it('IPv6 prefix rotation: every request leaves from a distinct address of the prefix', async () => {
    const seen = [];
    for (let i = 0; i < 8; i++)
      seen.push(...(await viaProxy(http('alice', H6), 1, `http://[${ORIGIN6}]/ip`)));
    assert.equal(new Set(seen).size, 8, seen.join(' '));
    const prefix = parseCidr(PREFIX6);
    for (const a of seen) assert.ok(cidrContains(prefix, parseIp(a)!), `${a} is outside ${PREFIX6}`);
  });

  it('churn through rotating exits leaves file descriptors and memory flat', async () => {
    const pid = gw.proc.child.pid!;
    const fds = (): number => readdirSync(`/proc/${pid}/fd`).length;
    const rssKb = (): number =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const round = async (r: number): Promise<void> => {
      // Four clients at once, 100 requests each on one connection; half with sticky sessions.
      const runs = [0, 1, 2, 3].map((c) =>
        topo.inGw(
          [
            'curl',
            '-s',
            '-o',
            '/dev/null',
            '--max-time',
            '60',
            '-x',
            c % 2 ? http(`alice-session-r${r}c${c}-sesstime-1`) : http('alice', HR),
            ...Array<string>(100).fill(`http://${ORIGIN}/known`),
          ],
          90_000,
        ),
      );
      for (const x of await Promise.all(runs)) assert.equal(x.code, 0, x.stderr);
    };
    await round(0);
    const fd0 = fds();
    const rss0 = rssKb();
    for (let r = 1; r <= 6; r++) await round(r);
    // Idle upstream connections expire from the keep-alive pool; then the count must be back.
    await waitFor(`fds back near ${fd0} (now ${fds()})`, () => fds() <= fd0 + 8, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const rss1 = rssKb();
    assert.ok(rss1 < rss0 * 1.5 + 20_000, `RSS grew from ${rss0} kB to ${rss1} kB`);
    const st = (await exits()).pools.find((p) => p.name === 'conn')!;
    await waitFor(
      'sticky sessions of the churn to expire',
      async () => (await exits()).pools.find((p) => p.name === 'conn')!.stickySessions === 0,
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    assert.ok(st.members.every((m) => m.active >= 0));
  });
});

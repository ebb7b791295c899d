// Plain-HTTP requests to HTTP upstreams go as absolute-form requests (RFC 9112 §3.2.2), not through
// CONNECT: the upstream's own access log must show "GET http://…". Through a per-request rotating
// pool, one keep-alive client connection must still visit every member, while the connection to each
// HTTP upstream is kept and reused for the requests that land on it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { adminRequest, adminSocketPath, type ExitsReport } from '../../../src/server/admin-socket.js';
import {
  accessLogPath,
  ALL_EXITS,
  exitNeeds,
  buildTopology,
  exitOutbounds,
  ORIGIN,
  startGateway,
  statusVia,
  UP_USER,
  type Topology,
} from './topology.js';

const KINDS = ALL_EXITS;
const needs = exitNeeds(KINDS, ['curl']);
const PW = 'alice-pw';
const HR = '127.0.0.1:3101'; // pool "req": squid, tinyproxy, danted, Ferry; per-request rotation
const HS = '127.0.0.1:3102'; // squid alone
const HC = '127.0.0.1:3103'; // squid alone, forward_http: false (CONNECT)
const HB = '127.0.0.1:3104'; // the Ferry upstream with a wrong password
const HP = '127.0.0.1:3105'; // pool: the wrong password first, then squid

const gatewayConfig = {
  log: { level: 'warn' },
  users: [{ name: 'alice', password: PW }],
  inbounds: [
    { name: 'hr', type: 'http', listen: HR },
    { name: 'hs', type: 'http', listen: HS },
    { name: 'hc', type: 'http', listen: HC },
    { name: 'hb', type: 'http', listen: HB },
    { name: 'hp', type: 'http', listen: HP },
  ],
  outbounds: [
    ...exitOutbounds(KINDS, ['squid', 'tiny', 'dante', 'ferry'], 'http'),
    { name: 'ferry-bad', type: 'http', server: '10.50.4.2:1080', username: UP_USER, password: 'wrong' },
    { name: 'squid-tunnel', type: 'http', server: '10.50.1.2:3128', forward_http: false },
    { name: 'req', type: 'pool', members: ['squid', 'tiny', 'dante', 'ferry'], rotation: 'request' },
    {
      name: 'badpool',
      type: 'pool',
      members: ['ferry-bad', 'squid'],
      rotation: 'request',
      health: { max_fails: 1 },
    },
  ],
  router: {
    default: 'req',
    allow_destinations: ['10.99.0.0/24'],
    rules: [
      { inbounds: ['hs'], action: 'squid' },
      { inbounds: ['hc'], action: 'squid-tunnel' },
      { inbounds: ['hb'], action: 'ferry-bad' },
      { inbounds: ['hp'], action: 'badpool' },
    ],
  },
};

/** One line per request a squid exit logged: [client "addr:port", method, URL]. */
function squidLog(topo: Topology): [string, string, string][] {
  let text = '';
  try {
    text = readFileSync(accessLogPath(topo.dir, 'squid', 1), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/) as [string, string, string]);
}

describe('absolute-form forwarding to HTTP upstreams', { skip: skipReason(needs) }, () => {
  let topo: Topology;
  let egress: Map<string, string>;
  let gw: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    topo = await buildTopology(KINDS);
    egress = new Map(topo.exits.map((e) => [e.egress, e.kind]));
    gw = await startGateway(topo, gatewayConfig);
  });
  after(async () => {
    await topo?.destroy();
  });

  async function curl(proxy: string, urls: string[]): Promise<string[]> {
    const r = await topo.inGw([
      'curl',
      '-sS',
      '--max-time',
      '20',
      '-x',
      `http://alice:${PW}@${proxy}`,
      ...urls,
    ]);
    assert.equal(r.code, 0, `curl via ${proxy} failed: ${r.stderr}`);
    return r.stdout.trim().split('\n');
  }
  /** Squid logs a request when it ends; wait for `n` new lines after `from`. */
  async function squidLines(from: number, n: number): Promise<[string, string, string][]> {
    await waitFor(`squid to log ${n} requests`, () => squidLog(topo).length >= from + n, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    return squidLog(topo).slice(from);
  }

  it('a plain-HTTP request reaches squid as an absolute-form GET, not a CONNECT', async () => {
    const from = squidLog(topo).length;
    const url = `http://${ORIGIN}/ip?absolute=1`;
    const seen = await curl(HS, [url, url, url]);
    assert.deepEqual(seen, Array(3).fill(topo.exits[0]!.egress));
    const lines = await squidLines(from, 3);
    for (const [, method, u] of lines) {
      assert.equal(method, 'GET');
      assert.equal(u, url);
    }
    // The three requests of one client connection rode one upstream connection.
    assert.equal(new Set(lines.map((l) => l[0])).size, 1, JSON.stringify(lines));
  });

  it('forward_http: false tunnels through CONNECT instead', async () => {
    const from = squidLog(topo).length;
    await curl(HC, [`http://${ORIGIN}/ip?tunnel=1`]);
    const lines = await squidLines(from, 1);
    assert.deepEqual(
      lines.map((l) => l[1]),
      ['CONNECT'],
    );
  });

  it('per-request rotation visits every member on one keep-alive client connection', async () => {
    const from = squidLog(topo).length;
    const tinyLog = accessLogPath(topo.dir, 'tinyproxy', 2);
    const tinyBefore = readFileSync(tinyLog, 'utf8').length;
    const urls = Array.from({ length: 12 }, (_, i) => `http://${ORIGIN}/ip?r=${i}`);
    const seen = await curl(HR, urls);
    assert.equal(seen.length, 12);
    assert.deepEqual(new Set(seen), new Set(egress.keys()), `seen: ${seen.join(' ')}`);
    // Round-robin over 4 members: each saw 3 of the 12 requests.
    for (const e of topo.exits)
      assert.equal(seen.filter((a) => a === e.egress).length, 3, `${e.kind}: ${seen.join(' ')}`);
    // squid got absolute-form GETs, on a kept upstream connection (fewer connections than requests).
    const lines = await squidLines(from, 3);
    assert.ok(
      lines.every((l) => l[1] === 'GET' && l[2]!.startsWith(`http://${ORIGIN}/ip?r=`)),
      JSON.stringify(lines),
    );
    assert.ok(new Set(lines.map((l) => l[0])).size < lines.length, `no reuse: ${JSON.stringify(lines)}`);
    // tinyproxy logs the request line it received.
    const tiny = readFileSync(tinyLog, 'utf8').slice(tinyBefore);
    const requests = tiny.match(/Request \(file descriptor \d+\): (\S+ \S+)/g) ?? [];
    assert.equal(requests.length, 3, tiny);
    for (const r of requests)
      assert.match(r, new RegExp(`: GET http://${ORIGIN.replace(/\./g, '\\.')}/ip\\?r=`));
  });

  it("an upstream's 407 is not passed to the client (whose credentials are not the upstream's)", async () => {
    assert.equal(await statusVia(topo, `http://alice:${PW}@${HB}`, `http://${ORIGIN}/ip`), '502');
  });

  it('in a pool, a 407 counts against the member: it is ejected and later requests avoid it', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push(await statusVia(topo, `http://alice:${PW}@${HP}`, `http://${ORIGIN}/ip`));
    }
    // Round-robin starts with the bad member: its one request fails, then it is out (max_fails 1).
    assert.deepEqual(codes, ['502', '200', '200', '200', '200', '200']);
    const r = (await adminRequest(adminSocketPath(gw.dataDir), 'GET', '/v1/exits')) as ExitsReport;
    const bad = r.pools.find((p) => p.name === 'badpool')!.members.find((m) => m.name === 'ferry-bad')!;
    assert.equal(bad.healthy, false);
    assert.match(bad.lastError ?? '', /407/);
  });
});

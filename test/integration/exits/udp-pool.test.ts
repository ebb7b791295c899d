// UDP through pools: SOCKS5 UDP ASSOCIATE routed to a pool uses only members that can carry UDP
// (danted and Ferry as SOCKS5 upstreams, a source-address member), never the HTTP one (squid), with
// the pool's rotation, sticky-session and tag rules. A UDP echo in the origin namespace answers with
// the address it saw, which names the exit. The client is a small SOCKS5 UDP client run in gw.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { adminRequest, adminSocketPath, type ExitsReport } from '../../../src/server/admin-socket.js';
import {
  buildTopology,
  exitNeeds,
  exitOutbounds,
  ORIGIN,
  startGateway,
  type ExitKind,
  type Topology,
} from './topology.js';

const KINDS: ExitKind[] = ['squid', 'danted', 'ferry'];
const needs = exitNeeds(KINDS, ['curl']);
const PW = 'alice-pw';
const S5 = 1081;
const ECHO_PORT = 7007;
/** gw's own address toward wan: what the origin sees from the source-address member. */
const GW_EGRESS = '10.70.0.1';

const gatewayConfig = {
  log: { level: 'warn' },
  users: [{ name: 'alice', password: PW }],
  inbounds: [{ name: 's', type: 'socks', listen: `127.0.0.1:${S5}` }],
  outbounds: [
    ...exitOutbounds(KINDS, ['squid', 'dante', 'ferry']),
    { name: 'src', type: 'direct', source_addresses: [GW_EGRESS] },
    {
      name: 'mixed',
      type: 'pool',
      members: [
        { outbound: 'squid', tags: { region: 'eu' } },
        { outbound: 'dante', tags: { region: 'eu' } },
        { outbound: 'ferry', tags: { region: 'us' } },
        { outbound: 'src', tags: { region: 'us' } },
      ],
    },
  ],
  router: { default: 'mixed', allow_destinations: ['10.99.0.0/24'] },
};

/** A SOCKS5 UDP client: one association, `count` datagrams to the echo, prints each reply. */
const CLIENT = `
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
const [port, user, pass, host, dport, count] = process.argv.slice(2);
const c = net.connect(Number(port), '127.0.0.1');
let buf = Buffer.alloc(0);
const waiters = [];
const pump = () => {
  while (waiters.length && buf.length >= waiters[0][0]) {
    const [n, r] = waiters.shift();
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    r(out);
  }
};
c.on('data', (d) => { buf = Buffer.concat([buf, d]); pump(); });
const need = (n) => new Promise((r) => { waiters.push([n, r]); pump(); });
await once(c, 'connect');
c.write(Buffer.from([5, 1, 2]));
if ((await need(2))[1] !== 2) throw new Error('no user/password method');
const u = Buffer.from(user), p = Buffer.from(pass);
c.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
if ((await need(2))[1] !== 0) throw new Error('credentials refused');
c.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
const r = await need(10);
if (r[1] !== 0) throw new Error('UDP ASSOCIATE refused: ' + r[1]);
const relayHost = [...r.subarray(4, 8)].join('.');
const relayPort = r.readUInt16BE(8);
const s = dgram.createSocket('udp4');
await new Promise((res) => s.bind(0, '127.0.0.1', res));
const head = Buffer.from([0, 0, 0, 1, ...host.split('.').map(Number), Number(dport) >> 8, Number(dport) & 255]);
for (let i = 0; i < Number(count); i++) {
  const payload = Buffer.from('ping ' + i);
  // UDP may lose a datagram (the first waits while the upstream association is set up): resend.
  const reply = await new Promise((resolve, reject) => {
    let tries = 0;
    const send = () => {
      if (++tries > 10) { s.off('message', on); reject(new Error('no reply to ' + payload)); return; }
      s.send(Buffer.concat([head, payload]), relayPort, relayHost);
    };
    const t = setInterval(send, 500);
    const on = (m) => { clearInterval(t); s.off('message', on); resolve(m.subarray(10).toString()); };
    s.on('message', on);
    send();
  });
  console.log(reply);
}
s.close();
c.destroy();
`;

const ECHO = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(Buffer.from(r.address + ' ' + m.toString()), r.port, r.address));
s.bind(${ECHO_PORT}, '${ORIGIN}', () => console.log('ready'));
`;

describe('UDP through pools', { skip: skipReason(needs) }, () => {
  let topo: Topology;
  let clientJs: string;
  let kindOf: Map<string, string>;
  let gw: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    topo = await buildTopology(KINDS);
    kindOf = new Map(topo.exits.map((e) => [e.egress, e.kind]));
    kindOf.set(GW_EGRESS, 'source-address');
    clientJs = join(topo.dir, 'udp-client.mjs');
    writeFileSync(clientJs, CLIENT);
    const echoJs = join(topo.dir, 'udp-echo.mjs');
    writeFileSync(echoJs, ECHO);
    const echo = topo.spawn(topo.origin, ['node', echoJs]);
    await waitFor('the UDP echo', () => echo.output().includes('ready'), { timeoutMs: 15_000 });
    gw = await startGateway(topo, gatewayConfig);
  });
  after(async () => {
    await topo?.destroy();
  });

  /** One association of `n` datagrams; the exits (by kind) the echo saw, one per datagram. */
  async function associate(login: string, n = 2): Promise<string[]> {
    const r = await topo.inGw([
      'node',
      clientJs,
      String(S5),
      login,
      PW,
      ORIGIN,
      String(ECHO_PORT),
      String(n),
    ]);
    assert.equal(r.code, 0, `UDP client (${login}) failed: ${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, n);
    return lines.map((l, i) => {
      const [addr, ...rest] = l.split(' ');
      assert.equal(rest.join(' '), `ping ${i}`);
      const kind = kindOf.get(addr!);
      assert.ok(kind, `the echo saw an unknown address ${addr}`);
      return kind;
    });
  }

  it('per-association rotation visits every UDP-capable member and never the HTTP one', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const one = await associate('alice');
      assert.equal(new Set(one).size, 1, `one association, several exits: ${one.join(' ')}`);
      seen.push(one[0]!);
    }
    assert.deepEqual(new Set(seen), new Set(['danted', 'ferry', 'source-address']), seen.join(' '));
    // `ferry exits`: squid was never asked; the associations are counted while open, then not.
    const members = async () =>
      ((await adminRequest(adminSocketPath(gw.dataDir), 'GET', '/v1/exits')) as ExitsReport).pools[0]!
        .members;
    assert.equal((await members()).find((m) => m.name === 'squid')!.ok, 0);
    assert.equal(
      (await members()).reduce((n, m) => n + m.ok, 0),
      6,
    );
    await waitFor(
      'every association to be closed',
      async () => (await members()).every((m) => m.active === 0),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
  });

  it('a sticky session keeps its UDP exit, and TCP with the same session follows it', async () => {
    const login = 'alice-session-udp1';
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(...(await associate(login)));
    assert.equal(new Set(seen).size, 1, seen.join(' '));
    const r = await topo.inGw([
      'curl',
      '-sS',
      '--max-time',
      '15',
      '-x',
      `socks5h://${login}:${PW}@127.0.0.1:${S5}`,
      `http://${ORIGIN}/ip`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(kindOf.get(r.stdout.trim()), seen[0]);
  });

  it('tag parameters select among UDP-capable members only', async () => {
    // region eu = squid (HTTP, no UDP) and danted: UDP must always take danted.
    for (let i = 0; i < 3; i++) assert.deepEqual(await associate('alice-region-eu', 1), ['danted']);
    const us = new Set<string>();
    for (let i = 0; i < 4; i++) us.add((await associate('alice-region-us', 1))[0]!);
    assert.deepEqual(us, new Set(['ferry', 'source-address']));
  });
});

// Upstream chaining on loopback, with real peers: a SOCKS5 hop with credentials (microsocks), an
// HTTP proxy reached through it (tinyproxy), and a Ferry upstream over TLS (https) and SOCKS4a. Each
// hop leaves from its own loopback address, so the address the origin sees proves which hops a
// request really took; tinyproxy only admits microsocks' address, so skipping the first hop fails.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCheckOrigin, type CheckOrigin } from '../../../src/audit/check-origin.js';
import { startGateway, type Gateway } from '../../../src/server/gateway.js';
import { skipReason } from '../../helpers/prereq.js';
import { start, type Proc } from '../../helpers/proc.js';
import { runAsync } from './topology.js';
import { waitForPort } from '../../helpers/wait.js';

const needs = { tools: ['curl', 'microsocks', 'tinyproxy'] };
const HOP1 = '127.0.0.3'; // microsocks' outgoing address
const HOP2 = '127.0.0.4'; // tinyproxy's
const FERRY_UP = '127.0.0.5'; // the Ferry upstream's

function freePort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

describe('upstream chains', { skip: skipReason(needs) }, () => {
  let dir: string;
  let origin: CheckOrigin;
  let upstream: Gateway;
  let gw: Gateway;
  const procs: Proc[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-chain-'));
    origin = await startCheckOrigin({ host: '127.0.0.1', port: 0 });
    const msPort = freePort();
    procs.push(
      start('microsocks', [
        '-i',
        '127.0.0.1',
        '-p',
        String(msPort),
        '-b',
        HOP1,
        '-u',
        'hop1',
        '-P',
        'hop1-pw',
      ]),
    );
    const tpPort = freePort();
    writeFileSync(
      join(dir, 'tinyproxy.conf'),
      [
        `Port ${tpPort}`,
        'Listen 127.0.0.1',
        `Bind ${HOP2}`,
        `Allow ${HOP1}`,
        'Timeout 30',
        'LogLevel Critical',
        'DisableViaHeader Yes',
        '',
      ].join('\n'),
    );
    procs.push(start('tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')]));
    await waitForPort(msPort);
    await waitForPort(tpPort);
    upstream = await startGateway(
      {
        users: [{ name: 'up', password: 'up-pw' }],
        inbounds: [
          { name: 'tls', type: 'https', listen: '127.0.0.1:0' },
          { name: 'socks', type: 'socks', listen: '127.0.0.1:0' },
        ],
        outbounds: [{ name: 'direct', type: 'direct', bind: [FERRY_UP] }],
        router: { default: 'direct', allow_destinations: ['127.0.0.0/8'] },
      },
      { dataDir: join(dir, 'upstream') },
    );
    const cert = upstream.listenerInfo().find((l) => l.name === 'tls')!.certFile!;
    const up = (n: string): number => upstream.address(n).port;
    gw = await startGateway(
      {
        inbounds: ['hchain', 'htls', 'hs4', 'hbadpw', 'hbadca']
          .map((name) => ({ name, type: 'http', listen: '127.0.0.1:0', auth: false }))
          .concat([{ name: 'schain', type: 'socks', listen: '127.0.0.1:0', auth: false }]),
        outbounds: [
          {
            name: 'hop1',
            type: 'socks5',
            server: `127.0.0.1:${msPort}`,
            username: 'hop1',
            password: 'hop1-pw',
          },
          { name: 'chain', type: 'http', server: `127.0.0.1:${tpPort}`, via: 'hop1' },
          {
            name: 'tlsup',
            type: 'https',
            server: `127.0.0.1:${up('tls')}`,
            username: 'up',
            password: 'up-pw',
            tls: { ca: cert, server_name: 'localhost' },
          },
          {
            name: 's4',
            type: 'socks4a',
            server: `127.0.0.1:${up('socks')}`,
            username: 'up',
            password: 'up-pw',
          },
          {
            name: 'badpw',
            type: 'socks5',
            server: `127.0.0.1:${up('socks')}`,
            username: 'up',
            password: 'wrong',
          },
          {
            name: 'badca',
            type: 'https',
            server: `127.0.0.1:${up('tls')}`,
            username: 'up',
            password: 'up-pw',
          },
        ],
        router: {
          default: 'chain',
          rules: [
            { inbounds: ['htls'], action: 'tlsup' },
            { inbounds: ['hs4'], action: 's4' },
            { inbounds: ['hbadpw'], action: 'badpw' },
            { inbounds: ['hbadca'], action: 'badca' },
          ],
        },
      },
      { dataDir: join(dir, 'gw') },
    );
  });
  after(async () => {
    await gw?.close(0);
    await upstream?.close(0);
    await origin?.close();
    await Promise.all(procs.map((p) => p.kill()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const url = (host = '127.0.0.1'): string => `http://${host}:${origin.port}/ip`;
  async function curl(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const r = await runAsync('curl', ['-sS', '--max-time', '10', ...args], { timeoutMs: 20_000 });
    return { code: r.code, out: r.stdout.trim(), err: r.stderr };
  }
  const http = (name: string): string => `http://127.0.0.1:${gw.address(name).port}`;

  it('HTTP client → SOCKS5 hop with credentials → HTTP proxy → origin', async () => {
    const r = await curl(['-x', http('hchain'), url()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, HOP2);
  });

  it('SOCKS5 client → the same chain, names resolved at the far end', async () => {
    const r = await curl(['-x', `socks5h://127.0.0.1:${gw.address('schain').port}`, url('localhost')]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, HOP2);
  });

  it('an HTTPS upstream (TLS to the proxy, verified against its certificate) with credentials', async () => {
    const r = await curl(['-x', http('htls'), url()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, FERRY_UP);
  });

  it('a SOCKS4a upstream with user:password, remote DNS', async () => {
    const r = await curl(['-x', http('hs4'), url('localhost')]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, FERRY_UP);
  });

  it('refused credentials and an unverifiable certificate are clear 502s that do not reveal the upstream', async () => {
    for (const [inbound, text] of [
      ['hbadpw', /upstream proxy badpw: SOCKS5 credentials refused/],
      ['hbadca', /TLS to upstream proxy/],
    ] as const) {
      const r = await runAsync('curl', ['-s', '-i', '--max-time', '10', '-x', http(inbound), url()], {
        timeoutMs: 20_000,
      });
      assert.match(r.stdout, /^HTTP\/1\.1 502/, `${inbound}: ${r.stdout}`);
      assert.match(r.stdout, text);
      assert.ok(
        !r.stdout.includes(String(upstream.address('socks').port)) &&
          !r.stdout.includes(String(upstream.address('tls').port)),
        r.stdout,
      );
    }
  });
});

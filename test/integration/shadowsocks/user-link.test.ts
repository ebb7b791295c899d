// Share links end to end: `ferry user add` gives a store user a Shadowsocks key, `ferry user show`
// prints a SIP002 link per Shadowsocks inbound of the config file (2022 with identity headers, and
// AEAD with per-user keys) plus a QR code, and `ferry connect <link>` reaches a Ferry server whose key
// table holds the store's keys. Rotating the key turns the old link away.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startConnect } from '../../../src/cli/connect.js';
import { openStore } from '../../../src/control/open-store.js';
import { silentLogger } from '../../../src/core/logger.js';
import { startGateway } from '../../../src/server/gateway.js';
import { parseSsUri } from '../../../src/share/ss-uri.js';
import { runFerry } from '../../helpers/ferry.js';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { curlSocks, freePort } from './harness.js';

const needs = { tools: ['curl'] };

async function ferry(args: string[]): Promise<string> {
  const p = runFerry(args);
  const code = await p.exited;
  assert.equal(code, 0, `ferry ${args.join(' ')}: ${p.stderr()}`);
  return p.stdout();
}

describe('Shadowsocks share links (user show → connect)', { skip: skipReason(needs) }, () => {
  let dir: string;
  let cfgFile: string;
  let origin: HttpOrigin;
  let config: Record<string, unknown>;
  const cleanups: (() => Promise<void> | void)[] = [];
  let refresh: () => Promise<void>;

  before(async () => {
    origin = await startHttpOrigin();
    dir = mkdtempSync(join(tmpdir(), 'ferry-sslink-'));
    cfgFile = join(dir, 'ferry.yaml');
    config = {
      data_dir: dir,
      inbounds: [
        {
          name: 'ss22',
          type: 'shadowsocks',
          listen: `127.0.0.1:${await freePort()}`,
          shadowsocks: { method: '2022-blake3-aes-128-gcm', password: randomBytes(16).toString('base64') },
        },
        {
          name: 'ssaead',
          type: 'shadowsocks',
          listen: `127.0.0.1:${await freePort()}`,
          shadowsocks: { method: 'aes-256-gcm', udp: false },
        },
      ],
      router: { allow_destinations: ['127.0.0.0/8'] },
      timeouts: { handshake: 1 },
    };
    writeFileSync(cfgFile, stringify(config));
    // A gateway on the same store, as `ferry serve` runs it: the management plane's snapshot feeds the
    // inbound's key table. The tests reload the snapshot after each store change instead of waiting
    // for the poll.
    const store = await openStore({ dataDir: dir });
    cleanups.push(() => store.close());
    const gw = await startGateway(config, { log: silentLogger(), store });
    cleanups.push(() => gw.close(0));
    refresh = () => gw.management!.reload();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await origin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a new user gets a key; each link reaches the server through ferry connect', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    await ferry(['user', 'add', 'alice', '-c', cfgFile]);
    const shown = JSON.parse(await ferry(['user', 'show', 'alice', '-c', cfgFile, '--json'])) as {
      name: string;
      shadowsocks: { inbound: string; link: string }[];
    };
    assert.equal(shown.name, 'alice');
    assert.deepEqual(
      shown.shadowsocks.map((l) => l.inbound),
      ['ss22', 'ssaead'],
    );
    const l22 = parseSsUri(shown.shadowsocks[0]!.link);
    assert.equal(l22.method, '2022-blake3-aes-128-gcm');
    assert.match(shown.shadowsocks[0]!.link, /^ss:\/\/2022-blake3-aes-128-gcm:[^@]*%3A[^@]*@127\.0\.0\.1:/);
    assert.equal(l22.password.split(':').length, 2, 'server key : user key (identity headers)');
    assert.match(shown.shadowsocks[1]!.link, /^ss:\/\/[A-Za-z0-9_-]+@127\.0\.0\.1:\d+#alice%40ssaead$/);

    // Text mode prints the links with QR codes, and --qr-file writes one.
    const text = await ferry(['user', 'show', 'alice', '-c', cfgFile, '--qr-file', join(dir, 'alice.svg')]);
    assert.ok(text.includes(shown.shadowsocks[0]!.link));
    assert.match(text, /[▀▄█]/);
    assert.match(readFileSync(join(dir, 'alice.svg'), 'utf8'), /<svg/);

    await refresh();
    for (const { link, inbound } of shown.shadowsocks) {
      const gw = await startConnect({ link, listen: '127.0.0.1:0', log: silentLogger() });
      cleanups.push(() => gw.close(0));
      const body = await curlSocks(gw.address('local').port, `http://127.0.0.1:${origin.port}/${inbound}`);
      assert.equal((JSON.parse(body) as { url: string }).url, `/${inbound}`);
    }
  });

  it('rotating the key changes the link; the old one is turned away', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    await ferry(['user', 'add', 'bob', '-c', cfgFile]);
    const before = JSON.parse(await ferry(['user', 'ss-key', 'bob', '-c', cfgFile, '--json'])) as {
      links: { link: string }[];
    };
    const rotated = JSON.parse(
      await ferry(['user', 'ss-key', 'bob', '--rotate', '-c', cfgFile, '--json']),
    ) as { key: string; links: { link: string }[] };
    assert.notEqual(rotated.links[1]!.link, before.links[1]!.link);
    await refresh();
    const fresh = await startConnect({
      link: rotated.links[1]!.link,
      listen: '127.0.0.1:0',
      log: silentLogger(),
    });
    cleanups.push(() => fresh.close(0));
    const ok = await curlSocks(fresh.address('local').port, `http://127.0.0.1:${origin.port}/new`);
    assert.equal((JSON.parse(ok) as { url: string }).url, '/new');
    const stale = await startConnect({
      link: before.links[1]!.link,
      listen: '127.0.0.1:0',
      log: silentLogger(),
    });
    cleanups.push(() => stale.close(0));
    await assert.rejects(curlSocks(stale.address('local').port, `http://127.0.0.1:${origin.port}/old`));
  });
});

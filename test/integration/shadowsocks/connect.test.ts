// `ferry connect ss://…`: the local mixed proxy built from a SIP002 link, in front of ss-server
// (AEAD link, base64 userinfo) and of a Ferry server (2022 link, percent-encoded userinfo, EIH).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { registerConnect, startConnect } from '../../../src/cli/connect.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Gateway } from '../../../src/server/gateway.js';
import { formatSsUri } from '../../../src/share/ss-uri.js';
import { runAsync } from '../../helpers/proc.js';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { curlSocks, startFerryServer, startSsServer } from './harness.js';

const needs = { tools: ['ss-server', 'curl'] };

describe('ferry connect', { skip: skipReason(needs) }, () => {
  let origin: HttpOrigin;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    origin = await startHttpOrigin();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await origin?.close();
  });

  it('registers the `connect` command', () => {
    const p = new Command();
    registerConnect(p);
    assert.ok(p.commands.some((c) => c.name() === 'connect'));
  });

  it('an AEAD link to ss-server: SOCKS5 and HTTP on one local port', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const server = await startSsServer('chacha20-ietf-poly1305', 'connect-pw');
    cleanups.push(() => server.proc.kill());
    const link = formatSsUri({
      method: 'chacha20-ietf-poly1305',
      password: 'connect-pw',
      host: '127.0.0.1',
      port: server.port,
      tag: 'libev',
    });
    const gw: Gateway = await startConnect({ link, listen: '127.0.0.1:0', log: silentLogger() });
    cleanups.push(() => gw.close(0));
    const port = gw.address('local').port;
    assert.equal(
      (JSON.parse(await curlSocks(port, `http://127.0.0.1:${origin.port}/socks`)) as { url: string }).url,
      '/socks',
    );
    const r = await runAsync('curl', [
      '-sS',
      '--max-time',
      '10',
      '--proxy',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${origin.port}/http`,
    ]);
    assert.equal((JSON.parse(r.stdout) as { url: string }).url, '/http', r.stderr);
  });

  it('a 2022 EIH link to a Ferry server', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const method = '2022-blake3-aes-256-gcm';
    const ipsk = randomBytes(32).toString('base64');
    const upsk = randomBytes(32).toString('base64');
    const server = await startFerryServer({
      method,
      password: ipsk,
      users: [{ name: 'erin', ss_password: upsk }],
    });
    cleanups.push(() => server.gw.close(0));
    const link = formatSsUri({ method, password: `${ipsk}:${upsk}`, host: '127.0.0.1', port: server.port });
    const gw = await startConnect({ link, listen: '127.0.0.1:0', log: silentLogger() });
    cleanups.push(() => gw.close(0));
    assert.equal(
      (
        JSON.parse(await curlSocks(gw.address('local').port, `http://127.0.0.1:${origin.port}/erin`)) as {
          url: string;
        }
      ).url,
      '/erin',
    );
  });

  it('refuses a LAN listener without --allow-lan and links that need a plugin', async () => {
    const link = formatSsUri({ method: 'aes-128-gcm', password: 'x', host: '127.0.0.1', port: 1 });
    await assert.rejects(startConnect({ link, listen: '0.0.0.0:0', log: silentLogger() }), /allow-lan/);
    await assert.rejects(
      startConnect({ link: `${link.replace('#', '')}/?plugin=v2ray-plugin`, log: silentLogger() }),
      /plugin/,
    );
  });
});

// Interoperability with v2ray 4.34's Shadowsocks (AEAD methods):
//   v2ray (SOCKS inbound → Shadowsocks outbound) → Ferry server inbound → origins on loopback;
//   Ferry client (mixed inbound + shadowsocks outbound) → v2ray (Shadowsocks inbound → freedom).
// TCP with curl through the local SOCKS5 port, UDP with a datagram echo through SOCKS5 UDP ASSOCIATE.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import {
  AEAD_METHODS,
  curlSocks,
  socksUdpEcho,
  startFerryClient,
  startFerryServer,
  startUdpEcho,
  startV2ray,
} from './harness.js';

const needs = { tools: ['v2ray', 'curl'] };

describe('v2ray 4.34 interop', { skip: skipReason(needs) }, () => {
  let origin: HttpOrigin;
  let echo: { port: number; close(): void };
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    origin = await startHttpOrigin();
    echo = await startUdpEcho();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await origin?.close();
    echo?.close();
  });

  for (const method of AEAD_METHODS) {
    it(`v2ray client → Ferry server (${method}): TCP and UDP`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const password = `v2-${method}`;
      const server = await startFerryServer({ method, password });
      cleanups.push(() => server.gw.close(0));
      const v2 = await startV2ray('client', method, password, server.port);
      cleanups.push(async () => {
        await v2.proc.kill();
        v2.cleanup();
      });
      const body = JSON.parse(await curlSocks(v2.port, `http://127.0.0.1:${origin.port}/v2ray-to-ferry`)) as {
        url: string;
      };
      assert.equal(body.url, '/v2ray-to-ferry');
      assert.equal(await socksUdpEcho(v2.port, echo.port, `v2 udp ${method}`), `echo:v2 udp ${method}`);
    });

    it(`Ferry client → v2ray server (${method}): TCP and UDP`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const password = `v2s-${method}`;
      const v2 = await startV2ray('server', method, password);
      cleanups.push(async () => {
        await v2.proc.kill();
        v2.cleanup();
      });
      const client = await startFerryClient(`127.0.0.1:${v2.port}`, method, password);
      cleanups.push(() => client.gw.close(0));
      const big = await curlSocks(client.port, `http://127.0.0.1:${origin.port}/size/2000000`);
      assert.equal(big.length, 2_000_000);
      assert.equal(await socksUdpEcho(client.port, echo.port, `to v2 ${method}`), `echo:to v2 ${method}`);
    });
  }
});

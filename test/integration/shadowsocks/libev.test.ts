// Interoperability with shadowsocks-libev, for every AEAD method (SIP004/SIP007):
//   ss-local (libev client) → Ferry server inbound → origins on loopback;
//   Ferry client (mixed inbound + shadowsocks outbound) → ss-server (libev server) → origins.
// TCP is proven with curl through the local SOCKS5 port, UDP with a datagram echo through SOCKS5
// UDP ASSOCIATE, which each side carries over the Shadowsocks UDP relay.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import {
  AEAD_METHODS,
  curlSocks,
  curlUpload,
  socksUdpEcho,
  startFerryClient,
  startFerryServer,
  startSsLocal,
  startSsServer,
  startUdpEcho,
} from './harness.js';

const needs = { tools: ['ss-local', 'ss-server', 'curl'] };

describe('shadowsocks-libev interop', { skip: skipReason(needs) }, () => {
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

  it('ss-local → Ferry server on [::1] (TCP and UDP over IPv6)', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const method = 'aes-256-gcm';
    const server = await startFerryServer({ method, password: 'v6-pw', listen: '[::1]:0' });
    cleanups.push(() => server.gw.close(0));
    const local = await startSsLocal(server.port, method, 'v6-pw', '::1');
    cleanups.push(() => local.proc.kill());
    const body = JSON.parse(await curlSocks(local.port, `http://127.0.0.1:${origin.port}/v6`)) as {
      url: string;
    };
    assert.equal(body.url, '/v6');
    assert.equal(await socksUdpEcho(local.port, echo.port, 'udp v6'), 'echo:udp v6');
  });

  for (const method of AEAD_METHODS) {
    it(`ss-local → Ferry server (${method}): TCP and UDP`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const password = `pw-${method}-Ünï`;
      const server = await startFerryServer({ method, password });
      cleanups.push(() => server.gw.close(0));
      const local = await startSsLocal(server.port, method, password);
      cleanups.push(() => local.proc.kill());
      const body = JSON.parse(
        await curlSocks(local.port, `http://127.0.0.1:${origin.port}/via-ferry-server`),
      ) as { url: string };
      assert.equal(body.url, '/via-ferry-server');
      // A host name goes to the server unresolved (ATYP 0x03) and is resolved there.
      const named = JSON.parse(await curlSocks(local.port, `http://localhost:${origin.port}/named`)) as {
        url: string;
      };
      assert.equal(named.url, '/named');
      // Upload: 2 MB from the client side crosses the stream the other way.
      assert.equal(await curlUpload(local.port, `http://127.0.0.1:${origin.port}/up`, 2_000_000), 2_000_000);
      assert.equal(
        await socksUdpEcho(local.port, echo.port, `udp over ${method}`),
        `echo:udp over ${method}`,
      );
      // The access log attributes the sessions to the inbound, never with the password.
      assert.ok(
        server.lines.some((l) => l.includes('"cmd":"connect"')),
        'a session record',
      );
      assert.ok(!server.lines.some((l) => l.includes(password)), 'password never logged');
    });

    it(`Ferry client → ss-server (${method}): TCP and UDP`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const password = `pw2-${method}`;
      const server = await startSsServer(method, password);
      cleanups.push(() => server.proc.kill());
      const client = await startFerryClient(`127.0.0.1:${server.port}`, method, password);
      cleanups.push(() => client.gw.close(0));
      const body = JSON.parse(
        await curlSocks(client.port, `http://127.0.0.1:${origin.port}/via-ss-server`),
      ) as { url: string };
      assert.equal(body.url, '/via-ss-server');
      // A 3 MB body crosses many 0x3FFF chunks.
      const big = await curlSocks(client.port, `http://127.0.0.1:${origin.port}/size/3000000`);
      assert.equal(big.length, 3_000_000);
      assert.equal(await curlUpload(client.port, `http://127.0.0.1:${origin.port}/up`, 2_000_000), 2_000_000);
      assert.equal(await socksUdpEcho(client.port, echo.port, `udp to ${method}`), `echo:udp to ${method}`);
    });
  }
});

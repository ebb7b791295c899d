// Ferry client ↔ Ferry server with the 2022 edition (SIP022): every method over TCP (curl through
// the client's SOCKS5 port) and UDP (SOCKS5 UDP ASSOCIATE → the 2022 UDP relay), and several users on
// one port with extensible identity headers (EIH), each session attributed to its Ferry user.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import {
  METHODS_2022,
  curlSocks,
  curlUpload,
  socksUdpEcho,
  startFerryClient,
  startFerryServer,
  startUdpEcho,
} from './harness.js';

const needs = { tools: ['curl'] };
const keyLen = (m: string): number => (m.includes('128') ? 16 : 32);
const psk = (m: string): string => randomBytes(keyLen(m)).toString('base64');

describe('Ferry ↔ Ferry, Shadowsocks 2022', { skip: skipReason(needs) }, () => {
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

  for (const method of METHODS_2022) {
    it(`${method}: TCP and UDP`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const key = psk(method);
      const server = await startFerryServer({ method, password: key });
      cleanups.push(() => server.gw.close(0));
      const client = await startFerryClient(`127.0.0.1:${server.port}`, method, key);
      cleanups.push(() => client.gw.close(0));
      const body = JSON.parse(await curlSocks(client.port, `http://127.0.0.1:${origin.port}/ss2022`)) as {
        url: string;
      };
      assert.equal(body.url, '/ss2022');
      // 5 MB: payload chunks of up to 0xFFFF bytes, many of them.
      const big = await curlSocks(client.port, `http://127.0.0.1:${origin.port}/size/5000000`);
      assert.equal(big.length, 5_000_000);
      assert.equal(await curlUpload(client.port, `http://127.0.0.1:${origin.port}/up`, 3_000_000), 3_000_000);
      assert.equal(
        await socksUdpEcho(client.port, echo.port, `2022 udp ${method}`),
        `echo:2022 udp ${method}`,
      );
    });
  }

  it('a wrong key gets no answer (the client sees the connection fail)', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const method = '2022-blake3-aes-128-gcm';
    const server = await startFerryServer({ method, password: psk(method), handshake: 1 });
    cleanups.push(() => server.gw.close(0));
    const client = await startFerryClient(`127.0.0.1:${server.port}`, method, psk(method));
    cleanups.push(() => client.gw.close(0));
    await assert.rejects(curlSocks(client.port, `http://127.0.0.1:${origin.port}/nope`));
  });

  for (const method of ['2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm']) {
    it(`${method}: EIH, two users on one port, sessions attributed to each`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const ipsk = psk(method);
      const alice = psk(method);
      const bob = psk(method);
      const server = await startFerryServer({
        method,
        password: ipsk,
        handshake: 1, // the stranger's connection is drained for this long
        users: [
          { name: 'alice', ss_password: alice },
          { name: 'bob', ss_password: bob },
        ],
      });
      cleanups.push(() => server.gw.close(0));
      const ca = await startFerryClient(`127.0.0.1:${server.port}`, method, `${ipsk}:${alice}`);
      cleanups.push(() => ca.gw.close(0));
      const cb = await startFerryClient(`127.0.0.1:${server.port}`, method, `${ipsk}:${bob}`);
      cleanups.push(() => cb.gw.close(0));
      const stranger = await startFerryClient(`127.0.0.1:${server.port}`, method, `${ipsk}:${psk(method)}`);
      cleanups.push(() => stranger.gw.close(0));

      assert.equal(
        (JSON.parse(await curlSocks(ca.port, `http://127.0.0.1:${origin.port}/alice`)) as { url: string })
          .url,
        '/alice',
      );
      assert.equal(
        (JSON.parse(await curlSocks(cb.port, `http://127.0.0.1:${origin.port}/bob`)) as { url: string }).url,
        '/bob',
      );
      assert.equal(await socksUdpEcho(cb.port, echo.port, 'bob udp'), 'echo:bob udp');
      await assert.rejects(curlSocks(stranger.port, `http://127.0.0.1:${origin.port}/stranger`));
      const sessions = await waitFor('two session records', () => {
        const s = server.lines
          .filter((l) => l.includes('"msg":"session"'))
          .map((l) => JSON.parse(l) as { user: string; cmd: string });
        return s.length >= 2 ? s : null;
      });
      assert.deepEqual(sessions.map((s) => s.user).sort(), ['alice', 'bob']);
      for (const k of [ipsk, alice, bob])
        assert.ok(!server.lines.some((l) => l.includes(k)), 'no key in the log');
    });
  }
});

// Keys follow the configuration on reload: a user whose ss_password is removed or who is disabled is
// refused by new connections, a new user gets in, and a method change applies to new sessions — all
// without restarting the listener.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type Gateway } from '../../../src/server/gateway.js';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { curlSocks, memoryLogger, startFerryClient } from './harness.js';

const needs = { tools: ['curl'] };

function config(method: string, users: { name: string; ss_password: string; enabled?: boolean }[]): unknown {
  return {
    users: users.map((u) => ({ ...u, password: 'login-pw' })),
    inbounds: [{ name: 'ss', type: 'shadowsocks', listen: '127.0.0.1:0', shadowsocks: { method } }],
    router: { allow_destinations: ['127.0.0.0/8'] },
    timeouts: { handshake: 1 },
  };
}

describe('Shadowsocks inbound reload', { skip: skipReason(needs) }, () => {
  let origin: HttpOrigin;
  let gw: Gateway | null = null;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    origin = await startHttpOrigin();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await gw?.close(0);
    await origin?.close();
  });

  it('applies user and method changes to new sessions on the same port', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    gw = await startGateway(
      config('aes-256-gcm', [
        { name: 'alice', ss_password: 'alice-ss' },
        { name: 'bob', ss_password: 'bob-ss' },
      ]),
      { log: memoryLogger().log },
    );
    const port = gw.address('ss').port;
    const client = async (method: string, pw: string): Promise<number> => {
      const c = await startFerryClient(`127.0.0.1:${port}`, method, pw);
      cleanups.push(() => c.gw.close(0));
      return c.port;
    };
    const url = `http://127.0.0.1:${origin.port}/r`;
    const alice = await client('aes-256-gcm', 'alice-ss');
    const bob = await client('aes-256-gcm', 'bob-ss');
    const carol = await client('aes-256-gcm', 'carol-ss');
    await curlSocks(alice, url);
    await curlSocks(bob, url);
    await assert.rejects(curlSocks(carol, url));

    await gw.reload(
      config('aes-256-gcm', [
        { name: 'alice', ss_password: 'alice-ss' },
        { name: 'bob', ss_password: 'bob-ss', enabled: false },
        { name: 'carol', ss_password: 'carol-ss' },
      ]),
    );
    assert.equal(gw.address('ss').port, port, 'same listener');
    await curlSocks(alice, url);
    await curlSocks(carol, url);
    await assert.rejects(curlSocks(bob, url), 'a disabled user is refused');

    await gw.reload(config('chacha20-ietf-poly1305', [{ name: 'alice', ss_password: 'alice-ss' }]));
    await assert.rejects(curlSocks(alice, url), 'the old method no longer works');
    await curlSocks(await client('chacha20-ietf-poly1305', 'alice-ss'), url);
  });

  it('refuses a configuration with a malformed 2022 key at startup', async () => {
    await assert.rejects(
      startGateway(
        {
          inbounds: [
            {
              name: 'ss',
              type: 'shadowsocks',
              listen: '127.0.0.1:0',
              shadowsocks: { method: '2022-blake3-aes-128-gcm', password: 'short' },
            },
          ],
        },
        { log: memoryLogger().log },
      ),
      /16 random bytes in base64|not base64/,
    );
  });
});

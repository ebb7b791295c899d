// The SOCKS inbound as the gateway assembles it from a configuration: `type: socks` and `type: mixed`
// listeners with users, curl through both, and a reload that changes a password for new sessions.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/core/logger.js';
import { startGateway, type Gateway } from '../../../src/server/gateway.js';
import { skipReason } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { startOrigin, type Origin } from './harness.js';

const config = (password: string): Record<string, unknown> => ({
  users: [{ name: 'carol', password }],
  inbounds: [
    { name: 'socks-in', type: 'socks', listen: '127.0.0.1:0', auth: true },
    { name: 'mixed-in', type: 'mixed', listen: '127.0.0.1:0', auth: true },
  ],
  outbounds: [{ name: 'direct', type: 'direct' }],
  router: { default: 'direct', allow_destinations: ['127.0.0.0/8', '::1/128'], rules: [] },
  log: { level: 'info', access_log: 'audit' },
});

describe('SOCKS inbound in the gateway', { skip: skipReason({ tools: ['curl'] }), timeout: 60_000 }, () => {
  let gw: Gateway;
  let origin: Origin;
  let dir: string;
  let log = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-socks-gw-'));
    origin = await startOrigin('127.0.0.1', 1024);
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        log += c.toString();
        cb();
      },
    });
    gw = await startGateway(config('first-Pa55'), {
      log: createLogger({ level: 'info', destination: sink }),
      dataDir: dir,
    });
  });
  after(async () => {
    await gw?.close(0);
    await origin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fetchVia = (proxy: string) =>
    runAsync('curl', ['-sS', '--max-time', '10', '-x', proxy, `http://localhost:${origin.port}/small`], {
      timeoutMs: 20_000,
    });
  const port = (name: string): number => gw.address(name).port;

  it('serves SOCKS5 and SOCKS4a with credentials on a socks listener', async () => {
    const r5 = await fetchVia(`socks5h://carol:first-Pa55@127.0.0.1:${port('socks-in')}`);
    assert.equal(r5.code, 0, r5.stderr);
    assert.equal(r5.stdout, 'hello from 127.0.0.1\n');
    const r4 = await fetchVia(`socks4a://carol%3Afirst-Pa55@127.0.0.1:${port('socks-in')}`);
    assert.equal(r4.code, 0, r4.stderr);
    const none = await fetchVia(`socks5h://127.0.0.1:${port('socks-in')}`);
    assert.notEqual(none.code, 0);
  });

  it('serves SOCKS behind the mixed listener', async () => {
    const r = await fetchVia(`socks5h://carol:first-Pa55@127.0.0.1:${port('mixed-in')}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from 127.0.0.1\n');
  });

  it('a reload changes the password for new sessions', async () => {
    await gw.reload(config('second-Pa55'));
    const old = await fetchVia(`socks5h://carol:first-Pa55@127.0.0.1:${port('socks-in')}`);
    assert.notEqual(old.code, 0);
    const now = await fetchVia(`socks5h://carol:second-Pa55@127.0.0.1:${port('socks-in')}`);
    assert.equal(now.code, 0, now.stderr);
  });

  it('writes access records without secrets', () => {
    assert.match(log, /"inbound":"socks-in".*"user":"carol"/);
    assert.ok(!log.includes('first-Pa55') && !log.includes('second-Pa55'));
  });
});

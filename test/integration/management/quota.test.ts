// A tier's data quota, end to end: a download larger than the quota is cut at the quota (within one
// relay buffer), every later request is refused with the reason — an HTTP 403 with a body that
// says so, SOCKS5 reply 0x02 — on both inbounds, and the spent quota survives a restart (the usage
// batch is written at shutdown).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { addUser, curl, ferryCli, startServe, stopAll, tempDir, type Rig } from './harness.js';

const QUOTA = 2 * 1024 * 1024; // --quota 2M
/** One relay read plus what the kernel buffers hold on the way to the client. */
const SLACK = 512 * 1024;

describe('tier quota through ferry serve', () => {
  const tmp = tempDir('ferry-quota-');
  const data = `${tmp.dir}/data`;
  let rig: Rig | undefined;
  let origin: HttpOrigin | undefined;
  let pw = '';
  let otherPw = '';
  const extra = ['router: { allow_destinations: ["127.0.0.0/8"] }'];

  before(async () => {
    if (!requirePrereqs(undefined, { tools: ['curl'] })) return;
    await ferryCli(data, ['tier', 'add', 'small', '--quota', '2M']);
    pw = await addUser(data, 'quinn', 'small');
    otherPw = await addUser(data, 'olga', 'small');
    origin = await startHttpOrigin();
    rig = await startServe(tmp.dir, extra);
  });
  after(() => stopAll(rig, origin, tmp));

  it('a download is cut at the quota, and later requests are refused with the reason', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    const big = await curl(
      `http://quinn:${pw}@127.0.0.1:${rig!.http}`,
      `http://127.0.0.1:${origin!.port}/size/${4 * QUOTA}`,
      ['-o', '/dev/null'],
    );
    t.diagnostic(`cut after ${big.bytes} bytes (quota ${QUOTA}); curl: ${big.stderr.trim()}`);
    assert.notEqual(big.code, 0, 'the transfer does not complete');
    assert.ok(
      big.bytes >= QUOTA - SLACK && big.bytes <= QUOTA + SLACK,
      `received ${big.bytes}, quota ${QUOTA}`,
    );

    const http = await curl(`http://quinn:${pw}@127.0.0.1:${rig!.http}`, `http://127.0.0.1:${origin!.port}/`);
    assert.equal(http.status, 403);
    assert.match(http.body, /quota/i, 'the 403 body says why');

    const tunnel = await curl(
      `http://quinn:${pw}@127.0.0.1:${rig!.http}`,
      `http://127.0.0.1:${origin!.port}/`,
      ['--proxytunnel'],
    );
    assert.notEqual(tunnel.code, 0);
    assert.match(tunnel.stderr, /403/, 'CONNECT is refused with 403 too');

    const socks = await curl(
      `socks5h://quinn:${pw}@127.0.0.1:${rig!.socks}`,
      `http://127.0.0.1:${origin!.port}/`,
    );
    assert.notEqual(socks.code, 0);
    // curl prints the SOCKS5 reply code: 2 = "connection not allowed by ruleset" (RFC 1928 §6).
    assert.match(socks.stderr, /\(2\)|not allowed/i, socks.stderr);

    const other = await curl(
      `socks5h://olga:${otherPw}@127.0.0.1:${rig!.socks}`,
      `http://127.0.0.1:${origin!.port}/`,
    );
    assert.equal(other.status, 200, 'another user of the same tier has their own quota');

    const usage = JSON.parse(await ferryCli(data, ['usage', 'quinn', '--json'])) as {
      bytesTotal: number;
    }[];
    t.diagnostic(`stored usage: ${JSON.stringify(usage)}`);
  });

  it('the spent quota survives a restart (usage written at shutdown)', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    await rig!.stop();
    const usage = JSON.parse(await ferryCli(data, ['usage', 'quinn', '--json'])) as {
      bytesTotal: number;
    }[];
    assert.ok(usage[0]!.bytesTotal >= QUOTA, `stored ${usage[0]!.bytesTotal} >= ${QUOTA}`);
    assert.ok(usage[0]!.bytesTotal <= QUOTA + SLACK, `stored ${usage[0]!.bytesTotal}: counted exactly`);
    rig = await startServe(tmp.dir, extra);
    const r = await curl(`http://quinn:${pw}@127.0.0.1:${rig.http}`, `http://127.0.0.1:${origin!.port}/`);
    assert.equal(r.status, 403);
    assert.match(r.body, /quota/i);
  });
});

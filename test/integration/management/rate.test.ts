// A tier's rate limit, end to end: `ferry tier add` + `ferry user add` in the store, `ferry serve`
// enforcing it, curl downloading through the HTTP and SOCKS inbounds. The limit is one token bucket
// per user shared by all their connections and protocols, so one connection and four parallel ones
// (two HTTP, two SOCKS) get the same total rate. A user without a tier is the control: the same
// download runs far faster, which shows that the tier is what holds the rate.
//
// The limit caps the speed, so a loaded machine can only make a transfer slower, never faster; the
// transfers last about 4 s so that the bucket's initial burst (1/10 s of rate) and socket buffers
// are a few percent of the total.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { addUser, curl, ferryCli, startServe, stopAll, tempDir, type Rig } from './harness.js';

const RATE = 1024 * 1024; // --down 1M: 1 MiB/s
const TOTAL = 4 * RATE; // about 4 s of transfer

describe('tier rate limit (1 MiB/s) through ferry serve', () => {
  const tmp = tempDir('ferry-rate-');
  let rig: Rig | undefined;
  let origin: HttpOrigin | undefined;
  let limitedPw = '';
  let freePw = '';

  before(async () => {
    if (!requirePrereqs(undefined, { tools: ['curl'] })) return;
    const data = `${tmp.dir}/data`;
    await ferryCli(data, ['tier', 'add', 'onemeg', '--up', '1M', '--down', '1M']);
    limitedPw = await addUser(data, 'rita', 'onemeg');
    freePw = await addUser(data, 'fred');
    origin = await startHttpOrigin();
    rig = await startServe(tmp.dir, ['router: { allow_destinations: ["127.0.0.0/8"] }']);
  });
  after(() => stopAll(rig, origin, tmp));

  const within10 = (t: { diagnostic(m: string): void }, measured: number, what: string): void => {
    const ratio = measured / RATE;
    t.diagnostic(`${what}: ${(measured / 1e6).toFixed(3)} MB/s = ${ratio.toFixed(3)} x limit`);
    assert.ok(
      ratio > 0.9 && ratio < 1.1,
      `${what}: ${(measured / 1e6).toFixed(3)} MB/s is ${ratio.toFixed(3)} of the limit`,
    );
  };

  it('one connection', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    const r = await curl(
      `http://rita:${limitedPw}@127.0.0.1:${rig!.http}`,
      `http://127.0.0.1:${origin!.port}/size/${TOTAL}`,
      ['-o', '/dev/null'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.bytes, TOTAL);
    within10(t, r.bytes / r.seconds, 'one HTTP connection');
  });

  it('four parallel connections of the same user across HTTP and SOCKS share it', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    const each = TOTAL / 4;
    const url = `http://127.0.0.1:${origin!.port}/size/${each}`;
    const started = performance.now();
    const rs = await Promise.all([
      curl(`http://rita:${limitedPw}@127.0.0.1:${rig!.http}`, url, ['-o', '/dev/null']),
      curl(`http://rita:${limitedPw}@127.0.0.1:${rig!.http}`, url, ['-o', '/dev/null']),
      curl(`socks5h://rita:${limitedPw}@127.0.0.1:${rig!.socks}`, url, ['-o', '/dev/null']),
      curl(`socks5h://rita:${limitedPw}@127.0.0.1:${rig!.socks}`, url, ['-o', '/dev/null']),
    ]);
    const seconds = (performance.now() - started) / 1000;
    for (const r of rs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.bytes, each);
    }
    // Wall time from the first start to the last end: the four curls start within milliseconds of
    // each other, and the shared bucket holds the total while any of them is running.
    within10(t, TOTAL / seconds, 'four connections (2 HTTP + 2 SOCKS) together');
    // Each got a share, not the whole rate: none finished in much less than the total time / 2.
    for (const r of rs) assert.ok(r.seconds > 1.5, `a connection finished in ${r.seconds} s: not sharing`);
  });

  it('a user without a tier is not held to it (control)', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    const r = await curl(
      `socks5h://fred:${freePw}@127.0.0.1:${rig!.socks}`,
      `http://127.0.0.1:${origin!.port}/size/${TOTAL}`,
      ['-o', '/dev/null'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.bytes / r.seconds > 3 * RATE, `unlimited: ${(r.bytes / r.seconds / 1e6).toFixed(1)} MB/s`);
  });
});

// Service tiers on Shadowsocks, end to end with a real client: store users made with `ferry tier add`
// and `ferry user add --tier`, their Shadowsocks keys read from `ferry user show --json` (the
// SIP002 link, whose method, key, host and port configure the client), `ferry serve` with an AEAD Shadowsocks inbound fed by the management plane, and
// shadowsocks-libev's ss-local in front of curl. The tier's shared token bucket, its quota and the
// usage counters must hold for a Shadowsocks session exactly as for the HTTP and SOCKS inbounds
// (rate.test.ts, quota.test.ts).
//
// Shadowsocks has no error reply: a user out of quota sees the connection close, both the running
// download and every later connection (ss-local has already answered the SOCKS handshake by then,
// so curl sees an empty reply rather than a SOCKS error).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseSsUri } from '../../../src/share/ss-uri.js';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import type { Proc } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { freePort, startSsLocal } from '../shadowsocks/harness.js';
import { addUser, curl, ferryCli, startServe, tempDir, type Rig } from './harness.js';

const needs = { tools: ['curl', 'ss-local'] };
const METHOD = 'chacha20-ietf-poly1305';
const RATE = 1024 * 1024; // --down 1M: 1 MiB/s
const TOTAL = 4 * RATE; // about 4 s of transfer, so the bucket's initial burst is a few percent
const QUOTA = 2 * 1024 * 1024; // --quota 2M
/** One relay read plus what the kernel and ss-local buffers hold on the way to the client. */
const SLACK = 512 * 1024;

interface UsageRow {
  bytesUp: number;
  bytesDown: number;
  bytesTotal: number;
}

describe('service tiers on Shadowsocks sessions (ss-local → ferry serve)', () => {
  const tmp = tempDir('ferry-sstier-');
  const data = join(tmp.dir, 'data');
  let rig: Rig | undefined;
  let origin: HttpOrigin | undefined;
  const clients: Proc[] = [];
  let saraPw = '';

  /** ss-local with the user's key from their share link, pointed at the inbound's actual port. */
  const ssLocalFor = async (name: string): Promise<number> => {
    const shown = JSON.parse(
      await ferryCli(data, ['user', 'show', name, '-c', join(tmp.dir, 'ferry.yaml'), '--json']),
    ) as { shadowsocks: { inbound: string; link: string }[] };
    const entry = shown.shadowsocks.find((l) => l.inbound === 'ss');
    assert.ok(entry, `a link for inbound ss: ${JSON.stringify(shown)}`);
    const link = parseSsUri(entry.link);
    assert.equal(link.method, METHOD);
    assert.equal(link.port, rig!.ports.ss, 'the link names the port ferry serve listens on');
    const local = await startSsLocal(link.port, link.method, link.password, link.host);
    clients.push(local.proc);
    return local.port;
  };

  /** ferry_policy_denials_total for the Shadowsocks inbound and one error code. */
  const denials = async (code: string): Promise<number> => {
    const text = await (await fetch(`${rig!.api}/metrics`)).text();
    const m = new RegExp(
      String.raw`^ferry_policy_denials_total\{[^}]*inbound="ss"[^}]*code="${code}"[^}]*\} (\d+)`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  };

  const usageOf = async (name: string): Promise<UsageRow> => {
    const rows = JSON.parse(await ferryCli(data, ['usage', name, '--json'])) as UsageRow[];
    return rows[0] ?? { bytesUp: 0, bytesDown: 0, bytesTotal: 0 };
  };

  before(async () => {
    if (!requirePrereqs(undefined, needs)) return;
    await ferryCli(data, ['tier', 'add', 'onemeg', '--up', '1M', '--down', '1M']);
    await ferryCli(data, ['tier', 'add', 'small', '--quota', '2M']);
    saraPw = await addUser(data, 'sara', 'onemeg');
    await addUser(data, 'quentin', 'small');
    await addUser(data, 'fred');
    origin = await startHttpOrigin();
    // A fixed port (not 0), because the share link carries the configured one.
    const ssPort = await freePort();
    rig = await startServe(tmp.dir, ['router: { allow_destinations: ["127.0.0.0/8"] }'], {
      // No shared password: only store users' own keys get in (per-user AEAD keys).
      inbounds: [
        `{ name: ss, type: shadowsocks, listen: "127.0.0.1:${ssPort}", shadowsocks: { method: ${METHOD} } }`,
      ],
    });
  });
  after(async () => {
    for (const c of clients) await c.kill();
    await rig?.stop();
    await origin?.close();
    tmp.cleanup();
  });

  it('a 1 MiB/s tier holds within 10% for one download, and the bytes are counted', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const socks = await ssLocalFor('sara');
    const r = await curl(`socks5h://127.0.0.1:${socks}`, `http://127.0.0.1:${origin!.port}/size/${TOTAL}`, [
      '-o',
      '/dev/null',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.bytes, TOTAL);
    const ratio = r.bytes / r.seconds / RATE;
    t.diagnostic(`${(r.bytes / r.seconds / 1e6).toFixed(3)} MB/s = ${ratio.toFixed(3)} x limit`);
    assert.ok(ratio > 0.9 && ratio < 1.1, `${ratio.toFixed(3)} of the limit`);

    // Usage batches reach the store every few seconds; the body and the HTTP headers are counted
    // as plaintext (not Shadowsocks framing), so the total is the body plus well under 4 KiB.
    const usage = await waitFor(
      'the download in sara’s stored usage',
      async () => {
        const u = await usageOf('sara');
        return u.bytesDown >= TOTAL && u;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    t.diagnostic(`stored usage: ${JSON.stringify(usage)}`);
    assert.ok(usage.bytesDown < TOTAL + 4096, `down ${usage.bytesDown}: the plaintext, counted once`);
    assert.ok(usage.bytesUp > 0 && usage.bytesUp < 4096, `up ${usage.bytesUp}: the request`);
  });

  it('the bucket is the user’s: a Shadowsocks and a SOCKS download at once share 1 MiB/s', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const socks = await ssLocalFor('sara');
    const url = `http://127.0.0.1:${origin!.port}/size/${TOTAL / 2}`;
    const started = performance.now();
    const rs = await Promise.all([
      curl(`socks5h://127.0.0.1:${socks}`, url, ['-o', '/dev/null']),
      curl(`socks5h://sara:${saraPw}@127.0.0.1:${rig!.socks}`, url, ['-o', '/dev/null']),
    ]);
    const seconds = (performance.now() - started) / 1000;
    for (const r of rs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.bytes, TOTAL / 2);
    }
    const ratio = TOTAL / seconds / RATE;
    t.diagnostic(`together ${(TOTAL / seconds / 1e6).toFixed(3)} MB/s = ${ratio.toFixed(3)} x limit`);
    assert.ok(ratio > 0.9 && ratio < 1.1, `${ratio.toFixed(3)} of the limit`);
    for (const r of rs) assert.ok(r.seconds > 1.5, `a download finished in ${r.seconds} s: not sharing`);
  });

  it('a user without a tier is not held to it on Shadowsocks (control)', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const socks = await ssLocalFor('fred');
    const r = await curl(`socks5h://127.0.0.1:${socks}`, `http://127.0.0.1:${origin!.port}/size/${TOTAL}`, [
      '-o',
      '/dev/null',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.bytes / r.seconds > 3 * RATE, `unlimited: ${(r.bytes / r.seconds / 1e6).toFixed(1)} MB/s`);
  });

  it('a quota cuts the download at the quota, closes later connections, and is counted', async (t) => {
    if (!requirePrereqs(t, needs)) return;
    const socks = await ssLocalFor('quentin');
    const url = `http://127.0.0.1:${origin!.port}/size/${4 * QUOTA}`;
    const big = await curl(`socks5h://127.0.0.1:${socks}`, url, ['-o', '/dev/null']);
    t.diagnostic(`cut after ${big.bytes} bytes (quota ${QUOTA}); curl: ${big.stderr.trim()}`);
    assert.notEqual(big.code, 0, 'the transfer does not complete');
    assert.ok(
      big.bytes >= QUOTA - SLACK && big.bytes <= QUOTA + SLACK,
      `received ${big.bytes}, quota ${QUOTA}`,
    );

    const refusedBefore = await denials('E_QUOTA');
    const again = await curl(`socks5h://127.0.0.1:${socks}`, `http://127.0.0.1:${origin!.port}/`);
    t.diagnostic(`later connection: curl ${again.code}: ${again.stderr.trim()}`);
    assert.notEqual(again.code, 0, 'a new connection is closed');
    assert.equal(again.bytes, 0);
    assert.equal(again.status, 0, 'no HTTP response');
    // The close is the tier's refusal, not some other failure: it is counted as a quota denial.
    assert.equal(await denials('E_QUOTA'), refusedBefore + 1, 'refused with E_QUOTA');

    const usage = await waitFor(
      'the quota in quentin’s stored usage',
      async () => {
        const u = await usageOf('quentin');
        return u.bytesTotal >= QUOTA && u;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    t.diagnostic(`stored usage: ${JSON.stringify(usage)}`);
    assert.ok(usage.bytesTotal <= QUOTA + SLACK, `stored ${usage.bytesTotal}: counted exactly`);
    assert.ok(usage.bytesDown >= big.bytes, `stored down ${usage.bytesDown} ≥ received ${big.bytes}`);
  });
});

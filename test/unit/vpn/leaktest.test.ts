// Leak-test verdicts against a loopback origin that answers chosen addresses: the classification
// (own address, expected exit, blocked family) is what decides pass or fail.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import {
  checkExit,
  formatReport,
  systemNameservers,
  type LeakTestOptions,
} from '../../../src/audit/leaktest.js';
import type { UpState } from '../../../src/vpn/client/state.js';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

describe('leak test verdicts', () => {
  let srv: Server;
  let answer = '';
  let base = '';
  before(async () => {
    srv = createServer((_req, res) => res.end(answer + '\n'));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    base = `http://127.0.0.1:${(srv.address() as { port: number }).port}/ip`;
  });
  after(() => srv.close());

  const tunnel = (blocked: (4 | 6)[]): UpState =>
    ({ ifname: 'wg0', blocked, tunnelled: [4], dns: [], undo: [] }) as unknown as UpState;
  const o = (extra: Partial<LeakTestOptions> = {}): LeakTestOptions => ({
    expectExit: [],
    tunnel: tunnel([]),
    timeoutMs: 3000,
    ...extra,
  });

  it("fails when the origin sees one of the device's own addresses", async () => {
    answer = '192.0.2.10';
    const r = await checkExit(4, base, o(), new Set(['192.0.2.10']));
    assert.equal(r.verdict, 'fail');
    assert.match(r.detail, /own address 192\.0\.2\.10/);
  });
  it('passes on an expected exit, fails on an unexpected one', async () => {
    answer = '203.0.113.7';
    assert.equal((await checkExit(4, base, o({ expectExit: ['203.0.113.7'] }), new Set())).verdict, 'pass');
    const r = await checkExit(4, base, o({ expectExit: ['203.0.113.8'] }), new Set());
    assert.equal(r.verdict, 'fail');
    assert.match(r.detail, /not an expected exit/);
  });
  it('a family the tunnel does not carry must be unreachable', async () => {
    answer = '2001:db8::5';
    const leak = await checkExit(6, base, o({ tunnel: tunnel([6]) }), new Set());
    assert.equal(leak.verdict, 'fail');
    assert.match(leak.detail, /IPv6 leak/);
    const closed = await checkExit(6, 'http://127.0.0.1:1/ip', o({ tunnel: tunnel([6]) }), new Set());
    assert.equal(closed.verdict, 'pass');
    const down = await checkExit(4, 'http://127.0.0.1:1/ip', o(), new Set());
    assert.equal(down.verdict, 'fail', 'an unreachable origin for a tunnelled family is not a pass');
  });
  it('no origin: skipped; the report says whether anything leaked', async () => {
    const skipped = await checkExit(6, undefined, o(), new Set());
    assert.equal(skipped.verdict, 'skip');
    assert.match(formatReport([skipped]), /no leak found/);
    assert.match(formatReport([{ check: 'DNS', verdict: 'fail', detail: 'x' }]), /LEAK: 1 check\(s\) failed/);
  });
  it('reads nameservers from a resolv.conf', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-lt-'));
    try {
      const p = join(dir, 'resolv.conf');
      writeFileSync(p, '# c\nnameserver 10.99.0.1\n nameserver fd99::1\nsearch x\n');
      assert.deepEqual(systemNameservers(p), ['10.99.0.1', 'fd99::1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// `ferry serve --workers 2`: every worker process opens the store, counts its sessions' bytes and
// writes them in its own batches, so the stored usage is the exact sum over the workers. The
// primary's admin API lists the workers' open sessions and sums their metrics.
//
// Exactness is checked against curl itself: through SOCKS the relay carries exactly the request
// curl sent (%{size_request}) and the response it received (%{size_header} + %{size_download}).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { addAdmin, addUser, curl, ferryCli, startServe, stopAll, tempDir, type Rig } from './harness.js';

describe('ferry serve --workers 2 with the store', () => {
  const tmp = tempDir('ferry-workers-');
  const data = `${tmp.dir}/data`;
  let rig: Rig | undefined;
  let origin: HttpOrigin | undefined;
  let pw = '';
  let slowPw = '';
  let auth: Record<string, string> = {};

  before(async () => {
    if (!requirePrereqs(undefined, { tools: ['curl'] })) return;
    await ferryCli(data, ['tier', 'add', 'slow', '--down', '256k']);
    pw = await addUser(data, 'wanda');
    slowPw = await addUser(data, 'slowpoke', 'slow');
    auth = await addAdmin(data);
    origin = await startHttpOrigin();
    rig = await startServe(tmp.dir, ['router: { allow_destinations: ["127.0.0.0/8"] }'], {
      args: ['--workers', '2'],
    });
  });
  after(() => stopAll(rig, origin, tmp));

  it('usage is counted exactly across the workers; the API sees their sessions and metrics', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    let expected = 0;
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        runAsync('curl', [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{size_request} %{size_header} %{size_download}',
          '-x',
          `socks5h://wanda:${pw}@127.0.0.1:${rig!.socks}`,
          `http://127.0.0.1:${origin!.port}/size/${100_000 + i * 1000}`,
        ]),
      ),
    );
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      for (const n of r.stdout.split(' ').map(Number)) expected += n;
    }

    // A slow session, to be listed by the primary's API from whichever worker holds it.
    const slow = curl(
      `socks5h://slowpoke:${slowPw}@127.0.0.1:${rig!.socks}`,
      `http://127.0.0.1:${origin!.port}/size/${8 * 1024 * 1024}`,
      ['-o', '/dev/null'],
    );
    const listed = await waitFor(
      'the slow session in the listing',
      async () => {
        const l = (await (await fetch(`${rig!.api}/api/v1/sessions`, { headers: auth })).json()) as {
          id: string;
          user: string;
        }[];
        return l.find((s) => s.user === 'slowpoke');
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    assert.match(listed.id, /^w\d+-\d+$/, 'ids name the worker');
    const del = await fetch(`${rig!.api}/api/v1/sessions/${listed.id}`, { method: 'DELETE', headers: auth });
    assert.equal(del.status, 204);
    assert.notEqual((await slow).code, 0, 'killed through the primary');

    const metrics = await (await fetch(`${rig!.api}/metrics`)).text();
    const opened = /ferry_connections_opened_total\{inbound="s"\} (\d+)/.exec(metrics);
    assert.ok(opened && Number(opened[1]) >= 13, `summed over workers: ${opened?.[0]}`);
    assert.match(metrics, /^ferry_info\{[^}]*\} 1$/m, 'ferry_info once, not once per worker');

    await rig!.stop(); // every worker writes its last batch
    const usage = JSON.parse(await ferryCli(data, ['usage', 'wanda', '--json'])) as { bytesTotal: number }[];
    t.diagnostic(`stored ${usage[0]!.bytesTotal}, curl saw ${expected}`);
    assert.equal(usage[0]!.bytesTotal, expected);
  });
});

// Reload (SIGHUP and file edits) swaps users and rules without dropping live tunnels; SIGTERM drains.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runFerry, waitForListeners } from '../../helpers/ferry.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { startHttpOrigin, startTcpEcho } from '../../helpers/origin.js';
import { curlStatus, echoRoundTrip, httpConnectTunnel } from '../../helpers/clients.js';
import { waitFor, canConnect } from '../../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(users: string[], extra = ''): string {
  return [
    `data_dir: ${dir}`,
    'users:',
    ...users.map((u) => `  - { name: ${u}, password: pw-${u} }`),
    'inbounds:',
    '  - { name: h, type: http, listen: "127.0.0.1:0" }',
    'router:',
    '  allow_destinations: ["127.0.0.0/8"]',
    extra,
  ].join('\n');
}

test('SIGHUP adds a user and a rule; a live tunnel survives; SIGTERM drains it', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, config(['alice']));
  const origin = await startHttpOrigin();
  const echo = await startTcpEcho();
  const p = runFerry(['serve', '--config', file, '--drain-timeout', '20']);
  t.after(async () => {
    await p.stop('SIGKILL');
    await origin.close();
    echo.close();
  });
  const { h: port } = await waitForListeners(p, ['h']);
  const url = `http://127.0.0.1:${origin.port}/x`;
  assert.equal(await curlStatus(`http://alice:pw-alice@127.0.0.1:${port}`, url), '200');
  assert.equal(await curlStatus(`http://bob:pw-bob@127.0.0.1:${port}`, url), '407');

  const tunnel = await httpConnectTunnel(port!, `127.0.0.1:${echo.port}`, 'alice:pw-alice');
  t.after(() => tunnel.destroy());
  assert.equal((await echoRoundTrip(tunnel, Buffer.from('before'))).toString(), 'before');

  // Add bob and a rule that rejects /x's port for alice, then SIGHUP.
  writeFileSync(
    file + '.new',
    config(
      ['alice', 'bob'],
      `  rules:\n    - { users: [alice], ports: [${origin.port}], action: reject, reason: "alice may not" }`,
    ),
  );
  renameSync(file + '.new', file);
  p.child.kill('SIGHUP');
  await waitFor(
    'bob to be accepted after reload',
    async () => (await curlStatus(`http://bob:pw-bob@127.0.0.1:${port}`, url)) === '200',
  );
  assert.equal(await curlStatus(`http://alice:pw-alice@127.0.0.1:${port}`, url), '403');
  assert.equal(
    (await echoRoundTrip(tunnel, Buffer.from('after reload'))).toString(),
    'after reload',
    'live tunnel survived the reload',
  );

  // A broken edit is refused and the running configuration stays.
  writeFileSync(file, 'inbounds: [ {name: h, type: nope} ]');
  p.child.kill('SIGHUP');
  await waitFor('the failed reload to be logged', () => /reload failed/.test(p.stderr()));
  assert.equal(await curlStatus(`http://bob:pw-bob@127.0.0.1:${port}`, url), '200');

  // SIGTERM: the listener closes, the live tunnel keeps working until it ends, then ferry exits 0.
  p.child.kill('SIGTERM');
  await waitFor('the listener to stop accepting', async () => !(await canConnect(port!)));
  assert.equal((await echoRoundTrip(tunnel, Buffer.from('draining'))).toString(), 'draining');
  tunnel.end();
  assert.equal(await p.exited, 0);
});

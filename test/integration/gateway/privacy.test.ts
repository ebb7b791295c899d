// Logs in the default privacy mode hold no per-connection addresses, destinations or user names —
// even at debug level, and also for refused sessions and bad clients. In audit mode they are there
// (which is what proves the check can fail).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { once } from 'node:events';
import { runFerry, waitForListeners } from '../../helpers/ferry.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { startHttpOrigin } from '../../helpers/origin.js';
import { waitFor } from '../../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-privacy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function workload(mode: 'off' | 'audit'): Promise<{ logs: string; originPort: number }> {
  const origin = await startHttpOrigin();
  const f = join(dir, `${mode}.yaml`);
  writeFileSync(
    f,
    [
      `data_dir: ${join(dir, mode)}`,
      'users: [{ name: zed-private-user, password: pw }]',
      'inbounds: [{ name: h, type: http, listen: "127.0.0.1:0" }, { name: s, type: socks, listen: "127.0.0.1:0" }]',
      'router:',
      '  allow_destinations: ["127.0.0.0/8"]',
      `  rules: [{ ports: [${origin.port + 1}], action: reject }]`,
      `log: { level: debug, access_log: ${mode} }`,
    ].join('\n'),
  );
  const p = runFerry(['serve', '--config', f]);
  try {
    const ports = await waitForListeners(p, ['h', 's']);
    const ok = await runAsync('curl', [
      '-sS',
      '-x',
      `http://zed-private-user:pw@127.0.0.1:${ports.h}`,
      `http://127.0.0.1:${origin.port}/`,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    await runAsync('curl', [
      '-sS',
      '-x',
      `socks5h://zed-private-user:pw@127.0.0.1:${ports.s}`,
      `http://127.0.0.1:${origin.port}/`,
    ]);
    // A refused session (rule), a wrong password, and a bad client.
    await runAsync('curl', [
      '-s',
      '-x',
      `http://zed-private-user:pw@127.0.0.1:${ports.h}`,
      `http://127.0.0.1:${origin.port + 1}/`,
    ]);
    await runAsync('curl', [
      '-s',
      '-x',
      `http://zed-private-user:bad@127.0.0.1:${ports.h}`,
      `http://127.0.0.1:${origin.port}/`,
    ]);
    const bad = connect(ports.h!, '127.0.0.1');
    bad.on('error', () => undefined);
    bad.resume(); // read the 400 and the FIN, so the socket can close
    bad.end('NONSENSE\r\n\r\n');
    await once(bad, 'close');
    await waitFor(
      'the refusals to be logged',
      () => /session refused/.test(p.stderr()) && /client connection closed/.test(p.stderr()),
    );
    await p.stop();
    return { logs: p.stderr(), originPort: origin.port };
  } finally {
    await p.stop('SIGKILL');
    await origin.close();
  }
}

test('default mode: no user names, destinations or client ports in the logs', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const { logs, originPort } = await workload('off');
  assert.doesNotMatch(logs, /zed-private-user/);
  assert.ok(!logs.includes(`:${originPort}`), 'no destination');
  assert.ok(!logs.includes(`:${originPort + 1}`), 'no refused destination');
  assert.doesNotMatch(logs, /"src"|"dest"|"user"/);
});

test('audit mode: the same workload is recorded with user, source and destination', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const { logs, originPort } = await workload('audit');
  assert.match(logs, /zed-private-user/);
  assert.ok(logs.includes(`127.0.0.1:${originPort}`));
  assert.match(logs, /"src":"127\.0\.0\.1:\d+"/);
});

// `ferry serve` as a user runs it: the embedded default, secure-by-default refusals and config errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runFerry, waitForListeners } from '../../helpers/ferry.js';
import { curlStatus } from '../../helpers/clients.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { startHttpOrigin } from '../../helpers/origin.js';
import { waitFor } from '../../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('embedded default: loopback listeners, a generated user printed once, loopback destinations refused', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const home = join(dir, 'home');
  const origin = await startHttpOrigin();
  const p = runFerry(['serve'], { FERRY_HOME: home });
  t.after(async () => {
    await p.stop();
    await origin.close();
  });
  const ports = await waitForListeners(p, ['http', 'https', 'socks']);
  assert.deepEqual(ports, { http: 8080, https: 8443, socks: 1080 });
  assert.doesNotMatch(p.stdout(), /0\.0\.0\.0|\[::\]/);
  const m = /Generated user: (\S+)\n\s+Password:\s+(\S+)/.exec(p.stdout());
  assert.ok(m, `credentials printed: ${p.stdout()}`);
  const [, user, password] = m;
  assert.ok(
    !readFileSync(join(home, 'default-user.json'), 'utf8').includes(password!),
    'password stored only as a hash',
  );
  assert.ok(!p.stderr().includes(password!), 'password never logged');
  // Right credentials, but the destination is loopback: refused by the secure default.
  assert.equal(
    await curlStatus(`http://${user}:${password}@127.0.0.1:8080`, `http://127.0.0.1:${origin.port}/`),
    '403',
  );
  // Wrong password: 407.
  assert.equal(
    await curlStatus(`http://${user}:wrong@127.0.0.1:8080`, `http://127.0.0.1:${origin.port}/`),
    '407',
  );
  // The HTTPS listener printed its certificate fingerprint.
  assert.match(p.stdout(), /SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  assert.equal(origin.seen.length, 0, 'nothing reached the loopback origin');
  assert.equal(await p.stop(), 0, 'SIGTERM exits cleanly');

  // Second start: same user, password not shown again.
  const p2 = runFerry(['serve'], { FERRY_HOME: home });
  t.after(() => p2.stop());
  await waitForListeners(p2, ['http']);
  assert.doesNotMatch(p2.stdout(), /Password:/);
  assert.equal(await p2.stop(), 0);
});

test('a non-loopback listener without authentication refuses to start', async () => {
  const f = join(dir, 'open.yaml');
  writeFileSync(f, 'inbounds:\n  - { name: pub, type: http, listen: "0.0.0.0:0", auth: false }\n');
  const p = runFerry(['serve', '--config', f]);
  const code = await p.exited;
  assert.equal(code, 2);
  assert.match(
    p.stderr(),
    /inbound pub: refusing to listen on 0\.0\.0\.0:0 without authentication.*open proxy/,
  );
});

test('allow_open lets the operator opt out explicitly', async (t) => {
  const f = join(dir, 'open-ok.yaml');
  writeFileSync(
    f,
    'inbounds:\n  - { name: pub, type: http, listen: "0.0.0.0:0", auth: false, allow_open: true }\n',
  );
  const p = runFerry(['serve', '--config', f]);
  t.after(() => p.stop());
  await waitForListeners(p, ['pub']);
  assert.match(p.stdout(), /NO AUTH/);
});

test('an invalid config file exits 2 with the file, the key path and what is expected', async () => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(
    f,
    'inbounds:\n  - { name: h, type: http, listen: "127.0.0.1" }\ntimeouts: { idle: "forever" }\n',
  );
  const p = runFerry(['serve', '--config', f]);
  assert.equal(await p.exited, 2);
  assert.match(p.stderr(), new RegExp(`${f}: inbounds\\[0\\]\\.listen: '127\\.0\\.0\\.1' is not HOST:PORT`));
  assert.match(p.stderr(), /timeouts\.idle: 'forever' is not a duration/);
});

test('flags describe the common case without a file', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const origin = await startHttpOrigin();
  const p = runFerry([
    'serve',
    '--data-dir',
    join(dir, 'flags'),
    '--http',
    '127.0.0.1:0',
    '--socks',
    '127.0.0.1:0',
    '--mixed',
    '127.0.0.1:0',
    '--user',
    'amy:s3cret:with:colons',
    '--allow-dest',
    '127.0.0.0/8',
  ]);
  t.after(async () => {
    await p.stop();
    await origin.close();
  });
  const ports = await waitForListeners(p, ['http', 'socks', 'mixed']);
  for (const url of [
    `http://amy:s3cret:with:colons@127.0.0.1:${ports.http}`,
    `socks5h://amy:s3cret:with:colons@127.0.0.1:${ports.socks}`,
    `http://amy:s3cret:with:colons@127.0.0.1:${ports.mixed}`,
    `socks5h://amy:s3cret:with:colons@127.0.0.1:${ports.mixed}`,
  ]) {
    const r = await runAsync('curl', ['-sS', '-x', url, `http://127.0.0.1:${origin.port}/hello`]);
    assert.equal(r.code, 0, `${url.replace(/:[^:@]*@/, ':***@')}: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).url, '/hello');
  }
  assert.ok(!p.stderr().includes('s3cret'), 'password never logged');
});

test('--workers 2: both workers serve, a reload reaches every worker, SIGTERM stops them all', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const origin = await startHttpOrigin();
  const f = join(dir, 'cluster.yaml');
  const cfg = (users: string[]): string =>
    [
      `data_dir: ${join(dir, 'cluster')}`,
      'users:',
      ...users.map((u) => `  - { name: ${u}, password: pw-${u} }`),
      'inbounds: [{ name: h, type: http, listen: "127.0.0.1:0" }]',
      'router: { allow_destinations: ["127.0.0.0/8"] }',
    ].join('\n');
  writeFileSync(f, cfg(['ann']));
  const p = runFerry(['serve', '--config', f, '--workers', '2']);
  t.after(async () => {
    await p.stop('SIGKILL');
    await origin.close();
  });
  const { h: port } = await waitForListeners(p, ['h']);
  assert.match(p.stdout(), /2 workers/);
  const status = (user: string): Promise<string> =>
    curlStatus(`http://${user}:pw-${user}@127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/`);
  // Many new connections: the kernel spreads them over both workers; all must succeed.
  for (let i = 0; i < 10; i++) assert.equal(await status('ann'), '200');
  assert.equal(await status('ben'), '407');
  writeFileSync(f, cfg(['ann', 'ben']));
  p.child.kill('SIGHUP');
  // Every worker must know ben: ten consecutive successes on fresh connections.
  await waitFor('ben to be accepted by every worker', async () => {
    for (let i = 0; i < 10; i++) if ((await status('ben')) !== '200') return false;
    return true;
  });
  const workers = (): number[] =>
    readFileSync(`/proc/${p.child.pid}/task/${p.child.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  const kids = workers();
  assert.equal(kids.length, 2, 'two worker processes');
  assert.equal(await p.stop(), 0);
  for (const k of kids) assert.throws(() => process.kill(k, 0), 'worker exited with the primary');
});

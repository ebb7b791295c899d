// Hostile input against every inbound: random bytes, truncated frames, slow headers and 10,000
// connections opened and dropped. Afterwards the gateway still serves a normal request and its open
// file descriptors are back to where they were.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { runFerry, waitForListeners } from '../../helpers/ferry.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { startHttpOrigin } from '../../helpers/origin.js';
import { waitFor } from '../../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-hostile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Opens a connection, sends `data` (possibly in slow pieces), and resolves when the server closes it. */
function sendAndAwaitClose(
  port: number,
  data: Buffer | null,
  opts: { trickleMs?: number } = {},
): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.once('close', () => {
      clearInterval(timer);
      resolve();
    });
    let timer: NodeJS.Timeout | undefined;
    s.once('connect', () => {
      if (!data) return s.destroy();
      if (!opts.trickleMs) return void s.write(data);
      let i = 0;
      timer = setInterval(() => {
        if (i < data.length && !s.destroyed) s.write(data.subarray(i, ++i));
      }, opts.trickleMs);
    });
  });
}

test('hostile input closes only the offending connections; fds return to baseline', async (t) => {
  if (!requirePrereqs(t, { tools: ['curl'] })) return;
  const origin = await startHttpOrigin();
  const file = join(dir, 'ferry.yaml');
  writeFileSync(
    file,
    [
      `data_dir: ${dir}`,
      'users: [{ name: u, password: p }]',
      'inbounds:',
      '  - { name: h, type: http, listen: "127.0.0.1:0" }',
      '  - { name: s, type: socks, listen: "127.0.0.1:0" }',
      '  - { name: m, type: mixed, listen: "127.0.0.1:0" }',
      'router: { allow_destinations: ["127.0.0.0/8"] }',
      'timeouts: { handshake: 1 }',
      'log: { level: warn }',
    ].join('\n'),
  );
  const p = runFerry(['serve', '--config', file]);
  t.after(async () => {
    await p.stop('SIGKILL');
    await origin.close();
  });
  const ports = await waitForListeners(p, ['h', 's', 'm']);
  const ok = async (): Promise<void> => {
    for (const url of [
      `http://u:p@127.0.0.1:${ports.h}`,
      `socks5h://u:p@127.0.0.1:${ports.s}`,
      `http://u:p@127.0.0.1:${ports.m}`,
    ]) {
      const r = await runAsync('curl', [
        '-sS',
        '--max-time',
        '10',
        '-x',
        url,
        `http://127.0.0.1:${origin.port}/ok`,
      ]);
      assert.equal(r.code, 0, `normal request via ${url.split('@')[1]}: ${r.stderr}`);
    }
  };
  await ok();
  const baseline = p.fdCount();

  const all = Object.values(ports);
  const cases: Buffer[] = [
    randomBytes(1),
    randomBytes(64),
    randomBytes(70_000),
    Buffer.from([0x05]), // truncated SOCKS5 greeting
    Buffer.from([0x05, 0x02, 0x00]), // greeting shorter than it claims
    Buffer.from([0x05, 0x01, 0x02, 0x01, 0x03]), // greeting + truncated auth
    Buffer.from([0x04, 0x01, 0x00]), // truncated SOCKS4
    Buffer.from('GET http://127.0.0.1/ HTTP/1.1\r\nHost: x'), // header without end
    Buffer.from('CONNECT\r\n\r\n'),
    Buffer.from('GET / HTTP/1.1\r\n' + 'X-Big: ' + 'a'.repeat(200_000) + '\r\n\r\n'),
  ];
  await Promise.all(all.flatMap((port) => cases.map((c) => sendAndAwaitClose(port!, c))));
  // Slowloris: a byte every 100 ms never completes a header; the 1 s handshake timeout closes it.
  const started = Date.now();
  await Promise.all(
    all.map((port) =>
      sendAndAwaitClose(port!, Buffer.from('GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n'), {
        trickleMs: 100,
      }),
    ),
  );
  assert.ok(Date.now() - started < 5000, 'slow clients are cut off by the handshake timeout');

  // 10,000 connections opened and dropped at once-ish, 500 at a time.
  for (let i = 0; i < 10_000; i += 500) {
    await Promise.all(
      Array.from({ length: 500 }, (_, j) => sendAndAwaitClose(all[(i + j) % all.length]!, null)),
    );
  }
  assert.equal(p.child.exitCode, null, 'the gateway is still running');
  await ok();
  await waitFor(`fds back to baseline ${baseline} (now ${p.fdCount()})`, () => p.fdCount() <= baseline, {
    timeoutMs: 15_000,
  });
});

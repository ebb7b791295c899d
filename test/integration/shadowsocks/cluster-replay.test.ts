// Replay protection across workers (`ferry serve --workers 2`): a first flight accepted by one worker
// and replayed to the other is refused — no answer, and the origin sees the request once — because
// salts are claimed at the primary (server/cluster.ts). Which worker took a connection is read from
// the kernel (`ss -tnp` names the process that owns the accepted socket).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runFerry, waitForListeners, type FerryProc } from '../../helpers/ferry.js';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { firstFlight } from './harness.js';

const needs = { tools: ['ss'] };

/** The pid of the process holding the server side of the connection from `clientPort`. */
async function ownerPid(serverPort: number, clientPort: number): Promise<number> {
  return waitFor(`the accepted socket of :${clientPort}`, async () => {
    const r = await runAsync('ss', [
      '-tnpH',
      'state',
      'established',
      `( sport = :${serverPort} and dport = :${clientPort} )`,
    ]);
    const m = /pid=(\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : undefined;
  });
}

interface Conn {
  socket: Socket;
  received: () => number;
  closed: Promise<void>;
}

function open(port: number, data: Buffer): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const s = connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.once('connect', () => {
      s.write(data);
      resolve({ socket: s, received: () => n, closed });
    });
    s.once('error', reject);
  });
}

describe('Shadowsocks replay across cluster workers', { skip: skipReason(needs) }, () => {
  let dir: string;
  let origin: HttpOrigin;
  let ferry: FerryProc | null = null;
  before(async () => {
    origin = await startHttpOrigin();
    dir = mkdtempSync(join(tmpdir(), 'ferry-ss-cluster-'));
  });
  after(async () => {
    await ferry?.stop('SIGKILL');
    await origin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [method, password] of [
    ['2022-blake3-aes-128-gcm', randomBytes(16).toString('base64')],
    ['aes-256-gcm', 'cluster-replay-pw'],
  ] as const) {
    it(`${method}: a first flight replayed to another worker is refused`, async (t) => {
      if (!requirePrereqs(t, needs)) return;
      const f = join(dir, `${method}.yaml`);
      writeFileSync(
        f,
        [
          `data_dir: ${join(dir, method)}`,
          `inbounds: [{ name: ss, type: shadowsocks, listen: "127.0.0.1:0", shadowsocks: { method: ${method}, password: "${password}", udp: false } }]`,
          'router: { allow_destinations: ["127.0.0.0/8"] }',
          'timeouts: { handshake: 1 }',
        ].join('\n'),
      );
      await ferry?.stop('SIGKILL');
      ferry = runFerry(['serve', '--config', f, '--workers', '2']);
      const { ss: port } = await waitForListeners(ferry, ['ss']);
      const path = `/cluster-${method}`;
      const flight = firstFlight(method, password, origin.port, path);

      const genuine = await open(port!, flight);
      await waitFor('the genuine request to be answered', () => genuine.received() > 0);
      const first = await ownerPid(port!, genuine.socket.localPort!);
      genuine.socket.destroy();

      // The kernel picks the worker: replay until one lands on the other worker. Every replay, on
      // either worker, must go unanswered.
      let other = false;
      for (let i = 0; i < 40 && !other; i++) {
        const replay = await open(port!, flight);
        const pid = await ownerPid(port!, replay.socket.localPort!);
        other = pid !== first;
        await replay.closed; // drained until the 1 s handshake timeout
        assert.equal(replay.received(), 0, `replay #${i + 1} (worker ${pid}) got an answer`);
      }
      assert.ok(other, 'no replay reached the second worker');
      assert.equal(origin.seen.filter((r) => r.url === path).length, 1, 'the origin saw the request once');
    });
  }
});

// `ferry exits` with `ferry serve --workers 2`: the primary runs the only health prober (so probes
// are not multiplied by the worker count), passes each result to the workers, and answers
// `ferry exits` with the merged view; and the workers agree on sticky sessions' exits. The pool's members are upstreams whose servers are plain TCP
// listeners here, probed with a bare "tcp" probe: every probe is one accepted connection, counted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runFerry, waitForListeners, FERRY_MAIN, type FerryProc } from '../../helpers/ferry.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { adminRequest, adminSocketPath, type ExitsReport } from '../../../src/server/admin-socket.js';
import { startCheckOrigin, type CheckOrigin } from '../../../src/audit/check-origin.js';

/** A TCP listener that counts the connections it accepts and can be stopped and restarted. */
class Counted {
  accepted = 0;
  port = 0;
  private server: Server | null = null;
  private readonly open = new Set<Socket>();

  async start(port = 0): Promise<void> {
    const s = createServer((c) => {
      this.accepted++;
      this.open.add(c);
      c.on('close', () => this.open.delete(c));
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
    this.port = (s.address() as { port: number }).port;
    this.server = s;
  }

  async stop(): Promise<void> {
    for (const c of this.open) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }
}

describe('ferry exits with several workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-workers-'));
  const dataDir = join(dir, 'data');
  const a = new Counted();
  const b = new Counted();
  let ferry: FerryProc;

  const report = (probe = false): Promise<ExitsReport> =>
    adminRequest(
      adminSocketPath(dataDir),
      probe ? 'POST' : 'GET',
      probe ? '/v1/exits/probe' : '/v1/exits',
    ) as Promise<ExitsReport>;
  const member = (r: ExitsReport, name: string) => r.pools[0]!.members.find((m) => m.name === name)!;

  before(async () => {
    await a.start();
    await b.start();
    const config = join(dir, 'ferry.json');
    writeFileSync(
      config,
      JSON.stringify({
        data_dir: dataDir,
        log: { level: 'warn' },
        inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }],
        outbounds: [
          { name: 'a', type: 'socks5', server: `127.0.0.1:${a.port}` },
          { name: 'b', type: 'socks5', server: `127.0.0.1:${b.port}` },
          {
            name: 'p',
            type: 'pool',
            members: ['a', 'b'],
            // One round at start, then only the rounds this test asks for.
            health: { probe: 'tcp', interval: 3600, max_fails: 1, timeout: 2 },
          },
        ],
        router: { default: 'p' },
      }),
    );
    ferry = runFerry(['serve', '-c', config, '--workers', '2']);
    await waitForListeners(ferry, ['h']);
  });
  after(async () => {
    await ferry?.stop();
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('probes run once per round, not once per worker', async () => {
    await waitFor('the first probe round', () => a.accepted >= 1 && b.accepted >= 1, { timeoutMs: 15_000 });
    const r = await report(true); // resolves after one more round has finished
    // The start-up round and this one: two connections each. Workers probing too would make it 4+.
    assert.equal(a.accepted, 2);
    assert.equal(b.accepted, 2);
    for (const m of r.pools[0]!.members) {
      assert.equal(m.healthy, true);
      assert.deepEqual(m.workers, { down: 0, of: 2 });
      assert.ok(m.probeMs !== null, 'probe latency comes from the prober');
    }
  });

  it('a failed probe ejects the member in every worker; a restarted worker learns it; recovery too', async () => {
    await b.stop();
    let r = await report(true);
    assert.equal(member(r, 'b').healthy, false);
    // Both workers adopted the prober's verdict (their own state, without traffic of their own).
    assert.deepEqual(member(r, 'b').workers, { down: 2, of: 2 });
    assert.deepEqual(member(r, 'a').workers, { down: 0, of: 2 });

    const table = await runAsync(process.execPath, [FERRY_MAIN, 'exits', '--data-dir', dataDir], {
      timeoutMs: 15_000,
    });
    assert.match(table.stdout, /^\s+b\s+socks5\s+-\s+DOWN since /m, table.stdout + table.stderr);
    assert.match(table.stdout, /^\s+a\s+socks5\s+-\s+up\s/m, table.stdout);

    // Kill one worker: the primary starts another, which must adopt the current state at once.
    const workers = (
      await runAsync('sh', ['-c', `cat /proc/${ferry.child.pid}/task/*/children`], { timeoutMs: 5000 })
    ).stdout
      .trim()
      .split(/\s+/)
      .map(Number)
      .filter((n) => n > 0);
    assert.equal(workers.length, 2, `workers: ${workers.join(' ')}`);
    process.kill(workers[0]!, 'SIGKILL');
    await waitFor(
      'a new worker that knows b is down',
      async () => {
        const children = (
          await runAsync('sh', ['-c', `cat /proc/${ferry.child.pid}/task/*/children`], { timeoutMs: 5000 })
        ).stdout;
        if (children.split(/\s+/).includes(String(workers[0]))) return false;
        const w = member(await report(), 'b').workers;
        return w !== undefined && w.of === 2 && w.down === 2;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    await b.start(b.port);
    r = await report(true);
    assert.equal(member(r, 'b').healthy, true);
    assert.deepEqual(member(r, 'b').workers, { down: 0, of: 2 });
  });
});

describe('sticky sessions with several workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-workers-sticky-'));
  let ferry: FerryProc;
  let origin: CheckOrigin;
  let proxyPort: number;
  /** Four exits: direct from 127.0.0.2 … 127.0.0.5, which the origin reports as the client address. */
  const EXITS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

  before(async () => {
    origin = await startCheckOrigin({ host: '127.0.0.1', port: 0 });
    const config = join(dir, 'ferry.json');
    writeFileSync(
      config,
      JSON.stringify({
        data_dir: join(dir, 'data'),
        log: { level: 'warn' },
        users: [{ name: 'alice', password: 'pw' }],
        inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }],
        outbounds: [
          ...EXITS.map((a, i) => ({ name: `x${i}`, type: 'direct', source_addresses: [a] })),
          { name: 'p', type: 'pool', members: EXITS.map((_, i) => `x${i}`) },
        ],
        router: { default: 'p', allow_destinations: ['127.0.0.0/8'] },
      }),
    );
    ferry = runFerry(['serve', '-c', config, '--workers', '2']);
    proxyPort = (await waitForListeners(ferry, ['h'])).h!;
  });
  after(async () => {
    await ferry?.stop();
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One request on a new connection (so the kernel may give it to either worker); the exit seen. */
  function exitFor(login: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxyPort,
          path: `http://127.0.0.1:${origin.port}/ip`,
          headers: {
            host: `127.0.0.1:${origin.port}`,
            'proxy-authorization': `Basic ${Buffer.from(`${login}:pw`).toString('base64')}`,
          },
          agent: false,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(body))));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('every connection of a session leaves through one exit, whichever worker takes it', async () => {
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 4; round++) {
      // Concurrent new connections, so that both workers get some.
      const got = await Promise.all(
        Array.from({ length: 8 }, (_, i) => exitFor(`alice-session-s${i}`).then((e) => [i, e] as const)),
      );
      for (const [i, e] of got) {
        assert.ok(EXITS.includes(e), `unexpected exit ${e}`);
        (seen.get(`s${i}`) ?? seen.set(`s${i}`, new Set()).get(`s${i}`)!).add(e);
      }
    }
    for (const [sid, exits] of seen) assert.equal(exits.size, 1, `${sid}: ${[...exits].join(' ')}`);
    // And the sessions are spread over the exits, not all on one.
    assert.ok(new Set([...seen.values()].map((x) => [...x][0])).size >= 2);
  });
});

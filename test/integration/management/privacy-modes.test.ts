// The privacy modes end to end. The same workload runs in `logging: none` and `logging: audit`:
// proxied requests through HTTP (plain and CONNECT) and SOCKS by a store user and a config user,
// from a client address of its own (127.0.0.23), to a destination known only by a host name that
// ferry resolves through its own /etc/hosts (a private mount namespace, so the name exists nowhere
// else on this machine), plus a refused request and a wrong password. Then the test greps:
//
// - none:  the data directory (database and WAL included), the captured logs, /metrics and the
//          live-session listing hold neither the client address, nor the host name, nor the user
//          names (the store user's account row is the one place its name may be, so the data
//          directory is checked for the config user's name) — but the per-user byte counters exist.
// - audit: all of them are there (which shows the grep can fail), and the retention job has removed
//          a connection record older than the retention period.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { openStore } from '../../../src/control/open-store.js';
import { addAdmin, addUser, curl, ferryCli, startServe, tempDir } from './harness.js';

const CLIENT = '127.0.0.23';
const HOST = 'zq7-origin.test';
const CONFIG_USER = 'zq7-config-user';
const STORE_USER = 'zq7-store-user';
const OLD_MARK = 'zq7-old-record.test';
const NEEDS = { root: true, tools: ['curl', 'unshare', 'mount'] };

/** Every regular file under dir, as latin1 text (binary-safe for a substring search). */
function readTree(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out += readTree(p);
    else if (st.isFile()) out += readFileSync(p).toString('latin1');
  }
  return out;
}

interface Seen {
  dataDir: string;
  logs: string;
  metrics: string;
  listing: Record<string, unknown>[];
  usageBytes: number;
  oldRecordLeft: boolean;
  newRecords: number;
}

async function workload(mode: 'none' | 'audit', dir: string): Promise<Seen> {
  const data = join(dir, 'data');
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${HOST}\n`);
  await ferryCli(data, ['tier', 'add', 'slow', '--down', '512k']);
  const pw = await addUser(data, STORE_USER, 'slow');
  const auth = await addAdmin(data);
  // Audit: a connection record from 40 days ago, as an earlier run would have left it.
  const store = await openStore({ dataDir: data });
  try {
    if (mode === 'audit')
      await store.addConnections([
        {
          at: Date.now() - 40 * 86_400_000,
          user: 'someone',
          inbound: 'h',
          source: '127.0.0.99:1',
          destination: `${OLD_MARK}:80`,
          bytesUp: 1,
          bytesDown: 1,
          durationMs: 1,
          decision: 'direct closed',
        },
      ]);
  } finally {
    await store.close();
  }

  const origin = await startHttpOrigin();
  let started: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    const rig = await startServe(
      dir,
      [
        `users: [{ name: ${CONFIG_USER}, password: cfgpw }]`,
        `logging: { mode: ${mode}, retention: 30d }`,
        'log: { level: debug }',
        'router:',
        '  allow_destinations: ["127.0.0.0/8"]',
        `  rules: [{ ports: [${origin.port + 1}], action: reject }]`,
      ],
      // Own mount namespace: /etc/hosts with HOST in it, for ferry alone.
      { prefix: ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts] },
    );
    started = rig;
    const src = ['--interface', CLIENT];
    const url = `http://${HOST}:${origin.port}/`;
    const h = `http://${CONFIG_USER}:cfgpw@127.0.0.1:${rig.http}`;
    const s = `socks5h://${STORE_USER}:${pw}@127.0.0.1:${rig.socks}`;
    assert.equal((await curl(h, url, src)).status, 200);
    assert.equal((await curl(h, url, [...src, '--proxytunnel'])).status, 200);
    assert.equal((await curl(s, url, src)).status, 200);
    assert.equal((await curl(h, `http://${HOST}:${origin.port + 1}/`, src)).status, 403); // rule
    assert.equal((await curl(`http://${CONFIG_USER}:wrong@127.0.0.1:${rig.http}`, url, src)).status, 407);
    // A slow download (the tier's 512 KiB/s) to list while it runs.
    const slow = curl(s, `http://${HOST}:${origin.port}/size/${1536 * 1024}`, [...src, '-o', '/dev/null']);
    const listing = await waitFor('the slow session to be listed', async () => {
      const r = await fetch(`${rig.api}/api/v1/sessions`, { headers: auth });
      const l = (await r.json()) as Record<string, unknown>[];
      return l.some((x) => x.user === STORE_USER) ? l : undefined;
    });
    assert.equal((await slow).code, 0);
    const metrics = await (await fetch(`${rig.api}/metrics`)).text();
    await rig.stop(); // writes the last usage batch and audit records
    const usage = JSON.parse(await ferryCli(data, ['usage', STORE_USER, '--json'])) as {
      bytesTotal: number;
    }[];
    const st = await openStore({ dataDir: data });
    let records: Awaited<ReturnType<typeof st.listConnections>>;
    try {
      records = await st.listConnections({ limit: 1000 });
    } finally {
      await st.close();
    }
    return {
      dataDir: readTree(data),
      logs: rig.ferry.stdout() + rig.ferry.stderr(),
      metrics,
      listing,
      usageBytes: usage[0]!.bytesTotal,
      oldRecordLeft: records.some((r) => r.destination.startsWith(OLD_MARK)),
      newRecords: records.length,
    };
  } finally {
    await started?.stop();
    await origin.close();
  }
}

describe('privacy modes (logging: none | audit) through ferry serve', () => {
  const tmp = tempDir('ferry-privacy-modes-');
  after(() => tmp.cleanup());

  it('none: no client address, destination or user name anywhere; byte counters only', async (t) => {
    if (!requirePrereqs(t, NEEDS)) return;
    const sub = join(tmp.dir, 'none');
    mkdirSync(sub);
    const seen = await workload('none', sub);
    for (const [what, text] of [
      ['data directory', seen.dataDir],
      ['logs', seen.logs],
      ['/metrics', seen.metrics],
    ] as const) {
      for (const needle of [CLIENT, HOST, CONFIG_USER])
        assert.ok(!text.includes(needle), `${needle} found in the ${what}`);
    }
    for (const [what, text] of [
      ['logs', seen.logs],
      ['/metrics', seen.metrics],
    ] as const)
      assert.ok(!text.includes(STORE_USER), `${STORE_USER} found in the ${what}`);
    for (const s of seen.listing) {
      assert.equal(s.source, undefined);
      assert.equal(s.destination, undefined);
      assert.equal(s.startedAt, undefined);
    }
    assert.equal(seen.newRecords, 0, 'no connection records');
    assert.ok(seen.usageBytes > 1536 * 1024, `per-user byte counter: ${seen.usageBytes}`);
  });

  it('audit: they are recorded, and the retention job removes records past the retention period', async (t) => {
    if (!requirePrereqs(t, NEEDS)) return;
    const sub = join(tmp.dir, 'audit');
    mkdirSync(sub);
    const seen = await workload('audit', sub);
    for (const needle of [CLIENT, HOST, CONFIG_USER]) {
      assert.ok(seen.dataDir.includes(needle), `${needle} recorded in the database`);
      assert.ok(seen.logs.includes(needle), `${needle} in the access log`);
    }
    assert.ok(seen.metrics.includes(`user="${STORE_USER}"`), 'per-user series in audit mode');
    assert.ok(seen.listing.some((s) => typeof s.source === 'string' && s.source.startsWith(CLIENT)));
    assert.ok(seen.newRecords >= 5, `connection records: ${seen.newRecords}`);
    assert.equal(seen.oldRecordLeft, false, 'the 40-day-old record is gone (retention 30d)');
  });
});

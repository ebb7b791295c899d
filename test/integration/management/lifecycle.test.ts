// What changes in the store reaches a running `ferry serve` without a restart (it polls the store's
// revision), and what the admin API does to live sessions:
// - a user added while the server runs can log in; a password rotation takes effect;
// - GET /api/v1/sessions lists an open session (user, addresses in the default mode); DELETE closes it;
// - `ferry user disable` closes the user's open sessions and refuses new ones;
// - a tier's max_connections refuses the extra connection with the reason;
// - an HTTP keep-alive connection is one session while its requests go to one destination (it holds
//   its slot between requests), and the tier is asked again for each request.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origin.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import { RawClient } from '../http/harness.js';
import { addAdmin, addUser, curl, ferryCli, startServe, stopAll, tempDir, type Rig } from './harness.js';

interface SessionView {
  id: string;
  user: string | null;
  source?: string;
  destination?: string;
  bytesDown: number;
}

describe('store changes and live sessions on a running ferry serve', () => {
  const tmp = tempDir('ferry-lifecycle-');
  const data = `${tmp.dir}/data`;
  let rig: Rig | undefined;
  let origin: HttpOrigin | undefined;
  let auth: Record<string, string> = {};

  before(async () => {
    if (!requirePrereqs(undefined, { tools: ['curl'] })) return;
    await ferryCli(data, ['tier', 'add', 'slow', '--down', '256k', '--max-conns', '2']);
    auth = await addAdmin(data);
    origin = await startHttpOrigin();
    rig = await startServe(tmp.dir, ['router: { allow_destinations: ["127.0.0.0/8"] }']);
  });
  after(() => stopAll(rig, origin, tmp));

  const sessions = async (): Promise<SessionView[]> =>
    (await (await fetch(`${rig!.api}/api/v1/sessions`, { headers: auth })).json()) as SessionView[];

  it('a user added or rotated while the server runs is seen at the next poll', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    const pw = await addUser(data, 'newbie');
    const url = `http://127.0.0.1:${origin!.port}/`;
    await waitFor(
      'the new user to be accepted',
      async () => (await curl(`http://newbie:${pw}@127.0.0.1:${rig!.http}`, url)).status === 200,
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    const rotated = JSON.parse(await ferryCli(data, ['user', 'passwd', 'newbie', '--json'])) as {
      password: string;
    };
    await waitFor(
      'the old password to be refused',
      async () => (await curl(`http://newbie:${pw}@127.0.0.1:${rig!.http}`, url)).status === 407,
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    assert.equal((await curl(`http://newbie:${rotated.password}@127.0.0.1:${rig!.http}`, url)).status, 200);
  });

  it('the API lists an open session and closes it; max connections is enforced', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    const pw = await addUser(data, 'watched', 'slow');
    const proxy = `socks5h://watched:${pw}@127.0.0.1:${rig!.socks}`;
    const big = `http://127.0.0.1:${origin!.port}/size/${16 * 1024 * 1024}`; // 64 s at 256 KiB/s
    await waitFor(
      'the new user to be accepted',
      async () => (await curl(proxy, `http://127.0.0.1:${origin!.port}/`)).status === 200,
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    // The probe's session must be gone before the two downloads, or it takes one of the tier's two
    // connection slots (the server releases it when its sockets close, which may trail curl's exit).
    await waitFor('the probe session to end', async () =>
      (await sessions()).every((s) => s.user !== 'watched'),
    );
    const a = curl(proxy, big, ['-o', '/dev/null']);
    const b = curl(proxy, big, ['-o', '/dev/null']);
    const open = await waitFor('two sessions listed', async () => {
      const l = (await sessions()).filter((s) => s.user === 'watched');
      return l.length === 2 ? l : undefined;
    });
    assert.match(open[0]!.source ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(open[0]!.destination, `127.0.0.1:${origin!.port}`);
    const third = await curl(proxy, `http://127.0.0.1:${origin!.port}/`);
    assert.notEqual(third.code, 0, 'the tier allows 2 concurrent connections');

    const del = await fetch(`${rig!.api}/api/v1/sessions/${open[0]!.id}`, {
      method: 'DELETE',
      headers: auth,
    });
    assert.equal(del.status, 204);
    const killed = await Promise.race([a, b]);
    assert.notEqual(killed.code, 0, 'the killed download ends early');
    assert.ok(killed.bytes < 16 * 1024 * 1024);

    // Disabling the user closes the other one at the next poll.
    await ferryCli(data, ['user', 'disable', 'watched']);
    const [ra, rb] = await Promise.all([a, b]);
    assert.ok(ra.bytes < 16 * 1024 * 1024 && rb.bytes < 16 * 1024 * 1024);
    // The registry drops a session when its sockets have closed, which may trail curl's exit.
    await waitFor('no session of the disabled user', async () =>
      (await sessions()).every((s) => s.user !== 'watched'),
    );
    const refused = await curl(proxy, `http://127.0.0.1:${origin!.port}/`);
    assert.notEqual(refused.code, 0);
    const audit = await ferryCli(data, ['audit', '--json']);
    assert.match(audit, /session\.kill/);
  });

  it('an HTTP keep-alive connection to one destination is one session, asked again per request', async (t) => {
    if (!requirePrereqs(t, { tools: ['curl'] })) return;
    await ferryCli(data, ['tier', 'add', 'single', '--max-conns', '1']);
    const pw = await addUser(data, 'keeper', 'single');
    const dest = `127.0.0.1:${origin!.port}`;
    await waitFor(
      'the new user to be accepted',
      async () =>
        (await curl(`http://keeper:${pw}@127.0.0.1:${rig!.http}`, `http://${dest}/`)).status === 200,
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    await waitFor('the probe session to end', async () =>
      (await sessions()).every((s) => s.user !== 'keeper'),
    );
    const c = new RawClient(rig!.http);
    const basic = Buffer.from(`keeper:${pw}`).toString('base64');
    let sent = 0;
    /** One more request on the kept-alive connection; resolves with its status code. */
    const request = async (): Promise<number> => {
      await c.send(
        `GET http://${dest}/ HTTP/1.1\r\nHost: ${dest}\r\nProxy-Authorization: Basic ${basic}\r\n\r\n`,
      );
      sent++;
      const text = await c.responses(sent);
      return Number([...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].at(-1)![1]);
    };
    try {
      assert.equal(await request(), 200);
      // Idle between requests, the connection still holds the user's one slot: it is listed, and
      // another connection of the user is refused.
      const held = (await sessions()).filter((s) => s.user === 'keeper');
      assert.equal(held.length, 1);
      assert.equal(held[0]!.destination, dest);
      const other = await curl(`http://keeper:${pw}@127.0.0.1:${rig!.http}`, `http://${dest}/`);
      assert.equal(other.status, 503, 'the tier allows one connection');
      // More requests on it are the same session, not a second connection.
      assert.equal(await request(), 200);
      assert.equal(await request(), 200);
      assert.deepEqual(
        (await sessions()).filter((s) => s.user === 'keeper').map((s) => s.id),
        [held[0]!.id],
      );
      // A tier change reaches the next request of the open session (at the next poll).
      await ferryCli(data, ['tier', 'set', 'single', '--exits', 'elsewhere']);
      await waitFor('the next request to be refused by the tier', async () => (await request()) === 403, {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      assert.match(c.text(), /does not include the exit 'direct'/);
    } finally {
      c.socket.destroy();
    }
  });

  it('/status reports the gateway', async () => {
    const st = (await (await fetch(`${rig!.api}/api/v1/status`, { headers: auth })).json()) as {
      sessions: boolean;
      workers: number;
      logging: string;
      store: { backend: string };
    };
    assert.deepEqual([st.sessions, st.workers, st.logging, st.store.backend], [true, 1, 'minimal', 'sqlite']);
  });
});

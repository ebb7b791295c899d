// The SOCKS inbound against a real client: curl's SOCKS5 (local and remote DNS), SOCKS4 and SOCKS4a,
// with and without credentials, IPv4 and IPv6 destinations, a 20 MB download checked by sha256, and
// the same through the mixed inbound's first-byte sniffer.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import { PASSWORD, startOrigin, startRig, USER, type Origin, type Rig } from './harness.js';

const needs = { tools: ['curl'] };

function curl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAsync('curl', ['-sS', '--max-time', '20', ...args], { timeoutMs: 30_000 });
}

async function curlOk(args: string[]): Promise<string> {
  const r = await curl(args);
  assert.equal(r.code, 0, `curl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

describe('SOCKS inbound with curl', { skip: skipReason(needs) }, () => {
  let origin: Origin;
  let origin6: Origin;
  let open: Rig;
  let authed: Rig;
  let mixed: Rig;
  let dir: string;

  before(async () => {
    origin = await startOrigin('127.0.0.1');
    origin6 = await startOrigin('::1', 1024);
    open = await startRig({ accessLog: 'audit' });
    authed = await startRig({ auth: true, accessLog: 'audit' });
    mixed = await startRig({ mixed: true });
    dir = mkdtempSync(join(tmpdir(), 'ferry-socks-'));
  });
  after(async () => {
    await Promise.all([open?.close(), authed?.close(), mixed?.close(), origin?.close(), origin6?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const url = (path = '/small'): string => `http://127.0.0.1:${origin.port}${path}`;
  const byName = (path = '/small'): string => `http://localhost:${origin.port}${path}`;

  /** The access records (audit mode) of CONNECT sessions to the origin's port. */
  const records = (rig: Rig): string[] =>
    rig.logs
      .filter((l) => l.msg === 'session' && String(l.dest).endsWith(`:${origin.port}`))
      .map((l) => String(l.dest));

  describe('without authentication', () => {
    it('SOCKS5 with a host name: the name is resolved by the gateway, not by curl', async () => {
      const body = await curlOk(['--socks5-hostname', `127.0.0.1:${open.port}`, byName()]);
      assert.equal(body, 'hello from 127.0.0.1\n');
      // The record is written when the session ends, which may be just after curl has exited.
      await waitFor(`a record for localhost:${origin.port}`, () =>
        records(open).includes(`localhost:${origin.port}`),
      );
    });

    it('SOCKS5 with an IPv4 literal', async () => {
      assert.equal(await curlOk(['--socks5', `127.0.0.1:${open.port}`, url()]), 'hello from 127.0.0.1\n');
    });

    it('SOCKS5 to an IPv6 destination [::1]', async () => {
      const body = await curlOk(['--socks5', `127.0.0.1:${open.port}`, `http://[::1]:${origin6.port}/small`]);
      assert.equal(body, 'hello from ::1\n');
      await waitFor('the session record', () =>
        open.logs.some((l) => l.msg === 'session' && l.dest === `[::1]:${origin6.port}`),
      );
    });

    it('SOCKS4 (curl resolves, sends IPv4)', async () => {
      assert.equal(await curlOk(['--socks4', `127.0.0.1:${open.port}`, byName()]), 'hello from 127.0.0.1\n');
    });

    it('SOCKS4a (host name sent to the gateway)', async () => {
      const before = records(open).filter((d) => d.startsWith('localhost:')).length;
      assert.equal(await curlOk(['--socks4a', `127.0.0.1:${open.port}`, byName()]), 'hello from 127.0.0.1\n');
      await waitFor('one more localhost record', () =>
        records(open).filter((d) => d.startsWith('localhost:')).length === before + 1 ? true : undefined,
      );
    });

    it('clients that send credentials anyway still get through (no-auth is selected / USERID ignored)', async () => {
      assert.equal(
        await curlOk(['-x', `socks5h://bob:whatever@127.0.0.1:${open.port}`, byName()]),
        'hello from 127.0.0.1\n',
      );
      assert.equal(
        await curlOk(['-x', `socks4a://bob@127.0.0.1:${open.port}`, byName()]),
        'hello from 127.0.0.1\n',
      );
    });

    it('a 20 MB download arrives intact (sha256)', async () => {
      const file = join(dir, 'big5');
      await curlOk(['--socks5-hostname', `127.0.0.1:${open.port}`, '-o', file, byName('/big')]);
      const got = readFileSync(file);
      assert.equal(got.length, origin.bigSize);
      assert.equal(createHash('sha256').update(got).digest('hex'), origin.bigSha256);
      // The access record counts the downloaded bytes.
      await waitFor('a record with the downloaded bytes', () =>
        open.logs.find((l) => l.msg === 'session' && typeof l.down === 'number' && l.down > origin.bigSize),
      );
    });

    it('a 20 MB download over SOCKS4 arrives intact', async () => {
      const file = join(dir, 'big4');
      await curlOk(['--socks4', `127.0.0.1:${open.port}`, '-o', file, url('/big')]);
      assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), origin.bigSha256);
    });

    it('works behind the mixed inbound (bytes read by the sniffer are honoured)', async () => {
      assert.equal(
        await curlOk(['--socks5-hostname', `127.0.0.1:${mixed.port}`, byName()]),
        'hello from 127.0.0.1\n',
      );
      assert.equal(
        await curlOk(['--socks4a', `127.0.0.1:${mixed.port}`, byName()]),
        'hello from 127.0.0.1\n',
      );
      assert.equal(await curlOk(['--socks4', `127.0.0.1:${mixed.port}`, url()]), 'hello from 127.0.0.1\n');
    });
  });

  describe('with authentication', () => {
    const creds = `${USER}:${PASSWORD}`;

    it('SOCKS5 username/password via --proxy-user (host name and IPv4)', async () => {
      assert.equal(
        await curlOk(['--socks5-hostname', `127.0.0.1:${authed.port}`, '--proxy-user', creds, byName()]),
        'hello from 127.0.0.1\n',
      );
      assert.equal(
        await curlOk(['--socks5', `127.0.0.1:${authed.port}`, '--proxy-user', creds, url()]),
        'hello from 127.0.0.1\n',
      );
      await waitFor('the session record', () =>
        authed.logs.some((l) => l.msg === 'session' && l.user === USER),
      );
    });

    it('SOCKS5 credentials in the proxy URL', async () => {
      assert.equal(
        await curlOk(['-x', `socks5h://${creds}@127.0.0.1:${authed.port}`, byName()]),
        'hello from 127.0.0.1\n',
      );
    });

    it('SOCKS4 and SOCKS4a with "user:password" in USERID', async () => {
      const enc = `${USER}%3A${encodeURIComponent(PASSWORD)}`;
      assert.equal(
        await curlOk(['-x', `socks4://${enc}@127.0.0.1:${authed.port}`, url()]),
        'hello from 127.0.0.1\n',
      );
      assert.equal(
        await curlOk(['-x', `socks4a://${enc}@127.0.0.1:${authed.port}`, byName()]),
        'hello from 127.0.0.1\n',
      );
    });

    it('SOCKS5 without credentials is refused (no acceptable method)', async () => {
      const r = await curl(['--socks5-hostname', `127.0.0.1:${authed.port}`, byName()]);
      assert.notEqual(r.code, 0);
      await waitFor('the session record', () =>
        authed.logs.some((l) => l.msg === 'session refused' && l.code === 'E_AUTH_REQUIRED'),
      );
    });

    it('SOCKS5 with a wrong password is refused', async () => {
      const r = await curl([
        '--socks5-hostname',
        `127.0.0.1:${authed.port}`,
        '--proxy-user',
        `${USER}:Wr0ng-Pw-77`,
        byName(),
      ]);
      assert.notEqual(r.code, 0);
      await waitFor('the session record', () =>
        authed.logs.some((l) => l.msg === 'session refused' && l.code === 'E_AUTH'),
      );
    });

    it('SOCKS4 with a bare user id (no password) is refused', async () => {
      const n = authed.logs.filter((l) => l.code === 'E_AUTH_REQUIRED').length;
      // curl puts only the user name of --proxy-user into USERID.
      const r = await curl(['--socks4', `127.0.0.1:${authed.port}`, '--proxy-user', creds, url()]);
      assert.notEqual(r.code, 0);
      await waitFor('one more E_AUTH_REQUIRED record', () =>
        authed.logs.filter((l) => l.code === 'E_AUTH_REQUIRED').length === n + 1 ? true : undefined,
      );
    });

    it('SOCKS4a with a wrong password is refused', async () => {
      const r = await curl(['-x', `socks4a://${USER}%3AWr0ng-Pw-77@127.0.0.1:${authed.port}`, byName()]);
      assert.notEqual(r.code, 0);
    });

    it('no password ever reaches the log', () => {
      assert.ok(authed.logs.length > 0);
      assert.ok(!authed.rawLog().includes(PASSWORD));
      assert.ok(!authed.rawLog().includes('Wr0ng-Pw-77'));
    });
  });
});

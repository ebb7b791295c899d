// The management CLI as users run it: `node dist/src/cli/main.js user add ...` against a temporary
// data directory, checking both the table output and --json, exit codes and messages.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import SqliteDb from 'better-sqlite3';
import { verifyPassword } from '../../../src/auth/password-hash.js';
import { loadProxyUsers } from '../../../src/control/data-plane.js';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import { SCHEMA_VERSION } from '../../../src/control/store/migrations/index.js';
import { runAsync } from '../../helpers/proc.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
const dataDir = join(dir, 'data');
after(() => rmSync(dir, { recursive: true, force: true }));

async function ferry(
  args: string[],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // FERRY_HOME is ignored when --data-dir is given; set it to a wrong place to prove that.
  return runAsync(process.execPath, [MAIN, ...args, '--data-dir', dataDir], {
    timeoutMs: 30_000,
    ...(input !== undefined ? { input } : {}),
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await ferry(args, input);
  assert.equal(r.code, 0, `ferry ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function storedHash(login: string): Promise<string> {
  const store = await openSqliteStore(join(dataDir, 'ferry.db'));
  try {
    return (await loadProxyUsers(store)).find((l) => l.username === login)!.passwordHash;
  } finally {
    await store.close();
  }
}

describe('ferry user/tier/token/usage/audit', () => {
  it('tier add with every option, then list as a table and as JSON', async () => {
    const out = await ok([
      'tier',
      'add',
      'gold',
      '--up',
      '10M',
      '--down',
      '10M',
      '--quota',
      '100G',
      '--period',
      'month',
      '--max-devices',
      '5',
      '--max-conns',
      '100',
      '--inbounds',
      'proxy,vpn',
      '--exits',
      'a,b',
      '--expires',
      '2099-01-01',
    ]);
    assert.match(out, /^NAME\s+UP\s+DOWN\s+QUOTA/m);
    assert.match(out, /gold\s+10\.0 MiB\/s\s+10\.0 MiB\/s\s+100\.0 GiB\s+month\s+5\s+100\s+proxy,vpn\s+a,b/);
    const list = JSON.parse(await ok(['tier', 'list', '--json'])) as {
      name: string;
      quota: number;
      exits: string[];
    }[];
    assert.deepEqual(
      list.map((t) => [t.name, t.quota, t.exits]),
      [['gold', 100 * 2 ** 30, ['a', 'b']]],
    );
  });

  it('user add prints the password once with a curl example; the password works', async () => {
    const out = await ok(['user', 'add', 'alice', '--tier', 'gold', '--expires', '2099-01-01']);
    const pw = /proxy password: (\S+)/.exec(out)?.[1];
    assert.ok(pw, out);
    assert.match(out, new RegExp(`curl -x http://alice:${pw}@127\\.0\\.0\\.1:8080 `));
    assert.ok(await verifyPassword(pw, await storedHash('alice')));
    const shown = await ok(['user', 'show', 'alice']);
    assert.match(shown, /^credentials:\s+alice$/m);
    assert.match(shown, /^tier:\s+gold$/m);
    assert.match(shown, /^usage:\s+0 B of 100\.0 GiB since \d{4}-\d{2}-01 \(month\)$/m);
    assert.ok(!shown.includes(pw), 'show never prints the password');
  });

  it('user add --password-stdin and --json; user list; passwd rotates', async () => {
    const added = JSON.parse(
      await ok(
        ['user', 'add', 'bob', '--role', 'admin', '--password-stdin', '--json'],
        'bobs-own-password\n',
      ),
    );
    assert.equal(added.user.role, 'admin');
    assert.equal(added.credential, undefined, 'a given password is not echoed');
    assert.ok(await verifyPassword('bobs-own-password', await storedHash('bob')));
    const users = JSON.parse(await ok(['user', 'list', '--json'])) as { name: string; role: string }[];
    assert.deepEqual(
      users.map((u) => [u.name, u.role]),
      [
        ['alice', 'member'],
        ['bob', 'admin'],
      ],
    );
    const table = await ok(['user', 'list']);
    assert.match(table, /^alice\s+member\s+gold\s+yes\s+2099-01-01 00:00Z\s+store$/m);
    const rotated = JSON.parse(await ok(['user', 'passwd', 'bob', '--json'])) as { password: string };
    assert.ok(await verifyPassword(rotated.password, await storedHash('bob')));
    assert.ok(!(await verifyPassword('bobs-own-password', await storedHash('bob'))));
  });

  it('token create prints the token once; list shows no secret; revoke removes it', async () => {
    const out = await ok(['token', 'create', '--user', 'bob', '--scope', 'admin', '--expires', '30d']);
    const token = /^(fy_[A-Za-z0-9_-]{43})$/m.exec(out)?.[1];
    assert.ok(token, out);
    const list = await ok(['token', 'list']);
    assert.match(list, /^1\s+bob\s+admin\s+admin\s/m);
    assert.ok(!list.includes(token));
    const denied = await ferry(['token', 'create', '--user', 'alice', '--scope', 'admin']);
    assert.equal(denied.code, 2);
    assert.match(denied.stderr, /^ferry: a member can only hold self tokens$/m);
    await ok(['token', 'revoke', '1']);
    assert.deepEqual(JSON.parse(await ok(['token', 'list', '--json'])), []);
  });

  it('usage and audit', async () => {
    // Independent reads run side by side: CLI processes share the database like the server does.
    const [usageJson, usageTable, audit] = await Promise.all([
      ok(['usage', 'alice', '--json']),
      ok(['usage']),
      ok(['audit']),
    ]);
    const usage = JSON.parse(usageJson) as {
      user: string;
      quota: number;
      bytesTotal: number;
    }[];
    assert.deepEqual(
      usage.map((u) => [u.user, u.quota, u.bytesTotal]),
      [['alice', 100 * 2 ** 30, 0]],
    );
    assert.match(usageTable, /^bob\s+-\s+\S+ \(month\)\s+0 B/m);
    for (const a of ['tier.create', 'user.create', 'credential.rotate', 'token.create', 'token.revoke'])
      assert.match(audit, new RegExp(`local:\\S+\\s+${a.replace('.', '\\.')}`));
  });

  it('config users are read-only; errors exit 2 with one clear line', async () => {
    const cfg = join(dir, 'ferry.yaml');
    writeFileSync(
      cfg,
      'users:\n  - { name: carol, password: "x-very-secret" }\ninbounds:\n  - { name: h, type: http, listen: "127.0.0.1:3128" }\n',
    );
    const [r, listed, curl, missing, bad] = await Promise.all([
      ferry(['user', 'passwd', 'carol', '--config', cfg]),
      ok(['user', 'list', '--config', cfg]),
      ok(['user', 'credential', 'add', 'alice', '--config', cfg]),
      ferry(['user', 'show', 'nobody']),
      ferry(['tier', 'add', 'x', '--up', 'fast']),
    ]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "ferry: user 'carol' is defined in the configuration file (users:); change it there, not through the store\n",
    );
    assert.match(listed, /^carol\s+-\s+-\s+yes\s+never\s+config$/m);
    assert.match(curl, /@127\.0\.0\.1:3128 /, "the example uses the config's HTTP listener");
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, "ferry: no user 'nobody'\n");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ferry: tier add: up: 'fast' is not a size/);
  });

  it('export and forget', async () => {
    const ex = JSON.parse(await ok(['user', 'export', 'alice']));
    assert.equal(ex.user.name, 'alice');
    assert.deepEqual(
      ex.credentials.map((c: { username: string }) => c.username),
      ['alice', 'alice-2'],
    );
    assert.equal((await ferry(['user', 'forget', 'alice'])).code, 2, 'forget needs --yes');
    await ok(['user', 'forget', 'alice', '--yes']);
    const users = JSON.parse(await ok(['user', 'list', '--json'])) as { name: string }[];
    assert.deepEqual(
      users.map((u) => u.name),
      ['bob'],
    );
    const events = JSON.parse(await ok(['audit', '--json'])) as { action: string; target: string | null }[];
    assert.equal(events[0]!.action, 'user.forget');
    assert.ok(!JSON.stringify(events).includes('alice'));
  });

  it('refuses a database from a newer ferry with the upgrade message', async () => {
    const db = new SqliteDb(join(dataDir, 'ferry.db'));
    db.prepare("update ferry_meta set value = 42 where key = 'schema_version'").run();
    db.close();
    const r = await ferry(['user', 'list']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `ferry: database schema version 42 is newer than this ferry (${SCHEMA_VERSION}); upgrade ferry\n`,
    );
  });
});

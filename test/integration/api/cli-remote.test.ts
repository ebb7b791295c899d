// The management CLI against a running API (`--api URL --token T`), as an operator runs it:
// `node dist/src/cli/main.js ...` in a directory without a data directory, so every command must
// go over HTTP. Checks output, exit codes, the server-side effect in the store, error messages
// carried from the API, and HTTPS with a private CA (NODE_EXTRA_CA_CERTS).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startApiServer } from '../../../src/control/api/server.js';
import { generateSelfSigned } from '../../../src/tls/self-signed.js';
import { startHarness, type Harness } from './harness.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/cli/main.js');
const cwd = mkdtempSync(join(tmpdir(), 'ferry-cli-remote-'));
let h: Harness;

before(async () => {
  h = await startHarness({}, 'ferry-cli-api-');
});
after(async () => {
  await h?.close();
  rmSync(cwd, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ferry(
  args: string[],
  opts: { token?: string; url?: string; input?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const argv = [MAIN, ...args, '--api', opts.url ?? h.server.url, '--token', opts.token ?? h.adminToken];
  return new Promise((done) => {
    // FERRY_API/FERRY_TOKEN unset so only the flags count; FERRY_HOME points nowhere useful.
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_HOME: join(cwd, 'must-not-exist'), ...opts.env };
    delete env.FERRY_API;
    delete env.FERRY_TOKEN;
    const child = spawn(process.execPath, argv, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(t);
      done({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

async function ok(args: string[], opts: Parameters<typeof ferry>[1] = {}): Promise<string> {
  const r = await ferry(args, opts);
  assert.equal(r.code, 0, `ferry ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function fails(args: string[], pattern: RegExp, opts: Parameters<typeof ferry>[1] = {}): Promise<void> {
  const r = await ferry(args, opts);
  assert.equal(r.code, 2, `ferry ${args.join(' ')} should fail with status 2: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, pattern);
}

describe('ferry CLI with --api', () => {
  it('tier add / set / list', async () => {
    const out = await ok(['tier', 'add', 'gold', '--up', '10M', '--down', '10M', '--quota', '100G']);
    assert.match(out, /gold\s+10\.0 MiB\/s\s+10\.0 MiB\/s\s+100\.0 GiB/);
    assert.equal((await h.store.getTier('gold'))?.quotaBytes, 100 * 2 ** 30, 'the server store has it');
    await ok(['tier', 'set', 'gold', '--max-devices', '3']);
    const list = JSON.parse(await ok(['tier', 'list', '--json'])) as { name: string; maxDevices: number }[];
    assert.deepEqual(
      list.map((t) => [t.name, t.maxDevices]),
      [['gold', 3]],
    );
  });

  it('user add / list / show / set / disable / passwd', async () => {
    const out = await ok(['user', 'add', 'alice', '--tier', 'gold']);
    const pw = /proxy password: (\S+)/.exec(out)?.[1];
    assert.ok(pw && pw.length >= 24, out);
    assert.equal((await h.store.getUser('alice'))?.role, 'member');
    await ok(['user', 'add', 'bob', '--password-stdin'], { input: 'bob-password-1\n' });
    const hash = (await h.store.getProxyCredential('bob'))!.passwordHash;
    assert.equal(hash, 'plain$bob-password-1', 'the password read from stdin reached the server');

    // Independent reads run side by side: each CLI start costs a Node start-up.
    const [listOut, showOut] = await Promise.all([
      ok(['user', 'list', '--json']),
      ok(['user', 'show', 'alice', '--json']),
    ]);
    const users = JSON.parse(listOut) as { name: string }[];
    assert.deepEqual(
      users.map((u) => u.name),
      ['alice', 'bob', 'root'],
    );
    const show = JSON.parse(showOut) as { tier: string; credentials: unknown[] };
    assert.equal(show.tier, 'gold');
    assert.equal(show.credentials.length, 1);

    await ok(['user', 'set', 'bob', '--tier', 'gold']);
    assert.match(await ok(['user', 'disable', 'bob']), /user bob disabled/);
    assert.equal((await h.store.getUser('bob'))?.enabled, false);

    const rotated = JSON.parse(await ok(['user', 'passwd', 'alice', '--json'])) as { password: string };
    assert.notEqual(rotated.password, pw);
    assert.equal((await h.store.getProxyCredential('alice'))!.passwordHash, `plain$${rotated.password}`);
  });

  it('user credential add / list / rotate / remove', async () => {
    const added = JSON.parse(await ok(['user', 'credential', 'add', 'alice', 'alice-phone', '--json'])) as {
      username: string;
    };
    assert.equal(added.username, 'alice-phone');
    const list = JSON.parse(await ok(['user', 'cred', 'list', 'alice', '--json'])) as { username: string }[];
    assert.deepEqual(list.map((c) => c.username).sort(), ['alice', 'alice-phone']);
    assert.match(await ok(['user', 'cred', 'rotate', 'alice-phone']), /proxy password: \S+/);
    await ok(['user', 'cred', 'remove', 'alice-phone']);
    assert.equal(await h.store.getProxyCredential('alice-phone'), null);
  });

  it('user device add / list / remove', async () => {
    const key = randomBytes(32).toString('base64');
    await ok(['user', 'device', 'add', 'alice', 'laptop', '--public-key', key, '--address', '10.8.0.2']);
    const list = JSON.parse(await ok(['user', 'device', 'list', 'alice', '--json'])) as {
      name: string;
      publicKey: string;
      addressV4: string;
    }[];
    assert.deepEqual(
      list.map((d) => [d.name, d.publicKey, d.addressV4]),
      [['laptop', key, '10.8.0.2']],
    );
    await ok(['user', 'device', 'remove', 'alice', 'laptop']);
    assert.deepEqual(await h.store.listPeers(), []);
  });

  it('token create / list / revoke; a member token is refused admin work', async () => {
    const created = JSON.parse(
      await ok(['token', 'create', '--user', 'alice', '--scope', 'self', '--expires', '1d', '--json']),
    ) as { secret: string; token: { id: number } };
    const list = JSON.parse(await ok(['token', 'list', 'alice', '--json'])) as { id: number }[];
    assert.deepEqual(
      list.map((t) => t.id),
      [created.token.id],
    );

    const self = { token: created.secret };
    const [, , mineOut] = await Promise.all([
      fails(['user', 'add', 'mallory'], /not allowed: create users/, self),
      fails(['tier', 'remove', 'gold'], /not allowed/, self),
      ok(['usage', '--json'], self),
    ]);
    const mine = JSON.parse(mineOut) as { user: string }[];
    assert.deepEqual(
      mine.map((u) => u.user),
      ['alice'],
    );

    assert.match(await ok(['token', 'revoke', String(created.token.id)]), /revoked/);
    await fails(['usage'], /invalid token/, self);
  });

  it('usage, audit and export', async () => {
    const [usageOut, tableOut, auditOut, exportOut] = await Promise.all([
      ok(['usage', 'alice', '--json']),
      ok(['usage']),
      ok(['audit', '--limit', '100', '--json']),
      ok(['user', 'export', 'alice']),
    ]);
    const usage = JSON.parse(usageOut) as { user: string; quota: number }[];
    assert.deepEqual(
      usage.map((u) => [u.user, u.quota]),
      [['alice', 100 * 2 ** 30]],
    );
    assert.match(tableOut, /^USER\s+TIER/m);
    const audit = JSON.parse(auditOut) as { action: string; actor: string }[];
    assert.ok(audit.some((e) => e.action === 'user.create' && e.actor === 'root'));
    assert.ok(audit.some((e) => e.action === 'token.revoke'));
    const exported = JSON.parse(exportOut) as { format: string };
    assert.equal(exported.format, 'ferry-user-export/1');
  });

  it('user forget / remove, tier remove', async () => {
    await Promise.all([ok(['user', 'forget', 'bob', '--yes']), ok(['user', 'remove', 'alice'])]);
    await ok(['tier', 'remove', 'gold']);
    assert.deepEqual(
      (await h.store.listUsers()).map((u) => u.name),
      ['root'],
    );
    assert.deepEqual(await h.store.listTiers(), []);
    assert.ok(!existsSync(join(cwd, '.ferry')) && !existsSync(join(cwd, 'must-not-exist')), 'nothing local');
  });

  it('clear errors: not found, bad token, unreachable, cleartext to a remote host', async () => {
    const closed = await startApiServer({ store: h.store, listen: '127.0.0.1:0' });
    const url = closed.url;
    await closed.close();
    await Promise.all([
      fails(['user', 'show', 'nobody'], /no user 'nobody'/),
      fails(['user', 'list'], /invalid token/, { token: 'fy_' + 'x'.repeat(43) }),
      fails(['user', 'list'], /use https:\/\//, { url: 'http://192.0.2.1:9090' }),
      fails(['user', 'list'], /cannot reach the API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/, { url }),
    ]);
  });

  it('over HTTPS with a private certificate (NODE_EXTRA_CA_CERTS)', async () => {
    const ss = generateSelfSigned({ hosts: ['127.0.0.1'] });
    const certFile = join(cwd, 'api.crt');
    const keyFile = join(cwd, 'api.key');
    writeFileSync(certFile, ss.certPem);
    writeFileSync(keyFile, ss.keyPem, { mode: 0o600 });
    const tls = await startApiServer({
      store: h.store,
      service: h.service,
      listen: '127.0.0.1:0',
      tls: { cert: certFile, key: keyFile },
    });
    try {
      assert.match(tls.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const users = JSON.parse(
        await ok(['user', 'list', '--json'], { url: tls.url, env: { NODE_EXTRA_CA_CERTS: certFile } }),
      ) as { name: string }[];
      assert.deepEqual(
        users.map((u) => u.name),
        ['root'],
      );
      // Without trusting the certificate the client refuses the connection.
      await fails(['user', 'list'], /cannot reach the API.*(CERT|certificate)/i, { url: tls.url });
    } finally {
      await tls.close();
    }
  });
});

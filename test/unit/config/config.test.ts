import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfigFile, validateConfig } from '../../../src/config/load.js';
import { privacyOf } from '../../../src/config/schema.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('expected a config error');
}

test('a minimal config gets secure defaults', () => {
  const c = validateConfig({ inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }] });
  assert.equal(c.router.default, 'direct');
  assert.deepEqual(c.router.allow_destinations, []);
  assert.deepEqual(privacyOf(c), { mode: 'minimal', retentionMs: 30 * 86_400_000 });
  assert.equal(c.timeouts.handshake, 10_000);
  assert.equal(c.inbounds[0]!.allow_open, false);
  assert.equal(c.inbounds[0]!.http.via, false);
});

test('errors name the file, the path of the bad key and what is expected', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
  const f = join(dir, 'ferry.yaml');
  writeFileSync(f, 'inbounds:\n  - name: h\n    type: http\n    listen: "8080"\n');
  assert.match(
    errorOf(() => loadConfigFile(f)),
    new RegExp(`${f}: inbounds\\[0\\]\\.listen: '8080' is not HOST:PORT`),
  );
  writeFileSync(f, 'inbounds:\n  - name: h\n    type: ftp\n    listen: ":1"\n');
  assert.match(
    errorOf(() => loadConfigFile(f)),
    /inbounds\[0\]\.type: .*http/,
  );
  writeFileSync(f, 'inbounds: [\n');
  assert.match(
    errorOf(() => loadConfigFile(f)),
    /not valid YAML/,
  );
  writeFileSync(
    f,
    'inbounds:\n  - { name: h, type: http, listen: ":1" }\nrouter:\n  rules:\n    - { action: direct, cidrs: ["10.0.0.0/40"] }\n',
  );
  assert.match(
    errorOf(() => loadConfigFile(f)),
    /router\.rules\[0\]\.cidrs\[0\]: .*prefix length/,
  );
  writeFileSync(f, 'inbounds:\n  - { name: h, type: http, listen: ":1", colour: red }\n');
  assert.match(
    errorOf(() => loadConfigFile(f)),
    /inbounds\[0\].*colour/,
  );
  assert.match(
    errorOf(() => loadConfigFile(join(dir, 'missing.yaml'))),
    /cannot read/,
  );
});

test('duplicate names and bad users are refused', () => {
  const i = { name: 'h', type: 'http', listen: ':1' };
  assert.match(
    errorOf(() => validateConfig({ inbounds: [i, i] })),
    /duplicate name 'h'/,
  );
  assert.match(
    errorOf(() => validateConfig({ inbounds: [i], users: [{ name: 'a' }] })),
    /exactly one of password_hash/,
  );
  assert.match(
    errorOf(() => validateConfig({ inbounds: [i], users: [{ name: 'a:b', password: 'x' }] })),
    /users\[0\]\.name/,
  );
});

test('logging: a mode or { mode, retention }; log.access_log is the older spelling and may not disagree', () => {
  const base = { inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }] };
  assert.equal(privacyOf(validateConfig({ ...base, logging: 'none' })).mode, 'none');
  assert.deepEqual(privacyOf(validateConfig({ ...base, logging: { mode: 'audit', retention: '7d' } })), {
    mode: 'audit',
    retentionMs: 7 * 86_400_000,
  });
  assert.equal(privacyOf(validateConfig({ ...base, log: { access_log: 'audit' } })).mode, 'audit');
  assert.match(
    errorOf(() => validateConfig({ ...base, logging: 'none', log: { access_log: 'audit' } })),
    /log\.access_log: disagrees with logging: none/,
  );
  assert.match(
    errorOf(() => validateConfig({ ...base, logging: 'everything' })),
    /logging/,
  );
  assert.match(
    errorOf(() => validateConfig({ ...base, store: { backend: 'postgres' } })),
    /store.*postgres needs url/,
  );
});

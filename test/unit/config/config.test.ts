import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfigFile, validateConfig } from '../../../src/config/load.js';

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
  assert.equal(c.log.access_log, 'off');
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

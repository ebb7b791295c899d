// DNS set and restore on a resolv.conf file (the path without resolvconf(8)).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdtempSync,
  readFileSync,
  writeFileSync,
  symlinkSync,
  readlinkSync,
  lstatSync,
  existsSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setDns, restoreDns, resolvConfText } from '../../../src/vpn/client/dns.js';

describe('tunnel DNS on resolv.conf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-dns-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

  it('writes the servers and search domains, and restores the original byte for byte', () => {
    const p = join(dir, 'resolv.conf');
    const original = '# isp\nnameserver 192.0.2.53\noptions edns0\n';
    writeFileSync(p, original);
    const u = setDns('wg0', ['10.99.0.1', 'fd99::1'], ['corp.example'], p);
    assert.equal(readFileSync(p, 'utf8'), resolvConfText('wg0', ['10.99.0.1', 'fd99::1'], ['corp.example']));
    assert.match(
      readFileSync(p, 'utf8'),
      /^nameserver 10\.99\.0\.1\nnameserver fd99::1\nsearch corp\.example$/m,
    );
    assert.equal(restoreDns(u), null);
    assert.equal(readFileSync(p, 'utf8'), original);
  });
  it('warns when something else changed the file meanwhile, and restores anyway', () => {
    const p = join(dir, 'resolv2.conf');
    writeFileSync(p, 'nameserver 192.0.2.53\n');
    const u = setDns('wg0', ['10.99.0.1'], [], p);
    writeFileSync(p, 'nameserver 203.0.113.1\n');
    assert.match(restoreDns(u) ?? '', /changed by something else/);
    assert.equal(readFileSync(p, 'utf8'), 'nameserver 192.0.2.53\n');
  });
  it('a symlinked resolv.conf becomes a file and the link comes back', () => {
    const target = join(dir, 'stub.conf');
    writeFileSync(target, 'nameserver 127.0.0.53\n');
    const p = join(dir, 'resolv3.conf');
    symlinkSync(target, p);
    const u = setDns('wg0', ['10.99.0.1'], [], p);
    assert.ok(!lstatSync(p).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'nameserver 127.0.0.53\n', 'the link target is untouched');
    restoreDns(u);
    assert.equal(readlinkSync(p), target);
  });
  it('no resolv.conf before: none after', () => {
    const p = join(dir, 'resolv4.conf');
    const u = setDns('wg0', ['10.99.0.1'], [], p);
    restoreDns(u);
    assert.ok(!existsSync(p));
  });
});

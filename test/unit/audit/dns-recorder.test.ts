// The check origin's DNS recorder, asked by Node's own resolver (c-ares) over loopback: names in the
// zone resolve to the configured address and are remembered with who asked; other names are refused.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import { startDnsRecorder, type DnsRecorder } from '../../../src/audit/dns-recorder.js';

describe('DNS recorder', () => {
  let rec: DnsRecorder;
  let resolver: Resolver;

  before(async () => {
    rec = await startDnsRecorder({
      host: '127.0.0.1',
      port: 0,
      zone: 'Audit.Example.',
      answer4: '192.0.2.7',
    });
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${rec.port}`]);
  });
  after(async () => {
    await rec.close();
  });

  it('answers names in the zone and remembers who asked, case-insensitively', async () => {
    assert.deepEqual(await resolver.resolve4('a1b2-p.audit.example'), ['192.0.2.7']);
    assert.deepEqual(await resolver.resolve4('A1B2-P.AUDIT.example'), ['192.0.2.7']);
    assert.deepEqual(rec.askedBy('a1b2-p'), ['127.0.0.1']);
    assert.deepEqual(rec.askedBy('never-asked'), []);
  });

  it('has no AAAA to give without answer6 (NODATA, not an error that would stall a resolver)', async () => {
    await assert.rejects(
      resolver.resolve6('x.audit.example'),
      (e: NodeJS.ErrnoException) => e.code === 'ENODATA',
    );
    assert.deepEqual(rec.askedBy('x'), ['127.0.0.1']);
  });

  it('refuses names outside its zone', async () => {
    await assert.rejects(
      resolver.resolve4('example.com'),
      (e: NodeJS.ErrnoException) => e.code === 'EREFUSED',
    );
  });
});

// The check origin's DNS side (the whoami responder behind `ferry check-origin --dns-zone`): names in
// the zone resolve to the configured address, TXT names the asker (what `ferry leaktest --dns-zone`
// reads), and GET /dns/LABEL reports who asked for LABEL.<zone> (what `ferry audit-proxy` reads).
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import { startCheckOrigin, type CheckOrigin } from '../../../src/audit/check-origin.js';

describe('check origin DNS', () => {
  let origin: CheckOrigin;
  let resolver: Resolver;

  before(async () => {
    origin = await startCheckOrigin({
      host: '127.0.0.1',
      port: 0,
      dns: { port: 0, zone: 'Audit.Example.', ipv4: '192.0.2.7' },
    });
    resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`127.0.0.1:${origin.dnsPort}`]);
  });
  after(() => origin.close());

  const askedFor = async (label: string): Promise<unknown> =>
    (await fetch(`http://127.0.0.1:${origin.port}/dns/${label}`)).json();

  it('answers the zone, names the asker in TXT, and reports who asked for a label', async () => {
    assert.deepEqual(await resolver.resolve4('a1b2-p.audit.example'), ['192.0.2.7']);
    assert.deepEqual((await resolver.resolveTxt('A1B2-C.Audit.Example')).flat(), ['127.0.0.1']);
    await assert.rejects(
      resolver.resolve6('a1b2-p.audit.example'),
      (e: NodeJS.ErrnoException) => e.code === 'ENODATA',
      'no AAAA configured: NODATA, not an error that would stall a resolver',
    );
    await assert.rejects(
      resolver.resolve4('example.com'),
      (e: NodeJS.ErrnoException) => e.code === 'EREFUSED',
    );
    assert.deepEqual(await askedFor('a1b2-p'), {
      zone: 'audit.example',
      label: 'a1b2-p',
      resolvers: ['127.0.0.1'],
    });
    assert.deepEqual(await askedFor('A1B2-C'), {
      zone: 'audit.example',
      label: 'a1b2-c',
      resolvers: ['127.0.0.1'],
    });
    assert.deepEqual(await askedFor('never-asked'), {
      zone: 'audit.example',
      label: 'never-asked',
      resolvers: [],
    });
    assert.deepEqual(await askedFor('not.one.label'), {
      zone: 'audit.example',
      label: 'not.one.label',
      resolvers: [],
    });
  });
});

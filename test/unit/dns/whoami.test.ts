// The whoami responder asked by Node's own resolver (c-ares) over loopback, in the configurations
// its users need: fixed answers with NODATA for a family it has none for (the check origin), the
// asker's own address as the answer (the small internet's resolver), several listen addresses, and
// a dual-stack "::" socket that must report IPv4 askers as plain IPv4.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { describe, it } from 'node:test';
import { ASKER, startWhoamiDns, type WhoamiQuery } from '../../../src/dns/whoami.js';

function resolverFor(host: string, port: number): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`]);
  return r;
}

describe('whoami DNS responder (unit)', () => {
  it('answers names in the zone with a fixed A, NODATA without an AAAA, and remembers who asked', async (t) => {
    const seen: WhoamiQuery[] = [];
    const w = await startWhoamiDns({
      host: '127.0.0.1',
      port: 0,
      zone: 'Audit.Example.',
      ipv4: '192.0.2.7',
      ipv6: null,
      onQuery: (q) => seen.push(q),
    });
    t.after(() => w.close());
    const r = resolverFor('127.0.0.1', w.port);
    assert.deepEqual(await r.resolve4('a1b2-p.audit.example'), ['192.0.2.7']);
    assert.deepEqual(await r.resolve4('A1B2-P.AUDIT.example'), ['192.0.2.7']);
    assert.deepEqual(w.whoAsked('a1b2-p.audit.example'), ['127.0.0.1']);
    assert.deepEqual(w.whoAsked('never-asked.audit.example'), []);
    await assert.rejects(r.resolve6('x.audit.example'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    assert.deepEqual(w.whoAsked('x.audit.example'), ['127.0.0.1']);
    await assert.rejects(r.resolve4('example.com'), (e: NodeJS.ErrnoException) => e.code === 'EREFUSED');
    assert.deepEqual(
      seen.map((q) => `${q.name} ${q.type} ${q.from} ${q.transport}`),
      [
        'a1b2-p.audit.example A 127.0.0.1 udp',
        'a1b2-p.audit.example A 127.0.0.1 udp',
        'x.audit.example AAAA 127.0.0.1 udp',
      ],
      'in-zone queries only, in order',
    );
  });

  it('answers with the asker’s own address on each of several listen addresses', async (t) => {
    const w = await startWhoamiDns({
      host: ['127.0.0.1', '127.0.0.2'],
      port: 0,
      zone: 'whoami.test',
      ipv4: ASKER,
      ipv6: ASKER,
    });
    t.after(() => w.close());
    assert.deepEqual(w.hosts, ['127.0.0.1', '127.0.0.2']);
    for (const host of w.hosts) {
      const r = resolverFor(host, w.port);
      // The kernel picks the source address; the answer is that address, whatever it is.
      const a = await r.resolve4(`n.${host}.whoami.test`);
      assert.deepEqual(w.whoAsked(`n.${host}.whoami.test`), a);
      assert.deepEqual((await r.resolveTxt(`t.${host}.whoami.test`)).flat(), a);
      // An IPv4 asker has no IPv6 address to be told.
      await assert.rejects(
        r.resolve6(`n.${host}.whoami.test`),
        (e: NodeJS.ErrnoException) => e.code === 'ENODATA',
      );
    }
  });

  it('reports IPv4 askers of a dual-stack "::" socket as plain IPv4', async (t) => {
    let w;
    try {
      w = await startWhoamiDns({ host: '::', port: 0, zone: 'leak.test' });
    } catch (e) {
      t.skip(`no IPv6 here: ${String(e)}`);
      return;
    }
    t.after(() => w.close());
    const r = resolverFor('127.0.0.1', w.port);
    assert.deepEqual((await r.resolveTxt('v4.leak.test')).flat(), ['127.0.0.1']);
    assert.deepEqual(w.whoAsked('v4.leak.test'), ['127.0.0.1']);
    assert.deepEqual(await r.resolve4('v4.leak.test'), ['192.0.2.1'], 'default A answer');
  });
});

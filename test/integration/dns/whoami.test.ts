// The leak-test responder: it tells which resolver asked for a name. Queried directly by dig, through
// unbound sending from its own address (127.0.0.5), and through Ferry's forwarder in front of unbound.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsForwarder, type DnsForwarder } from '../../../src/dns/forwarder.js';
import { startWhoamiDns, uniqueName, type WhoamiDns } from '../../../src/dns/whoami.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { dig } from './dig.js';
import { startUnbound, type Unbound } from './unbound.js';

const NEEDS = { tools: ['unbound', 'unbound-checkconf', 'dig', 'openssl'] };
const LEAK_ZONE = 'leak.test';
/** The address unbound sends its queries from: what the responder must report for names it resolved. */
const RESOLVER_ADDRESS = '127.0.0.5';

describe('whoami DNS responder', { skip: skipReason(NEEDS) }, () => {
  let whoami: WhoamiDns;
  let unbound: Unbound;
  let forwarder: DnsForwarder;

  before(() => {
    requirePrereqs(undefined, NEEDS);
  });
  before(async () => {
    whoami = await startWhoamiDns({ host: '127.0.0.1', port: 0, zone: LEAK_ZONE });
    unbound = await startUnbound({
      extraServerConf: [
        `outgoing-interface: ${RESOLVER_ADDRESS}`,
        'do-not-query-localhost: no',
        `local-zone: "${LEAK_ZONE}." transparent`,
        `domain-insecure: "${LEAK_ZONE}."`,
      ],
      extraConf: ['forward-zone:', `  name: "${LEAK_ZONE}."`, `  forward-addr: 127.0.0.1@${whoami.port}`],
    });
    forwarder = await startDnsForwarder({
      listen: [{ host: '127.0.0.1', port: 0 }],
      upstreams: [`udp://127.0.0.1:${unbound.port}`],
      allowFrom: ['127.0.0.0/8'],
    });
  });
  after(async () => {
    await forwarder?.close();
    await unbound?.stop();
    await whoami?.close();
  });

  it('answers A, AAAA and TXT under its zone, reports the asker, and refuses other zones', async () => {
    const at = { host: whoami.host, port: whoami.port };
    const name = uniqueName(LEAK_ZONE);
    assert.deepEqual((await dig(at, name, 'A')).answers, ['192.0.2.1']);
    assert.deepEqual((await dig(at, name, 'AAAA', ['+tcp'])).answers, ['2001:db8::1']);
    assert.deepEqual((await dig(at, name, 'TXT', ['-b', '127.0.0.9'])).answers, ['"127.0.0.9"']);
    assert.deepEqual(whoami.whoAsked(name.toUpperCase() + '.').sort(), ['127.0.0.1', '127.0.0.9']);
    assert.deepEqual(
      whoami
        .queries()
        .filter((q) => q.name === name)
        .map((q) => `${q.type}/${q.transport}`),
      ['A/udp', 'AAAA/tcp', 'TXT/udp'],
    );
    assert.equal((await dig(at, 'example.org', 'A')).status, 'REFUSED');
    assert.equal((await dig(at, name, 'MX')).status, 'NOERROR', 'other types: NODATA');
  });

  it('names the resolver that resolved a unique name, through unbound and through Ferry', async () => {
    const viaUnbound = uniqueName(LEAK_ZONE);
    const r = await dig({ host: '127.0.0.1', port: unbound.port }, viaUnbound, 'TXT');
    assert.deepEqual(r.answers, [`"${RESOLVER_ADDRESS}"`], r.raw);
    assert.deepEqual(whoami.whoAsked(viaUnbound), [RESOLVER_ADDRESS]);

    const viaFerry = uniqueName(LEAK_ZONE);
    const f = await dig(forwarder.addresses()[0]!, viaFerry, 'A');
    assert.deepEqual(f.answers, ['192.0.2.1'], f.raw);
    assert.deepEqual(whoami.whoAsked(viaFerry), [RESOLVER_ADDRESS]);
    assert.deepEqual(whoami.whoAsked(uniqueName(LEAK_ZONE)), [], 'a name nobody asked for');
  });
});

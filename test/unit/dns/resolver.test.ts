// The resolver and query handler over scripted upstreams: coalescing, failover order and penalty,
// SERVFAIL, caching with a fake clock, access control and what reaches the log.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { memoryLogger } from '../../helpers/memory-log.js';
import { DnsCache } from '../../../src/dns/cache.js';
import { QueryHandler } from '../../../src/dns/query-handler.js';
import { Resolver } from '../../../src/dns/resolver.js';
import { newDnsStats } from '../../../src/dns/stats.js';
import type { Upstream } from '../../../src/dns/upstream/types.js';
import { parseQuery, type ParsedQuery } from '../../../src/dns/wire.js';
import { CidrSet } from '../../../src/net/cidr.js';
import { answerData, decode, query, rcodeOf } from './packets.js';

type Script = (msg: Uint8Array) => Promise<Uint8Array> | Uint8Array;

/** An upstream that answers as the test says and records what it was sent. */
class ScriptedUpstream implements Upstream {
  readonly sent: Uint8Array[] = [];
  constructor(
    readonly name: string,
    public script: Script,
  ) {}
  async query(msg: Uint8Array): Promise<Uint8Array> {
    this.sent.push(Uint8Array.from(msg));
    return this.script(msg);
  }
  close(): void {}
}

/** A real answer to the query the upstream was sent (same ID and question). */
function reply(msg: Uint8Array, address: string, opts: { ttl?: number; rcode?: number } = {}): Uint8Array {
  const q = decode(msg);
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (opts.rcode ?? 0),
    questions: q.questions,
    answers: opts.rcode
      ? []
      : [{ type: 'A', name: q.questions![0]!.name, ttl: opts.ttl ?? 60, data: address }],
  });
}

const fails: Script = () => Promise.reject(new Error('unreachable'));
const servfail: Script = (m) => reply(m, '', { rcode: 2 });

function q(name: string, id = 1): ParsedQuery {
  const r = parseQuery(query(name, 'A', { id }));
  assert.ok(r.ok);
  return r.query;
}

function rig(upstreams: Upstream[], opts: { cache?: boolean } = {}) {
  let now = 1_000_000;
  const stats = newDnsStats();
  const resolver = new Resolver({
    upstreams,
    cache: opts.cache === false ? null : new DnsCache(),
    timeoutMs: 1000,
    stats,
    now: () => now,
  });
  return { resolver, stats, advance: (ms: number) => (now += ms) };
}

describe('Resolver', () => {
  it('sends identical questions in flight upstream once (coalescing)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const up = new ScriptedUpstream('u', async (m) => {
      await gate;
      return reply(m, '192.0.2.10');
    });
    const { resolver, stats } = rig([up]);
    const a = resolver.resolve(q('same.example', 1));
    const b = resolver.resolve(q('SAME.example', 2));
    const c = resolver.resolve(q('other.example', 3));
    release();
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    assert.equal(up.sent.length, 2, 'one upstream query per distinct question');
    assert.equal(stats.coalesced, 1);
    assert.equal(answerData(ra!), '192.0.2.10');
    assert.equal(ra, rb, 'coalesced callers share one response');
    assert.ok(rc);
  });

  it('uses fresh random IDs for upstream queries', async () => {
    const up = new ScriptedUpstream('u', (m) => reply(m, '192.0.2.1'));
    const { resolver } = rig([up], { cache: false });
    for (let i = 0; i < 20; i++) await resolver.resolve(q('x.example', 7));
    const ids = new Set(up.sent.map((m) => decode(m).id));
    assert.ok(ids.size >= 18, `IDs repeat too often: ${[...ids].join(',')}`);
  });

  it('fails over in order, then tries a failed upstream last until its penalty ends', async () => {
    const first = new ScriptedUpstream('first', fails);
    const second = new ScriptedUpstream('second', (m) => reply(m, '192.0.2.2'));
    const { resolver, stats, advance } = rig([first, second], { cache: false });
    assert.equal(answerData((await resolver.resolve(q('a.example')))!), '192.0.2.2');
    assert.equal(first.sent.length, 1);
    assert.equal(stats.upstreamFailures, 1);

    await resolver.resolve(q('b.example'));
    assert.equal(first.sent.length, 1, 'the failed upstream is not asked first while penalised');

    first.script = (m) => reply(m, '192.0.2.1');
    advance(31_000);
    assert.equal(
      answerData((await resolver.resolve(q('c.example')))!),
      '192.0.2.1',
      'back in front after the penalty',
    );
  });

  it('passes over SERVFAIL to the next upstream, and returns it when no upstream does better', async () => {
    const bad = new ScriptedUpstream('bad', servfail);
    const good = new ScriptedUpstream('good', (m) => reply(m, '192.0.2.3'));
    const { resolver } = rig([bad, good], { cache: false });
    assert.equal(answerData((await resolver.resolve(q('a.example')))!), '192.0.2.3');

    const onlyBad = rig([new ScriptedUpstream('bad', servfail)], { cache: false });
    assert.equal(rcodeOf((await onlyBad.resolver.resolve(q('a.example')))!), 'SERVFAIL');

    const dead = rig([new ScriptedUpstream('a', fails), new ScriptedUpstream('b', fails)], { cache: false });
    assert.equal(await dead.resolver.resolve(q('a.example')), null);
  });

  it('fills the cache, and the cache expires with the clock', async () => {
    const up = new ScriptedUpstream('u', (m) => reply(m, '192.0.2.4', { ttl: 30 }));
    const { resolver, stats, advance } = rig([up]);
    const query1 = q('c.example');
    assert.equal(resolver.cached(query1), null);
    await resolver.resolve(query1);
    advance(10_000);
    const hit = resolver.cached(q('C.EXAMPLE'));
    assert.ok(hit);
    assert.equal((decode(hit).answers![0] as { ttl: number }).ttl, 20);
    assert.equal(stats.cacheHits, 1);
    advance(20_000);
    assert.equal(resolver.cached(query1), null);
  });
});

describe('QueryHandler', () => {
  function handler(opts: { logQueries: boolean; upstream: Script }) {
    const { log: logger, lines } = memoryLogger();
    const stats = newDnsStats();
    const resolver = new Resolver({
      upstreams: [new ScriptedUpstream('udp://192.0.2.53', opts.upstream)],
      cache: new DnsCache(),
      timeoutMs: 1000,
      stats,
      now: Date.now,
      logger,
    });
    const h = new QueryHandler({
      resolver,
      allowFrom: new CidrSet(['10.8.0.0/24', 'fd00:8::/64']),
      stats,
      logQueries: opts.logQueries,
      logger,
    });
    return { h, stats, lines };
  }

  it('answers clients inside the allowed networks and refuses the rest', async () => {
    const { h, stats } = handler({ logQueries: false, upstream: (m) => reply(m, '192.0.2.5') });
    const ok = await h.handle(query('a.example', 'A', { id: 11 }), '10.8.0.2', true);
    assert.equal(answerData(ok!), '192.0.2.5');
    assert.equal(decode(ok!).id, 11);
    const mapped = await h.handle(query('a.example'), '::ffff:10.8.0.3', true);
    assert.equal(rcodeOf(mapped!), 'NOERROR');
    for (const outsider of ['10.9.0.2', '127.0.0.1', 'fd00:9::1']) {
      const r = await h.handle(query('a.example', 'A', { id: 12 }), outsider, true);
      assert.equal(rcodeOf(r!), 'REFUSED', outsider);
      assert.equal(decode(r!).id, 12);
    }
    assert.equal(stats.refused, 3);
  });

  it('refuses zone transfers and answers malformed queries without crashing', async () => {
    const { h, stats } = handler({ logQueries: false, upstream: (m) => reply(m, '192.0.2.5') });
    assert.equal(rcodeOf((await h.handle(query('example', 'AXFR'), '10.8.0.2', false))!), 'REFUSED');
    assert.equal(await h.handle(new Uint8Array([1, 2, 3]), '10.8.0.2', true), null);
    const noQ = dnsPacket.encode({ type: 'query', id: 5, questions: [] });
    assert.equal(rcodeOf((await h.handle(noQ, '10.8.0.2', true))!), 'FORMERR');
    assert.ok(stats.malformed >= 2);
  });

  it('answers SERVFAIL when no upstream answers', async () => {
    const { h, stats } = handler({ logQueries: false, upstream: fails });
    const r = await h.handle(query('down.example', 'A', { id: 77 }), '10.8.0.2', true);
    assert.equal(rcodeOf(r!), 'SERVFAIL');
    assert.equal(decode(r!).id, 77);
    assert.equal(stats.servfail, 1);
  });

  it('logs no name or client unless logQueries is on', async () => {
    const quiet = handler({ logQueries: false, upstream: fails });
    await quiet.h.handle(query('secret-name.example'), '10.8.0.42', true);
    await quiet.h.handle(query('secret-name.example'), '10.9.9.9', true);
    const quietLog = quiet.lines.join('');
    assert.ok(quiet.lines.length > 0, 'the upstream failure itself is logged');
    assert.ok(!quietLog.includes('secret-name'), quietLog);
    assert.ok(!quietLog.includes('10.8.0.42') && !quietLog.includes('10.9.9.9'), quietLog);

    const chatty = handler({ logQueries: true, upstream: (m) => reply(m, '192.0.2.5') });
    await chatty.h.handle(query('secret-name.example'), '10.8.0.42', true);
    const chattyLog = chatty.lines.join('');
    assert.ok(chattyLog.includes('secret-name.example.') && chattyLog.includes('10.8.0.42'), chattyLog);
  });
});

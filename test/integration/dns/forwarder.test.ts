// The DNS forwarder between dig (the client) and unbound (the upstream), over every transport Ferry
// speaks on each side: clients over UDP and TCP; upstreams over UDP, TCP, DNS over TLS and DNS over
// HTTPS — all four served by the same real unbound.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { memoryLogger } from '../../helpers/memory-log.js';
import {
  startDnsForwarder,
  type DnsForwarder,
  type DnsForwarderOptions,
} from '../../../src/dns/forwarder.js';
import { FrameReader, frame } from '../../../src/dns/frame-reader.js';
import { createUpstream } from '../../../src/dns/upstream/index.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';
import {
  BIG_TXT,
  NEGATIVE_TTL,
  SERVER_NAME,
  WWW_ADDRESS,
  ZONE,
  startUnbound,
  type Unbound,
} from './unbound.js';
import { dig } from './dig.js';

const NEEDS = { tools: ['unbound', 'unbound-checkconf', 'dig', 'openssl'] };

describe('DNS forwarder with dig and unbound', { skip: skipReason(NEEDS) }, () => {
  let unbound: Unbound;
  const forwarders: DnsForwarder[] = [];

  before(() => {
    requirePrereqs(undefined, NEEDS);
  });
  before(async () => {
    unbound = await startUnbound();
  });
  after(async () => {
    for (const f of forwarders) await f.close();
    await unbound?.stop();
  });

  async function forwarder(upstreams: string[], extra: Partial<DnsForwarderOptions> = {}) {
    const f = await startDnsForwarder({
      listen: [{ host: '127.0.0.1', port: 0 }],
      upstreams,
      allowFrom: ['127.0.0.0/8'],
      caFile: unbound.caFile,
      upstreamTimeoutMs: 3000,
      ...extra,
    });
    forwarders.push(f);
    return { f, at: f.addresses()[0]! };
  }

  const upstreamUrls = (): Record<string, string> => ({
    udp: `udp://127.0.0.1:${unbound.port}`,
    tcp: `tcp://127.0.0.1:${unbound.port}`,
    'DNS over TLS': `tls://127.0.0.1:${unbound.tlsPort}#${SERVER_NAME}`,
    'DNS over HTTPS': `https://127.0.0.1:${unbound.httpsPort}/dns-query#${SERVER_NAME}`,
  });

  for (const kind of ['udp', 'tcp', 'DNS over TLS', 'DNS over HTTPS']) {
    it(`answers dig over UDP and TCP from a ${kind} upstream, NXDOMAIN included`, async (t: TestContext) => {
      const { f, at } = await forwarder([upstreamUrls()[kind]!]);
      const overUdp = await dig(at, `www.${ZONE}`);
      assert.equal(overUdp.status, 'NOERROR', overUdp.raw);
      assert.deepEqual(overUdp.answers, [WWW_ADDRESS]);
      const overTcp = await dig(at, `WWW.${ZONE}`, 'A', ['+tcp']);
      assert.deepEqual(overTcp.answers, [WWW_ADDRESS], overTcp.raw);
      assert.match(overTcp.raw, /WWW\.test\.ferry\./, 'the answer keeps the client’s spelling of the name');
      const nx = await dig(at, `missing.${ZONE}`);
      assert.equal(nx.status, 'NXDOMAIN', nx.raw);
      assert.ok(f.stats.cacheHits >= 1, 'the TCP query was answered from the cache');
      // Two upstream queries (www, missing): the same name over TCP came from the cache.
      assert.equal(f.stats.upstreamQueries, 2, JSON.stringify(f.stats));
      t.diagnostic(JSON.stringify(f.stats));
    });
  }

  for (const [kind, portOf] of [
    ['DNS over TLS', () => unbound.tlsPort],
    ['DNS over HTTPS', () => unbound.httpsPort],
  ] as const) {
    it(`reuses one ${kind} connection for many queries`, async () => {
      // Connections to unbound's port, seen by ss: earlier tests' forwarders may hold some open.
      const connections = async (): Promise<Set<string>> => {
        const ss = await runAsync('ss', ['-Htn', 'state', 'established', `dport = :${portOf()}`]);
        return new Set(
          ss.stdout
            .split('\n')
            .map((l) => l.trim().split(/\s+/)[2] ?? '')
            .filter(Boolean),
        );
      };
      const before = await connections();
      const { f, at } = await forwarder([upstreamUrls()[kind]!], { cache: false });
      for (let i = 0; i < 5; i++) assert.deepEqual((await dig(at, `www.${ZONE}`)).answers, [WWW_ADDRESS]);
      assert.equal(f.stats.upstreamQueries, 5);
      const opened = [...(await connections())].filter((c) => !before.has(c));
      assert.equal(opened.length, 1, `one new connection for five queries: ${opened.join(' ')}`);
    });
  }

  it('counts TTLs down in cached answers and caches NXDOMAIN for the SOA minimum', async () => {
    const { f, at } = await forwarder([upstreamUrls().udp!]);
    const first = await dig(at, `missing2.${ZONE}`);
    assert.equal(first.status, 'NXDOMAIN');
    const soaTtl = Number(/\n\S+\s+(\d+)\s+IN\s+SOA/.exec(first.raw)?.[1]);
    assert.ok(soaTtl <= NEGATIVE_TTL, first.raw);
    const again = await dig(at, `missing2.${ZONE}`);
    assert.equal(again.status, 'NXDOMAIN');
    assert.equal(f.stats.upstreamQueries, 1, 'the second NXDOMAIN came from the cache');
    // A positive answer (TTL 300): served again from the cache, its TTL counts down with the time
    // it has spent there (whole seconds, so this waits about one second).
    const fresh = await dig(at, `www.${ZONE}`);
    assert.deepEqual(fresh.answers, [WWW_ADDRESS], fresh.raw);
    const freshTtl = fresh.ttls[0]!;
    assert.ok(freshTtl > 1, fresh.raw);
    const asked = f.stats.upstreamQueries;
    const aged = await waitFor(
      'a cached answer with a TTL below the first answer’s',
      async () => {
        const r = await dig(at, `www.${ZONE}`);
        // Stop polling (and fail below) as soon as the answer does not come from the cache.
        if (f.stats.upstreamQueries !== asked) return r;
        return r.ttls.length === 1 && r.ttls[0]! < freshTtl ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    assert.equal(f.stats.upstreamQueries, asked, 'the aged answer came from the cache');
    assert.deepEqual(aged.answers, [WWW_ADDRESS], aged.raw);
    assert.ok(aged.ttls[0]! < freshTtl, `cached TTL ${aged.ttls[0]} < first TTL ${freshTtl}`);
    // A name with TTL 2: once it expires the forwarder must ask again.
    await dig(at, `short.${ZONE}`);
    await waitFor(
      'the 2-second record to expire from the cache',
      async () => {
        const before = f.stats.upstreamQueries;
        await dig(at, `short.${ZONE}`);
        return f.stats.upstreamQueries > before;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
  });

  it('truncates for UDP clients and answers the same question in full over TCP (upstream TC fallback)', async () => {
    const { at } = await forwarder([upstreamUrls().udp!]);
    const udp = await dig(at, `big.${ZONE}`, 'TXT', ['+ignore', '+bufsize=1232']);
    assert.ok(udp.flags.includes('tc'), udp.raw);
    assert.equal(udp.answers.length, 0);
    const plain = await dig(at, `big.${ZONE}`, 'TXT', ['+ignore', '+noedns']);
    assert.ok(plain.flags.includes('tc'), 'a client without EDNS gets at most 512 bytes');
    const tcp = await dig(at, `big.${ZONE}`, 'TXT', ['+tcp']);
    assert.equal(tcp.status, 'NOERROR');
    assert.deepEqual(tcp.answers.map((a) => a.replace(/"/g, '')).sort(), [...BIG_TXT].sort());
  });

  it('refuses clients outside the allowed networks', async () => {
    const { f, at } = await forwarder([upstreamUrls().udp!], { allowFrom: ['127.0.0.2/32'] });
    const allowed = await dig(at, `www.${ZONE}`, 'A', ['-b', '127.0.0.2']);
    assert.deepEqual(allowed.answers, [WWW_ADDRESS]);
    for (const extra of [
      ['-b', '127.0.0.3'],
      ['-b', '127.0.0.3', '+tcp'],
    ]) {
      const outsider = await dig(at, `www.${ZONE}`, 'A', extra);
      assert.equal(outsider.status, 'REFUSED', outsider.raw);
      assert.equal(outsider.answers.length, 0);
    }
    assert.equal(f.stats.refused, 2);
    assert.equal(f.stats.upstreamQueries, 1);
  });

  it('fails over past a dead upstream, and answers SERVFAIL when none answers', async () => {
    const dead = `udp://127.0.0.1:9`; // discard port: nothing answers
    const { f, at } = await forwarder([dead, upstreamUrls().udp!], { upstreamTimeoutMs: 500 });
    assert.deepEqual((await dig(at, `www.${ZONE}`)).answers, [WWW_ADDRESS]);
    assert.equal(f.stats.upstreamFailures, 1);
    const onlyDead = await forwarder([dead, `tcp://127.0.0.1:9`], { upstreamTimeoutMs: 500 });
    assert.equal((await dig(onlyDead.at, `www.${ZONE}`)).status, 'SERVFAIL');
  });

  it('answers SERVFAIL when the TLS certificate does not verify (wrong name, unknown CA)', async () => {
    const wrongName = await forwarder([`tls://127.0.0.1:${unbound.tlsPort}#other.test.ferry`]);
    assert.equal((await dig(wrongName.at, `www.${ZONE}`)).status, 'SERVFAIL');
    const noCa = await forwarder([`https://127.0.0.1:${unbound.httpsPort}/dns-query#${SERVER_NAME}`], {
      caFile: undefined,
    });
    assert.equal((await dig(noCa.at, `www.${ZONE}`)).status, 'SERVFAIL');
    assert.equal(noCa.f.stats.upstreamFailures, 1);
  });

  it('sends twenty identical questions in flight upstream once', async () => {
    const { f, at } = await forwarder([upstreamUrls()['DNS over HTTPS']!]);
    const sock = createSocket('udp4');
    const answers = new Map<number, dnsPacket.DecodedPacket>();
    const done = new Promise<void>((resolve) => {
      sock.on('message', (m) => {
        const p = dnsPacket.decode(m);
        answers.set(p.id!, p);
        if (answers.size === 20) resolve();
      });
    });
    for (let id = 1; id <= 20; id++) {
      sock.send(
        dnsPacket.encode({
          type: 'query',
          id,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type: 'A', name: `www.${ZONE}` }],
        }),
        at.port,
        at.host,
      );
    }
    await done;
    sock.close();
    for (const p of answers.values()) assert.equal((p.answers?.[0] as { data: string }).data, WWW_ADDRESS);
    assert.equal(f.stats.upstreamQueries, 1, JSON.stringify(f.stats));
    assert.equal(f.stats.coalesced + f.stats.cacheHits, 19);
  });

  it('answers pipelined TCP queries on one connection, and survives garbage on both transports', async () => {
    const { f, at } = await forwarder([upstreamUrls().tcp!]);
    const names = ['www', 'missing3', 'big'];
    const s = connect(at.port, at.host);
    const reader = new FrameReader();
    const got = new Map<number, dnsPacket.DecodedPacket>();
    const all = new Promise<void>((resolve) =>
      s.on('data', (c: Buffer) =>
        reader.push(c, (m) => {
          const p = dnsPacket.decode(m);
          got.set(p.id!, p);
          if (got.size === names.length) resolve();
        }),
      ),
    );
    s.write(
      Buffer.concat(
        names.map((n, i) =>
          frame(
            dnsPacket.encode({
              type: 'query',
              id: 100 + i,
              flags: dnsPacket.RECURSION_DESIRED,
              questions: [{ type: n === 'big' ? 'TXT' : 'A', name: `${n}.${ZONE}` }],
            }),
          ),
        ),
      ),
    );
    await all;
    s.destroy();
    assert.equal((got.get(100)!.answers?.[0] as { data: string }).data, WWW_ADDRESS);
    assert.equal((got.get(101) as unknown as { rcode: string }).rcode, 'NXDOMAIN');
    assert.equal(got.get(102)!.answers?.length, BIG_TXT.length);

    // Garbage: a UDP runt, a TCP stream that is not DNS.
    const u = createSocket('udp4');
    await new Promise<void>((r) => u.send(Buffer.from('hello'), at.port, at.host, () => r()));
    u.close();
    const junk = connect(at.port, at.host);
    const closed = new Promise<void>((r) => junk.on('close', () => r()));
    junk.on('error', () => {});
    junk.write(Buffer.from([0, 3, 1, 2, 3]));
    await closed;
    assert.deepEqual((await dig(at, `www.${ZONE}`)).answers, [WWW_ADDRESS], 'still serving');
    assert.ok(f.stats.malformed >= 2);
  });

  it('writes no query name or client address to its log unless logQueries is on', async () => {
    const { log: logger, lines } = memoryLogger();
    const dead = 'udp://127.0.0.1:9';
    const quiet = await forwarder([dead, upstreamUrls().udp!], {
      logger,
      upstreamTimeoutMs: 300,
      allowFrom: ['127.0.0.7/32'],
    });
    assert.deepEqual((await dig(quiet.at, `www.${ZONE}`, 'A', ['-b', '127.0.0.7'])).answers, [WWW_ADDRESS]);
    assert.equal((await dig(quiet.at, `private-name.${ZONE}`, 'A', ['-b', '127.0.0.8'])).status, 'REFUSED');
    assert.ok(lines.length > 0, 'the dead upstream is reported');
    const log = lines.join('');
    for (const secret of ['www.', 'private-name', '127.0.0.7', '127.0.0.8'])
      assert.ok(!log.includes(secret), `${secret} in ${log}`);

    await assert.rejects(
      startDnsForwarder({
        listen: [{ host: '127.0.0.1', port: 0 }],
        upstreams: [upstreamUrls().udp!],
        allowFrom: ['127.0.0.0/8'],
        logQueries: true,
        loggingMode: 'none',
      }),
      /logging: none/,
    );

    lines.length = 0;
    const chatty = await forwarder([upstreamUrls().udp!], { logger, logQueries: true });
    await dig(chatty.at, `www.${ZONE}`);
    assert.match(lines.join(''), /www\.test\.ferry\..*127\.0\.0\.1|127\.0\.0\.1.*www\.test\.ferry\./);
  });

  it('keeps answering after a burst of random datagrams and streams', async () => {
    const { f, at } = await forwarder([upstreamUrls().udp!], { upstreamTimeoutMs: 1000 });
    const u = createSocket('udp4');
    const valid = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: `www.${ZONE}` }] });
    for (let i = 0; i < 300; i++) {
      // Half pure noise, half a valid query with a few bytes flipped.
      const b = i % 2 ? randomBytes(1 + (i % 200)) : Buffer.from(valid);
      if (!(i % 2)) for (let k = 0; k < 3; k++) b[(i * 7 + k * 13) % b.length] ^= 0xff;
      u.send(b, at.port, at.host);
    }
    const streams = Array.from({ length: 10 }, (_, i) => {
      const s = connect(at.port, at.host);
      s.on('error', () => {});
      s.end(randomBytes(50 + i * 30));
      return new Promise<void>((r) => s.on('close', () => r()));
    });
    await Promise.all(streams);
    u.close();
    assert.deepEqual((await dig(at, `www.${ZONE}`, 'A', ['+tcp'])).answers, [WWW_ADDRESS]);
    assert.deepEqual((await dig(at, `www.${ZONE}`)).answers, [WWW_ADDRESS]);
    assert.ok(f.stats.malformed > 0);
  });

  for (const kind of ['tcp', 'DNS over TLS', 'DNS over HTTPS']) {
    it(`${kind} upstream: concurrent queries with the same ID each get their own answer, under their own ID`, async (t) => {
      const up = createUpstream(upstreamUrls()[kind]!, { caFile: unbound.caFile });
      t.after(() => up.close());
      const names = ['www', 'missing4', 'www', 'big', 'missing5'];
      const results = await Promise.all(
        names.map((n) =>
          up.query(
            dnsPacket.encode({
              type: 'query',
              id: 4242,
              flags: dnsPacket.RECURSION_DESIRED,
              questions: [{ type: n === 'big' ? 'TXT' : 'A', name: `${n}.${ZONE}` }],
            }),
            5000,
          ),
        ),
      );
      results.forEach((r, i) => {
        const p = dnsPacket.decode(Buffer.from(r));
        assert.equal(p.id, 4242);
        assert.equal(p.questions?.[0]?.name, `${names[i]}.${ZONE}`);
      });
      assert.equal(dnsPacket.decode(Buffer.from(results[3]!)).answers?.length, BIG_TXT.length);
    });
  }
});

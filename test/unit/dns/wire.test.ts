// Parsing client queries and adapting responses to clients, against messages built by dns-packet.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import {
  adaptResponse,
  buildErrorResponse,
  buildUpstreamQuery,
  parseQuery,
  scanResponse,
  type ParsedQuery,
} from '../../../src/dns/wire.js';
import { answer, answerData, decode, query, rcodeOf } from './packets.js';

function parsed(b: Uint8Array): ParsedQuery {
  const r = parseQuery(b);
  assert.ok(r.ok, `expected a valid query, got ${JSON.stringify(r)}`);
  return r.query;
}

describe('parseQuery', () => {
  it('reads ID, type, EDNS size and DO, and keys names case-insensitively', () => {
    const q = parsed(query('WWW.Example.ORG', 'AAAA', { id: 4321, edns: 4096, do: true }));
    assert.equal(q.id, 4321);
    assert.equal(q.qtype, 28);
    assert.equal(q.ednsSize, 4096);
    assert.equal(q.dnssecOk, true);
    assert.equal(q.key, parsed(query('www.example.org', 'AAAA', { edns: 1232, do: true })).key);
    assert.notEqual(
      q.key,
      parsed(query('www.example.org', 'AAAA', { edns: 1232 })).key,
      'DO changes the answer',
    );
    assert.notEqual(q.key, parsed(query('www.example.org', 'A', { edns: 1232, do: true })).key);
    const plain = parsed(query('example.org'));
    assert.equal(plain.ednsSize, null);
    assert.equal(plain.dnssecOk, false);
  });

  it('raises an EDNS size below 512 to 512 (RFC 6891 §6.2.5)', () => {
    assert.equal(parsed(query('example.org', 'A', { edns: 100 })).ednsSize, 512);
  });

  it('drops responses and runts, answers bad queries with the right problem', () => {
    assert.deepEqual(parseQuery(new Uint8Array(5)), { ok: false, problem: 'drop', id: 0 });
    const resp = answer('a.example.', [{ ttl: 1, data: '192.0.2.1' }], { id: 9 });
    assert.equal((parseQuery(resp) as { problem: string }).problem, 'drop');

    const update = Buffer.from(query('example.org'));
    update[2]! |= 5 << 3; // opcode 5 (UPDATE)
    assert.equal((parseQuery(update) as { problem: string }).problem, 'notimp');

    const noQuestion = dnsPacket.encode({ type: 'query', id: 3, questions: [] });
    assert.deepEqual(parseQuery(noQuestion), { ok: false, problem: 'formerr', id: 3 });

    const twoOpt = dnsPacket.encode({
      type: 'query',
      id: 4,
      questions: [{ type: 'A', name: 'a.example', class: 'IN' }],
      additionals: [
        { type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] },
        { type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] },
      ] as unknown as dnsPacket.Answer[],
    });
    assert.equal((parseQuery(twoOpt) as { problem: string }).problem, 'formerr');

    const pointer = Buffer.concat([
      Buffer.from(query('a.example')).subarray(0, 12),
      Buffer.from([0xc0, 0x0c, 0, 1, 0, 1]),
    ]);
    assert.equal(
      (parseQuery(pointer) as { problem: string }).problem,
      'formerr',
      'a pointer in the question',
    );
  });

  it('flags EDNS versions other than 0 as BADVERS (RFC 6891 §6.1.3)', () => {
    const q = Buffer.from(query('a.example', 'A', { edns: 1232 }));
    q[q.length - 11 + 6] = 1; // the OPT TTL field's version byte
    const r = parseQuery(q);
    assert.equal(r.ok, false);
    assert.equal((r as { problem: string }).problem, 'badvers');
    const reply = buildErrorResponse((r as { query: ParsedQuery }).query, 1, 16);
    const opt = decode(reply).additionals?.find((a) => a.type === 'OPT') as
      { extendedRcode?: number } | undefined;
    assert.equal(opt?.extendedRcode, 1, 'BADVERS is 16: 1 in the OPT record, 0 in the header');
    assert.equal(rcodeOf(reply), 'NOERROR');
  });

  it('never throws on random bytes or truncated queries', () => {
    const base = query('www.example.org', 'A', { edns: 1232 });
    for (let cut = 0; cut <= base.length; cut++) parseQuery(base.subarray(0, cut));
    for (let i = 0; i < 2000; i++) parseQuery(randomBytes(1 + (i % 80)));
  });
});

describe('buildUpstreamQuery', () => {
  it('sends the question with a new ID and Ferry’s own OPT, dropping client EDNS options', () => {
    const withEcs = dnsPacket.encode({
      type: 'query',
      id: 1,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED,
      questions: [{ type: 'A', name: 'a.example', class: 'IN' }],
      additionals: [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: 4096,
          flags: dnsPacket.DNSSEC_OK,
          options: [{ code: 'CLIENT_SUBNET', ip: '198.51.100.7', sourcePrefixLength: 32 }],
        },
      ] as unknown as dnsPacket.Answer[],
    });
    const out = decode(buildUpstreamQuery(parsed(withEcs), 0xbeef));
    assert.equal(out.id, 0xbeef);
    assert.equal(out.questions?.[0]?.name, 'a.example');
    assert.ok((out.flags ?? 0) & dnsPacket.RECURSION_DESIRED);
    assert.ok((out.flags ?? 0) & dnsPacket.CHECKING_DISABLED);
    const opt = out.additionals?.[0] as { udpPayloadSize: number; flags: number; options: unknown[] };
    assert.equal(opt.udpPayloadSize, 1232);
    assert.ok(opt.flags & dnsPacket.DNSSEC_OK, 'DO is kept');
    assert.deepEqual(opt.options, [], 'client subnet is not passed upstream');
  });
});

describe('adaptResponse', () => {
  const upstream = answer('a.example.', [{ ttl: 60, data: '192.0.2.1' }], { id: 999, opt: true });

  it('puts back the client ID and its spelling of the name', () => {
    const q = parsed(query('A.eXample', 'A', { id: 7, edns: 1232 }));
    const bytes = adaptResponse(upstream, q, true);
    const out = decode(bytes);
    assert.equal(out.id, 7);
    assert.equal(out.questions?.[0]?.name, 'A.eXample');
    assert.equal(answerData(bytes), '192.0.2.1');
    assert.equal(out.additionals?.length, 1, 'an EDNS client gets an OPT record');
  });

  it('removes the OPT record for a client that sent none (RFC 6891 §7)', () => {
    const out = decode(adaptResponse(upstream, parsed(query('a.example', 'A', { id: 8 })), false));
    assert.equal(out.additionals?.length ?? 0, 0);
    assert.equal(out.answers?.length, 1);
  });

  it('cuts a UDP answer larger than the client can take to a TC answer, but not over TCP', () => {
    const many = answer(
      'a.example.',
      Array.from({ length: 40 }, (_, i) => ({ ttl: 60, data: `2001:db8::${i + 1}`, type: 'AAAA' as const })),
    );
    const q = parsed(query('a.example', 'A', { id: 9 }));
    const udp = adaptResponse(many, q, true);
    assert.ok(udp.length <= 512);
    const d = decode(udp);
    assert.ok((d.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE);
    assert.equal(d.id, 9);
    const tcp = decode(adaptResponse(many, q, false));
    assert.equal(tcp.answers?.length, 40);
    assert.equal(
      decode(adaptResponse(many, parsed(query('a.example', 'A', { edns: 4096 })), true)).answers?.length,
      40,
    );
  });

  it('leaves the upstream bytes untouched (coalesced clients share them)', () => {
    const copy = Buffer.from(upstream);
    adaptResponse(upstream, parsed(query('A.EXAMPLE', 'A', { id: 1 })), true);
    assert.deepEqual(Buffer.from(upstream), copy);
  });
});

describe('scanResponse', () => {
  it('never throws anything but DnsWireError on garbage', () => {
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(12 + (i % 100));
      b[2]! |= 0x80;
      try {
        scanResponse(b);
      } catch (e) {
        assert.equal((e as Error).constructor.name, 'DnsWireError');
      }
    }
  });
});

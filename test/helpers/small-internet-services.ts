// The services of the small internet's "internet" namespace, run there as one process by
// small-internet.ts (`ip netns exec <ns> node small-internet-services.js ...`):
//
//   - the check origin (src/audit/check-origin.ts) on [::]:<http>, dual stack: GET /ip answers the
//     client address it sees;
//   - a "whoami" DNS responder on <dns-addr>:<dns> (UDP; TCP on the wildcard) that answers every name under <zone> with
//     the address of whoever asked: A (asker's IPv4), AAAA (asker's IPv6), TXT (either). That is how
//     a leak test learns which resolver actually carried its query. Names outside the zone get
//     REFUSED: it is not an open resolver.
//
// Each DNS query is written to stdout as one JSON line {"q":name,"type":..,"from":addr} so the test
// can see who asked; "ready" is printed once everything listens.
// Minimal on purpose: the dns helper's src/dns/whoami.ts is the product version.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { createServer } from 'node:net';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';
import { startCheckOrigin, normalize } from '../../src/audit/check-origin.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

const httpPort = Number(arg('http', '80'));
const dnsPort = Number(arg('dns', '53'));
const zone = arg('zone', 'whoami.test').toLowerCase().replace(/\.$/, '');
// The resolver's own addresses. UDP sockets are bound to each one rather than to the wildcard: a
// wildcard socket's replies would leave from whatever source address routing picks, which a client
// rejects when it differs from the address it asked (RFC 5452 §9.1).
const dnsAddrs = arg('dns-addr', '::').split(',');

function answer(query: Buffer, from: string): Buffer | null {
  let q: dnsPacket.DecodedPacket;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return null;
  }
  const question = q.questions?.[0];
  if (!question) return null;
  const name = question.name.toLowerCase();
  process.stdout.write(JSON.stringify({ q: name, type: question.type, from }) + '\n');
  const inZone = name === zone || name.endsWith(`.${zone}`);
  const answers: dnsPacket.Answer[] = [];
  if (inZone) {
    const v6 = from.includes(':');
    if (question.type === 'A' && !v6) answers.push({ type: 'A', name: question.name, ttl: 0, data: from });
    if (question.type === 'AAAA' && v6)
      answers.push({ type: 'AAAA', name: question.name, ttl: 0, data: from });
    if (question.type === 'TXT') answers.push({ type: 'TXT', name: question.name, ttl: 0, data: from });
  }
  return dnsPacket.encode({
    id: q.id,
    type: 'response',
    // RFC 1035 §4.1.1: AA for our own zone; RCODE 5 (REFUSED) for names we are not authoritative for.
    flags: (inZone ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | (inZone ? 0 : 5),
    questions: [question],
    answers,
  });
}

async function main(): Promise<void> {
  const origin = await startCheckOrigin({ host: '::', port: httpPort });
  const udps = dnsAddrs.map((a) => {
    const udp = createSocket({ type: a.includes(':') ? 'udp6' : 'udp4' });
    udp.on('message', (msg: Buffer, r: RemoteInfo) => {
      const out = answer(msg, normalize(r.address));
      if (out) udp.send(out, r.port, r.address);
    });
    udp.bind(dnsPort, a);
    return udp;
  });
  await Promise.all(udps.map((u) => once(u, 'listening')));
  // TCP (RFC 1035 §4.2.2: two-byte length prefix), for resolvers that retry over TCP.
  const tcp = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const out = answer(buf.subarray(2, 2 + len), normalize(s.remoteAddress ?? ''));
        buf = buf.subarray(2 + len);
        if (out) {
          const hdr = Buffer.alloc(2);
          hdr.writeUInt16BE(out.length);
          s.write(Buffer.concat([hdr, out]));
        }
      }
    });
  });
  tcp.listen(dnsPort, '::');
  await once(tcp, 'listening');
  process.stdout.write('ready\n');
  const stop = (): void => {
    for (const u of udps) u.close();
    tcp.close();
    void origin.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main().catch((e: unknown) => {
  process.stderr.write(`small-internet-services: ${String(e)}\n`);
  process.exit(1);
});

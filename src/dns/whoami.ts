// A tiny authoritative server for leak tests: every name under its zone resolves (A, AAAA) and its TXT
// record names the address the query came from; each query is remembered in memory, so a test — or
// `ferry leaktest` — can ask a unique random name and learn which resolver actually asked for it.
// Answers carry TTL 0 so no cache in between hides a later query. It records addresses by design: it
// is a diagnostic for the operator's own leak test, not part of the service's data path.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { FrameReader, frame } from './frame-reader.js';

export interface WhoamiOptions {
  /** Where to answer (UDP and TCP); port 0 picks a free port (the same for both). */
  host: string;
  port: number;
  /** The zone answered, e.g. "leak.example"; names outside it are REFUSED. */
  zone: string;
  /** The A answer. Default 192.0.2.1 (RFC 5737 documentation range). */
  ipv4?: string;
  /** The AAAA answer. Default 2001:db8::1 (RFC 3849). */
  ipv6?: string;
  /** Most queries remembered; older ones are forgotten first. Default 10000. */
  maxRecords?: number;
}

export interface WhoamiQuery {
  /** Lowercase, without the trailing dot. */
  name: string;
  type: string;
  /** The source address of the query: the resolver that asked. */
  from: string;
  transport: 'udp' | 'tcp';
  atMs: number;
}

export interface WhoamiDns {
  host: string;
  port: number;
  zone: string;
  /** Every remembered query, oldest first. */
  queries(): WhoamiQuery[];
  /** The distinct source addresses that asked for the name (any case, with or without trailing dot). */
  whoAsked(name: string): string[];
  clear(): void;
  close(): Promise<void>;
}

const RCODE_REFUSED = 5; // RFC 1035 §4.1.1

const normalise = (n: string): string => n.toLowerCase().replace(/\.$/, '');

export async function startWhoamiDns(opts: WhoamiOptions): Promise<WhoamiDns> {
  const zone = normalise(opts.zone);
  const ipv4 = opts.ipv4 ?? '192.0.2.1';
  const ipv6 = opts.ipv6 ?? '2001:db8::1';
  const maxRecords = opts.maxRecords ?? 10_000;
  const log: WhoamiQuery[] = [];

  const answer = (msg: Buffer, from: string, transport: 'udp' | 'tcp'): Buffer | null => {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return null;
    }
    const question = q.questions?.[0];
    if (q.type !== 'query' || !question || q.questions!.length !== 1) return null;
    const name = normalise(question.name);
    const inZone = name === zone || name.endsWith(`.${zone}`);
    const base = {
      type: 'response' as const,
      id: q.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED),
      questions: [question],
    };
    // dns-packet takes the RCODE in the low four bits of flags.
    if (!inZone)
      return dnsPacket.encode({
        ...base,
        flags: ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | RCODE_REFUSED,
      });
    log.push({ name, type: question.type, from, transport, atMs: Date.now() });
    if (log.length > maxRecords) log.splice(0, log.length - maxRecords);
    const answers: dnsPacket.Answer[] = [];
    if (question.type === 'A') answers.push({ type: 'A', name: question.name, ttl: 0, data: ipv4 });
    else if (question.type === 'AAAA')
      answers.push({ type: 'AAAA', name: question.name, ttl: 0, data: ipv6 });
    else if (question.type === 'TXT')
      answers.push({ type: 'TXT', name: question.name, ttl: 0, data: [from] });
    // Other types: NODATA, with the SOA a negative answer needs (RFC 2308 §3), MINIMUM 0.
    const authorities: dnsPacket.Answer[] =
      answers.length === 0
        ? [
            {
              type: 'SOA',
              name: zone,
              ttl: 0,
              data: {
                mname: `ns.${zone}`,
                rname: `hostmaster.${zone}`,
                serial: 1,
                refresh: 60,
                retry: 60,
                expire: 60,
                minimum: 0,
              },
            },
          ]
        : [];
    return dnsPacket.encode({ ...base, answers, authorities });
  };

  const udp: UdpSocket = createSocket({ type: isIPv6(opts.host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(opts.port, opts.host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
  udp.on('error', () => {});
  udp.on('message', (msg, rinfo) => {
    const r = answer(msg, rinfo.address, 'udp');
    if (r) udp.send(r, rinfo.port, rinfo.address);
  });
  const port = udp.address().port;

  const sockets = new Set<Socket>();
  const tcp: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.setTimeout(10_000, () => s.destroy());
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) =>
      reader.push(chunk, (m) => {
        const r = answer(m, s.remoteAddress ?? '', 'tcp');
        if (r) s.write(frame(r));
        else s.destroy();
      }),
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, opts.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    udp.close();
    throw e;
  }

  return {
    host: opts.host,
    port,
    zone,
    queries: () => log.slice(),
    whoAsked: (name) => [...new Set(log.filter((q) => q.name === normalise(name)).map((q) => q.from))],
    clear: () => void log.splice(0),
    close: async () => {
      udp.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

/** A name under the zone that no one has asked for before: 16 random hex characters as the first label. */
export function uniqueName(zone: string): string {
  return `${randomBytes(8).toString('hex')}.${normalise(zone)}`;
}

// A tiny authoritative server for leak tests: every name under its zone resolves (A, AAAA) and its TXT
// record names the address the query came from; each query is remembered in memory, so a test — or
// `ferry leaktest`, or the check origin behind `ferry audit-proxy --dns-zone` — can ask a unique random
// name and learn which resolver actually asked for it. Answers carry TTL 0 so no cache in between
// hides a later query. It records addresses by design: it is a diagnostic for the operator's own leak
// test, not part of the service's data path.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { unmapIpv4 } from '../net/mapped-ipv4.js';
import { FrameReader, frame } from './frame-reader.js';

/** An A/AAAA answer option: this value means "the asker's own address, when it is of that family". */
export const ASKER = 'asker';

export interface WhoamiOptions {
  /**
   * Where to answer (UDP and TCP, the same port on each). Several addresses get a UDP socket each
   * rather than one wildcard socket, so every reply leaves from the address the client asked (a
   * client drops replies from any other source, RFC 5452 §9.1). "::" is dual-stack: IPv4 askers are
   * reported as plain a.b.c.d, not ::ffff:a.b.c.d.
   */
  host: string | readonly string[];
  /** Port 0 picks a free port (the same for all addresses and both transports). */
  port: number;
  /** The zone answered, e.g. "leak.example"; names outside it are REFUSED. */
  zone: string;
  /** The A answer: an address, ASKER, or null for none (NODATA). Default 192.0.2.1 (RFC 5737). */
  ipv4?: string | null | undefined;
  /** The AAAA answer: an address, ASKER, or null for none (NODATA). Default 2001:db8::1 (RFC 3849). */
  ipv6?: string | null | undefined;
  /** Most queries remembered; older ones are forgotten first. Default 10000. */
  maxRecords?: number | undefined;
  /** Called for every query in the zone, after it is remembered (e.g. to print it). */
  onQuery?: ((q: WhoamiQuery) => void) | undefined;
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
  /** The first listen address. */
  host: string;
  hosts: readonly string[];
  port: number;
  zone: string;
  /** Every remembered query, oldest first. */
  queries(): WhoamiQuery[];
  /** The distinct source addresses that asked for the name (any case, with or without trailing dot),
   * first asker first. */
  whoAsked(name: string): string[];
  clear(): void;
  close(): Promise<void>;
}

const RCODE_REFUSED = 5; // RFC 1035 §4.1.1

const normalise = (n: string): string => n.toLowerCase().replace(/\.$/, '');

export async function startWhoamiDns(opts: WhoamiOptions): Promise<WhoamiDns> {
  const zone = normalise(opts.zone);
  const hosts = typeof opts.host === 'string' ? [opts.host] : [...opts.host];
  if (hosts.length === 0) throw new Error('whoami DNS: no listen address');
  const ipv4 = opts.ipv4 === undefined ? '192.0.2.1' : opts.ipv4;
  const ipv6 = opts.ipv6 === undefined ? '2001:db8::1' : opts.ipv6;
  const maxRecords = opts.maxRecords ?? 10_000;
  const onQuery = opts.onQuery;
  const log: WhoamiQuery[] = [];

  const answer = (msg: Buffer, rawFrom: string, transport: 'udp' | 'tcp'): Buffer | null => {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return null;
    }
    const question = q.questions?.[0];
    if (q.type !== 'query' || !question || q.questions!.length !== 1) return null;
    const from = unmapIpv4(rawFrom);
    // Resolvers may randomise the case of names (draft-vixie-dnsext-dns0x20): compare lowercased.
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
    const record: WhoamiQuery = { name, type: question.type, from, transport, atMs: Date.now() };
    log.push(record);
    if (log.length > maxRecords) log.splice(0, log.length - maxRecords);
    onQuery?.(record);
    const answers: dnsPacket.Answer[] = [];
    const fromV6 = isIPv6(from);
    if (question.type === 'A') {
      const data = ipv4 === ASKER ? (fromV6 ? null : from) : ipv4;
      if (data !== null) answers.push({ type: 'A', name: question.name, ttl: 0, data });
    } else if (question.type === 'AAAA') {
      const data = ipv6 === ASKER ? (fromV6 ? from : null) : ipv6;
      if (data !== null) answers.push({ type: 'AAAA', name: question.name, ttl: 0, data });
    } else if (question.type === 'TXT')
      answers.push({ type: 'TXT', name: question.name, ttl: 0, data: [from] });
    // No answer: NODATA, with the SOA a negative answer needs (RFC 2308 §3), MINIMUM 0.
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

  const udps: UdpSocket[] = [];
  const tcps: Server[] = [];
  const sockets = new Set<Socket>();
  const onTcp = (s: Socket): void => {
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
  };
  const closeAll = async (): Promise<void> => {
    for (const u of udps.splice(0)) u.close();
    for (const s of sockets) s.destroy();
    await Promise.all(tcps.splice(0).map((t) => new Promise<void>((resolve) => t.close(() => resolve()))));
  };
  const listenAll = async (firstPort: number): Promise<number> => {
    let port = firstPort;
    for (const host of hosts) {
      // udp6 sockets are dual-stack unless ipv6Only, so "::" hears IPv4 resolvers too.
      const udp: UdpSocket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
      udps.push(udp);
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udp.on('error', () => {}); // a failed send loses one answer; the resolver retries
      udp.on('message', (msg, rinfo) => {
        const r = answer(msg, rinfo.address, 'udp');
        if (r) udp.send(r, rinfo.port, rinfo.address);
      });
      port = udp.address().port;
      const tcp = createServer(onTcp);
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      tcps.push(tcp);
    }
    return port;
  };

  // Port 0: the free UDP port the kernel picked may be taken for TCP (or on another address) by
  // someone else; pick again a few times rather than fail.
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      port = await listenAll(opts.port);
      break;
    } catch (e) {
      await closeAll();
      if (opts.port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw e;
    }
  }

  return {
    host: hosts[0]!,
    hosts,
    port,
    zone,
    queries: () => log.slice(),
    whoAsked: (name) => [...new Set(log.filter((q) => q.name === normalise(name)).map((q) => q.from))],
    clear: () => void log.splice(0),
    close: closeAll,
  };
}

/** A name under the zone that no one has asked for before: 16 random hex characters as the first label. */
export function uniqueName(zone: string): string {
  return `${randomBytes(8).toString('hex')}.${normalise(zone)}`;
}

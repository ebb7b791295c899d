// The check origin's DNS side: a tiny authoritative server for one zone that answers every name in
// it with the check origin's address and remembers which resolver addresses asked for which name.
// `ferry audit-proxy` asks a proxy for http://<random>.<zone>/, then reads back (GET /dns/<random>
// on the check origin) who resolved that name: the proxy's side of the world (remote DNS), or the
// resolver the client itself uses (a DNS leak). The random label makes every audit's name unique,
// so no cache anywhere can answer for it and every resolution reaches this server.
//
// Deployment: delegate the zone to the check origin's host (an NS record), or, in a lab, make the
// proxy's resolver this server. UDP only (RFC 1035 §4.2.1); answers are tiny, never truncated.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';

export interface DnsRecorderOptions {
  host: string;
  port: number;
  /** The zone served, e.g. "audit.example.net". */
  zone: string;
  /** Address returned for A queries (the check origin's IPv4 address). */
  answer4?: string | undefined;
  /** Address returned for AAAA queries. */
  answer6?: string | undefined;
}

export interface DnsRecorder {
  readonly port: number;
  readonly zone: string;
  /** Addresses that asked for <label>.<zone>, first ask first. */
  askedBy(label: string): string[];
  close(): Promise<void>;
}

/** Labels remembered; the oldest go first. An audit reads its label back within seconds. */
const MAX_LABELS = 4096;
/** Addresses remembered per label (a proxy with many resolvers is reported as such, not without bound). */
const MAX_ASKERS = 32;
/** RFC 1035 §4.1.1 RCODE values. */
const RCODE_REFUSED = 5;
/** Answers are never cached: each audit's name is asked once anyway. */
const TTL = 0;
/** One label of letters, digits and hyphens (RFC 1035 §2.3.1), as audits generate them. */
const LABEL = /^[a-z0-9-]{1,63}$/;

export async function startDnsRecorder(opts: DnsRecorderOptions): Promise<DnsRecorder> {
  const zone = opts.zone.toLowerCase().replace(/\.$/, '');
  const asked = new Map<string, string[]>();
  const family = isIP(opts.host);
  // A dual-stack socket on "::" hears IPv4 resolvers too (as ::ffff:a.b.c.d, normalized below).
  const sock: UdpSocket = createSocket(
    family === 4 ? { type: 'udp4' } : { type: 'udp6', ipv6Only: opts.host !== '::' },
  );
  sock.on('message', (msg: Buffer, r: RemoteInfo) => {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return; // not DNS: no answer
    }
    if (q.type !== 'query' || !q.questions || q.questions.length !== 1) return;
    const question = q.questions[0]!;
    // Resolvers may randomize the case of names (draft-vixie-dnsext-dns0x20); compare lowercased.
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const inZone = name === zone || name.endsWith(`.${zone}`);
    const answers: dnsPacket.Answer[] = [];
    if (inZone && name !== zone) {
      const label = name.slice(0, -zone.length - 1);
      if (LABEL.test(label)) remember(asked, label, normalize(r.address));
      if (question.type === 'A' && opts.answer4)
        answers.push({ type: 'A', name: question.name, ttl: TTL, data: opts.answer4 });
      else if (question.type === 'AAAA' && opts.answer6)
        answers.push({ type: 'AAAA', name: question.name, ttl: TTL, data: opts.answer6 });
    }
    const rd = q.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      // Authoritative for the zone; anything else is refused (this is not a recursive resolver).
      flags: inZone ? dnsPacket.AUTHORITATIVE_ANSWER | rd : RCODE_REFUSED | rd,
      questions: [question],
      answers,
    });
    sock.send(reply, r.port, r.address);
  });
  sock.on('error', () => undefined); // a failed send loses one answer; the resolver retries
  const port = await new Promise<number>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.port, opts.host, () => {
      sock.removeListener('error', reject);
      resolve(sock.address().port);
    });
  });
  return {
    port,
    zone,
    askedBy: (label) => [...(asked.get(label.toLowerCase()) ?? [])],
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

function remember(asked: Map<string, string[]>, label: string, from: string): void {
  let list = asked.get(label);
  if (list === undefined) {
    if (asked.size >= MAX_LABELS) asked.delete(asked.keys().next().value!);
    list = [];
    asked.set(label, list);
  }
  if (!list.includes(from) && list.length < MAX_ASKERS) list.push(from);
}

function normalize(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

// DNS messages for the unit tests, built with dns-packet (an encoder independent of src/dns/wire.ts).
import * as dnsPacket from 'dns-packet';

export function query(
  name: string,
  type: dnsPacket.RecordType = 'A',
  opts: { id?: number; edns?: number; do?: boolean } = {},
): Buffer {
  const additionals: dnsPacket.Answer[] =
    opts.edns !== undefined
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: opts.edns,
            flags: opts.do ? dnsPacket.DNSSEC_OK : 0,
            options: [],
          } as unknown as dnsPacket.Answer,
        ]
      : [];
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 1234,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals,
  });
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export function answer(
  name: string,
  answers: { ttl: number; data: string; type?: 'A' | 'AAAA' }[],
  opts: {
    id?: number;
    rcode?: string;
    soa?: { ttl: number; minimum: number };
    opt?: boolean;
    tc?: boolean;
  } = {},
): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: opts.id ?? 0,
    // dns-packet takes the RCODE as the low bits of flags.
    flags:
      dnsPacket.RECURSION_DESIRED |
      dnsPacket.RECURSION_AVAILABLE |
      (opts.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) |
      RCODES.indexOf(opts.rcode ?? 'NOERROR'),
    questions: [{ type: 'A', name, class: 'IN' }],
    answers: answers.map((a) => ({ type: a.type ?? 'A', name, ttl: a.ttl, data: a.data })),
    authorities: opts.soa
      ? [
          {
            type: 'SOA',
            name: 'example.',
            ttl: opts.soa.ttl,
            data: {
              mname: 'ns.example.',
              rname: 'hostmaster.example.',
              serial: 1,
              refresh: 3600,
              retry: 600,
              expire: 86400,
              minimum: opts.soa.minimum,
            },
          },
        ]
      : [],
    additionals: opts.opt
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 1232,
            flags: 0,
            options: [],
          } as unknown as dnsPacket.Answer,
        ]
      : [],
  } as dnsPacket.Packet);
}

export const decode = (b: Uint8Array): dnsPacket.DecodedPacket => dnsPacket.decode(Buffer.from(b));

export const rcodeOf = (b: Uint8Array): string => (decode(b) as unknown as { rcode: string }).rcode;

/** The data of the i-th answer record. */
export const answerData = (b: Uint8Array, i = 0): unknown =>
  (decode(b).answers?.[i] as { data?: unknown } | undefined)?.data;

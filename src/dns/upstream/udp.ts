// Plain DNS over UDP (RFC 1035 §4.2.1). Every query leaves from a fresh socket, so its source port is
// as random as its ID (RFC 5452 §4.5 and §9.2: the defence against off-path spoofed answers); a
// datagram is accepted only from the upstream's address and port with the query's ID and question.
// A truncated answer (TC bit) is asked again over TCP (RFC 7766 §5).
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { FLAG_TC, HEADER_LEN, firstQuestion, questionMatches, readU16 } from '../wire.js';
import { StreamUpstream } from './stream.js';
import type { Upstream } from './types.js';
import type { UpstreamSpec } from './url.js';

export class UdpUpstream implements Upstream {
  readonly name: string;
  private readonly tcp: StreamUpstream;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly spec: UpstreamSpec) {
    this.name = spec.text;
    this.tcp = new StreamUpstream({ ...spec, kind: 'tcp' }, null);
  }

  async query(msg: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const started = Date.now();
    const response = await this.viaUdp(msg, timeoutMs);
    if (!(readU16(response, 2) & FLAG_TC)) return response;
    return this.tcp.query(msg, Math.max(1, timeoutMs - (Date.now() - started)));
  }

  private viaUdp(msg: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const { host, port } = this.spec;
    const id = readU16(msg, 0);
    const question = firstQuestion(msg);
    return new Promise<Uint8Array>((resolve, reject) => {
      const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      this.sockets.add(socket);
      const done = (err: Error | null, r?: Uint8Array): void => {
        clearTimeout(timer);
        this.sockets.delete(socket);
        socket.close();
        if (err) reject(err);
        else resolve(r!);
      };
      const timer = setTimeout(
        () => done(new Error(`DNS upstream ${this.name} did not answer in time`)),
        timeoutMs,
      );
      socket.on('error', (e) => done(new Error(`DNS upstream ${this.name}: ${e.message}`)));
      socket.on('message', (m, rinfo) => {
        if (rinfo.port !== port || !sameAddress(rinfo.address, host)) return;
        if (m.length < HEADER_LEN || readU16(m, 0) !== id || !questionMatches(m, question)) return;
        done(null, Uint8Array.from(m));
      });
      socket.send(msg, port, host);
    });
  }

  close(): void {
    for (const s of this.sockets) s.close();
    this.sockets.clear();
    this.tcp.close();
  }
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  // IPv6 text forms differ (zero compression, case); compare them as Node prints them.
  return isIPv6(a) && isIPv6(b) && new URL(`http://[${a}]`).hostname === new URL(`http://[${b}]`).hostname;
}

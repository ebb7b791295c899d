// The direct outbound: connect from this host, optionally from a chosen source address (Node has no
// SO_BINDTODEVICE, so an interface name is turned into that interface's address).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { FerryError, fromDialError } from '../core/errors.js';
import { formatHostPort, type Destination } from '../core/session.js';
import type { DialOptions, Outbound, UdpFlow } from './outbound.js';
import { UdpFlowBase } from './udp-flow-base.js';
import { connectSocket } from '../net/connect.js';
import { fastRead as makeFastRead } from '../net/fast-read.js';
import { resolveAllowed, type ResolvedAddress } from './resolve.js';

export interface DirectConfig {
  name: string;
  /** Local source address to bind (IPv4 and/or IPv6). */
  bind?: string[];
  /** Interface whose addresses are used as source addresses. */
  interface?: string;
}

export class DirectOutbound implements Outbound {
  readonly kind = 'direct';
  readonly name: string;
  private readonly bind4: string | undefined;
  private readonly bind6: string | undefined;

  constructor(cfg: DirectConfig) {
    this.name = cfg.name;
    const addrs = [...(cfg.bind ?? [])];
    if (cfg.interface) {
      const list = networkInterfaces()[cfg.interface];
      if (!list) throw new FerryError('E_CONFIG', `outbound ${cfg.name}: no interface '${cfg.interface}'`);
      for (const a of list) if (!a.internal || cfg.interface === 'lo') addrs.push(a.address);
    }
    this.bind4 = addrs.find((a) => isIP(a) === 4);
    this.bind6 = addrs.find((a) => isIP(a) === 6 && !a.toLowerCase().startsWith('fe80'));
  }

  async dial(dest: Destination, opts: DialOptions): Promise<Socket> {
    const addrs = await resolveAllowed(dest, opts.guard);
    let lastErr: unknown;
    // Try each allowed address in turn (the resolver's order already prefers what the host prefers).
    const deadline = Date.now() + opts.connectTimeoutMs;
    for (const a of addrs) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        return await this.connectOne(a, dest.port, left, opts.signal, opts.forRelay === true);
      } catch (err) {
        lastErr = err;
        if (opts.signal?.aborted) break;
      }
    }
    if (lastErr === undefined)
      throw new FerryError(
        'E_UPSTREAM_TIMEOUT',
        `connect to ${formatHostPort(dest.host, dest.port)} timed out`,
      );
    throw fromDialError(lastErr, `connect to ${formatHostPort(dest.host, dest.port)}`);
  }

  private connectOne(
    a: ResolvedAddress,
    port: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    fastRead: boolean,
  ): Promise<Socket> {
    const localAddress = a.family === 4 ? this.bind4 : this.bind6;
    const fr = fastRead ? makeFastRead() : null;
    return connectSocket(
      {
        host: a.address,
        port,
        family: a.family,
        ...(localAddress ? { localAddress } : {}),
        noDelay: true,
        ...(fr ? fr.options : {}),
      },
      timeoutMs,
      signal,
      fr ? (s) => fr.bind(s) : undefined,
    );
  }

  async openUdp(opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow> {
    return new DirectUdpFlow(opts.guard, this.bind4, this.bind6);
  }
}

/** A pair of unconnected UDP sockets (v4 and v6, created on first use) sending on a client's behalf. */
class DirectUdpFlow extends UdpFlowBase {
  private s4: UdpSocket | null = null;
  private s6: UdpSocket | null = null;

  constructor(
    private readonly guard: import('../router/address-guard.js').AddressGuard,
    private readonly bind4: string | undefined,
    private readonly bind6: string | undefined,
  ) {
    super();
  }

  private socket(family: 4 | 6): UdpSocket {
    const existing = family === 4 ? this.s4 : this.s6;
    if (existing) return existing;
    const s = createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
    s.on('message', (msg, rinfo) => this.msgCb?.(msg, { address: rinfo.address, port: rinfo.port }));
    s.on('error', (err) => this.errCb?.(err));
    const addr = family === 4 ? this.bind4 : this.bind6;
    s.bind(addr ? { address: addr, port: 0 } : { port: 0 });
    if (family === 4) this.s4 = s;
    else this.s6 = s;
    return s;
  }

  send(data: Buffer, dest: Destination): void {
    if (this.closed) return;
    if (dest.kind === 'domain') return this.sendResolved(data, dest, this.guard, this.sendTo);
    const why = this.guard.check(dest.host);
    if (why) return this.refuse(why);
    this.socket(dest.kind === 'ipv4' ? 4 : 6).send(data, dest.port, dest.host);
  }

  private readonly sendTo = (data: Buffer, to: ResolvedAddress, port: number): void => {
    this.socket(to.family).send(data, port, to.address);
  };

  close(): void {
    this.closed = true;
    this.s4?.close();
    this.s6?.close();
    this.s4 = this.s6 = null;
  }
}

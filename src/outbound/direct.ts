// The direct outbound: connect from this host, optionally from a chosen source address (Node has no
// SO_BINDTODEVICE, so an interface name is turned into that interface's address).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { FerryError, fromDialError } from '../core/errors.js';
import { formatHostPort, type Destination } from '../core/session.js';
import type { DialOptions, Outbound, UdpFlow } from './outbound.js';
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
class DirectUdpFlow implements UdpFlow {
  private s4: UdpSocket | null = null;
  private s6: UdpSocket | null = null;
  private msgCb: ((data: Buffer, from: { address: string; port: number }) => void) | null = null;
  private errCb: ((err: Error) => void) | null = null;
  private closed = false;
  // Names resolved for this flow: a datagram flow sends many packets to the same few names.
  private readonly dns = new Map<string, Promise<ResolvedAddress[]>>();

  constructor(
    private readonly guard: import('../router/address-guard.js').AddressGuard,
    private readonly bind4: string | undefined,
    private readonly bind6: string | undefined,
  ) {}

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
    if (dest.kind !== 'domain') {
      const why = this.guard.check(dest.host);
      if (why) {
        this.errCb?.(new FerryError('E_DEST_FORBIDDEN', `destination refused: ${why}`));
        return;
      }
      this.socket(dest.kind === 'ipv4' ? 4 : 6).send(data, dest.port, dest.host);
      return;
    }
    let p = this.dns.get(dest.host);
    if (!p) {
      p = resolveAllowed(dest, this.guard);
      if (this.dns.size > 256) this.dns.clear();
      this.dns.set(dest.host, p);
    }
    p.then(
      (addrs) => {
        if (this.closed) return;
        const a = addrs[0]!;
        this.socket(a.family).send(data, dest.port, a.address);
      },
      (err: Error) => {
        this.dns.delete(dest.host);
        this.errCb?.(err);
      },
    );
  }

  onMessage(cb: (data: Buffer, from: { address: string; port: number }) => void): void {
    this.msgCb = cb;
  }
  onError(cb: (err: Error) => void): void {
    this.errCb = cb;
  }
  close(): void {
    this.closed = true;
    this.s4?.close();
    this.s6?.close();
    this.s4 = this.s6 = null;
  }
}

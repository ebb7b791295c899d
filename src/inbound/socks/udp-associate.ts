// UDP ASSOCIATE (RFC 1928 §7): a UDP relay socket for one client, alive as long as the TCP control
// connection. The client sends datagrams with a header naming the destination; we strip it, route
// the destination, and send the payload through the chosen outbound's UDP flow. Replies come back with
// a header naming their source.
//
// Who may use the relay: "The UDP relay server MUST acquire from the SOCKS server the expected IP
// address of the client that will send datagrams to the BND.PORT given in the reply to UDP
// ASSOCIATE. It MUST drop any datagrams arriving from any source IP address other than the one
// recorded for the particular association." The IP is the control connection's peer. The port is the
// DST.PORT of the request when the client gave one; otherwise the source port of the first accepted
// datagram, after which other ports are dropped too (replies need one address to go to, and this
// keeps other programs on the client's host from injecting into the association).
import { createSocket, type RemoteInfo, type Socket as UdpSocket, type SocketType } from 'node:dgram';
import { isIP, type Socket } from 'node:net';
import { asFerryError, FerryError } from '../../core/errors.js';
import type { Destination, Session } from '../../core/session.js';
import type { Outbound, UdpFlow } from '../../outbound/outbound.js';
import type { AddressGuard } from '../../router/address-guard.js';
import type { InboundContext } from '../context.js';
import { logDenied } from '../dispatch.js';
import { applyLoginParams } from '../../auth/username-params.js';
import { normalizeIp } from './address.js';
import { REP_SUCCEEDED } from './constants.js';
import { discard, recordSession, refuse } from './io.js';
import type { SocksRequest } from './request.js';
import { parseUdpDatagram, reply5, udpHeader } from './wire5.js';

/** Distinct destinations whose routing decision is remembered (cleared as a whole when full). */
const MAX_ROUTES = 1024;
/** Datagrams held per outbound while its UDP flow is being opened. */
const MAX_QUEUED = 64;

export async function runUdpAssociate(
  ctx: InboundContext,
  control: Socket,
  session: Session,
  _req: SocksRequest,
): Promise<void> {
  let release: (() => void) | null = null;
  let sock: UdpSocket;
  // "alice-session-x": the connection limit counts "alice"; pools read the parameters.
  applyLoginParams(session);
  try {
    // Bind on the address the client reached us on: it is the one address we know the client can
    // send to (RFC 1928 §7 lets the relay choose; a wildcard would answer from a different address).
    const local = normalizeIp(control.localAddress);
    const family = isIP(local);
    if (family === 0) throw new FerryError('E_INTERNAL', 'control connection has no local address');
    if (session.user !== null)
      release = ctx.tracker.acquireUser(session.user, ctx.limits().maxConnectionsPerUser);
    sock = await bindUdp(family === 6 ? 'udp6' : 'udp4', local);
  } catch (err) {
    release?.();
    const fe = asFerryError(err);
    logDenied(ctx, session, fe);
    refuse(control, 5, fe);
    return;
  }
  if (control.destroyed) {
    sock.close();
    release?.();
    return;
  }
  const a = sock.address();
  control.write(reply5(REP_SUCCEEDED, a.address, a.port));
  new UdpAssociation(ctx, control, sock, session, release).start();
}

function bindUdp(type: SocketType, address: string): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type });
    const onError = (err: Error): void => {
      s.close();
      reject(new FerryError('E_INTERNAL', `cannot bind the UDP relay on ${address}: ${err.message}`));
    };
    s.once('error', onError);
    s.bind({ address, port: 0 }, () => {
      s.removeListener('error', onError);
      resolve(s);
    });
  });
}

/** One outbound UDP flow, shared by all destinations routed to the same outbound with the same guard. */
interface FlowSlot {
  outbound: Outbound;
  guard: AddressGuard;
  flow: UdpFlow | null;
  /** Datagrams waiting for the flow to open; null once it is open or has failed. */
  queue: { data: Buffer; dest: Destination }[] | null;
}

class UdpAssociation {
  private readonly clientIp: string;
  private clientPort: number;
  private readonly routes = new Map<string, FlowSlot | null>();
  private readonly slots: FlowSlot[] = [];
  private readonly started = Date.now();
  private readonly idleMs: number;
  private last = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private reason: 'closed' | 'idle' = 'closed';
  private up = 0;
  private down = 0;
  private dropped = 0;
  // The header of the last reply source, reused while replies keep coming from the same peer.
  private headerFor = '';
  private headerPort = -1;
  private header: Buffer | null = null;

  constructor(
    private readonly ctx: InboundContext,
    private readonly control: Socket,
    private readonly sock: UdpSocket,
    private readonly session: Session,
    private readonly release: (() => void) | null,
  ) {
    this.clientIp = normalizeIp(control.remoteAddress);
    this.clientPort = session.dest.port;
    this.idleMs = ctx.timeouts().idleMs;
  }

  start(): void {
    this.sock.on('message', this.onClientDatagram);
    // After bind, errors are failed sends (e.g. EMSGSIZE); they lose one datagram, not the association.
    this.sock.on('error', this.onDropped);
    // "A UDP association terminates when the TCP connection that the UDP ASSOCIATE request arrived
    // on terminates." Bytes on it have no meaning after the reply and are dropped.
    this.control.on('data', discard);
    this.control.on('end', this.close);
    this.control.on('close', this.close);
    this.control.resume();
    if (this.idleMs > 0) this.timer = setTimeout(this.onIdleCheck, this.idleMs);
  }

  private readonly onClientDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (rinfo.address !== this.clientIp) return this.onDropped();
    if (rinfo.port !== this.clientPort) {
      if (this.clientPort !== 0) return this.onDropped();
      this.clientPort = rinfo.port;
    }
    const d = parseUdpDatagram(msg);
    if (d === null) return this.onDropped();
    this.last = Date.now();
    const slot = this.route(d.dest);
    if (slot === null) return this.onDropped();
    const data = msg.subarray(d.offset);
    this.up += data.length;
    if (slot.flow) slot.flow.send(data, d.dest);
    else if (slot.queue && slot.queue.length < MAX_QUEUED) slot.queue.push({ data, dest: d.dest });
    else this.onDropped();
  };

  private route(dest: Destination): FlowSlot | null {
    const key = `${dest.port} ${dest.host}`;
    let slot = this.routes.get(key);
    if (slot === undefined) {
      slot = this.decide(dest);
      if (this.routes.size >= MAX_ROUTES) this.routes.clear();
      this.routes.set(key, slot);
    }
    return slot;
  }

  private decide(dest: Destination): FlowSlot | null {
    const s: Session = { ...this.session, dest, command: 'udp' };
    let outbound: Outbound;
    let guard: AddressGuard;
    try {
      ({ outbound, guard } = this.ctx.router().decide(s));
      if (!outbound.openUdp)
        throw new FerryError('E_UNSUPPORTED', `outbound '${outbound.name}' cannot relay UDP`);
    } catch (err) {
      logDenied(this.ctx, s, asFerryError(err));
      return null;
    }
    for (const slot of this.slots) if (slot.outbound === outbound && slot.guard === guard) return slot;
    const slot: FlowSlot = { outbound, guard, flow: null, queue: [] };
    this.slots.push(slot);
    outbound.openUdp({ guard, session: s }).then(
      (flow) => this.flowOpened(slot, flow),
      (err: unknown) => {
        slot.queue = null;
        logDenied(this.ctx, s, asFerryError(err));
      },
    );
    return slot;
  }

  private flowOpened(slot: FlowSlot, flow: UdpFlow): void {
    if (this.closed) return flow.close();
    slot.flow = flow;
    flow.onMessage(this.onReply);
    // Per-datagram failures (a name that does not resolve, a forbidden address): the datagram is lost.
    flow.onError(this.onDropped);
    const q = slot.queue;
    slot.queue = null;
    if (q) for (const p of q) flow.send(p.data, p.dest);
  }

  private readonly onReply = (data: Buffer, from: { address: string; port: number }): void => {
    if (this.closed) return;
    this.last = Date.now();
    let h = this.header;
    if (h === null || from.port !== this.headerPort || from.address !== this.headerFor) {
      h = this.header = udpHeader(from.address, from.port);
      this.headerFor = from.address;
      this.headerPort = from.port;
    }
    this.down += data.length;
    this.sock.send([h, data], this.clientPort, this.clientIp);
  };

  private readonly onDropped = (): void => {
    this.dropped++;
  };

  private readonly onIdleCheck = (): void => {
    const idle = Date.now() - this.last;
    if (idle < this.idleMs) {
      this.timer = setTimeout(this.onIdleCheck, this.idleMs - idle);
      return;
    }
    this.timer = null;
    this.reason = 'idle';
    this.close();
  };

  private readonly close = (): void => {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.sock.close();
    for (const slot of this.slots) {
      slot.flow?.close();
      slot.queue = null;
    }
    this.control.removeListener('end', this.close);
    this.control.removeListener('close', this.close);
    this.control.destroy();
    this.release?.();
    this.ctx.log.debug(
      { inbound: this.ctx.name, session: this.session.id, dropped: this.dropped },
      'UDP association ended',
    );
    const outbounds = [...new Set(this.slots.map((s) => s.outbound.name))].join(',');
    recordSession(this.ctx, this.session, outbounds, this.started, {
      up: this.up,
      down: this.down,
      reason: this.reason,
    });
  };
}

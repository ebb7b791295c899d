// The Shadowsocks UDP relay of a server inbound: one UDP socket on the inbound's TCP port, a NAT table
// of client associations, each with an outbound UdpFlow chosen by the router.
//
// AEAD (SIP004): associations are keyed by the client's address and port; every packet stands alone.
// 2022 (SIP022 §3.2.4): keyed by client session ID; each keeps its own server session and a sliding
// window over packet IDs, and replies go to the last address a valid packet came from.
// Anything that does not authenticate is dropped without a reply: a UDP prober learns nothing.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { asFerryError } from '../../core/errors.js';
import { makeDestination, newSessionId, type Destination, type Session } from '../../core/session.js';
import type { ServerKeyTable, UserKey } from '../../crypto/ss/keys.js';
import { PacketWindow, SaltRing } from '../../crypto/ss/replay.js';
import { openAeadPacket, sealAeadPacket, Udp2022Server, Udp2022ServerSession } from '../../crypto/ss/udp.js';
import type { UdpFlow } from '../../outbound/outbound.js';
import type { InboundContext } from '../context.js';
import { beginSession, logDenied, type SessionLease } from '../dispatch.js';

const MAX_ASSOCIATIONS = 4096;
const SWEEP_MS = 15_000;
/** NAT timeout: a quiet association is dropped after this (or the idle timeout, if shorter). */
const NAT_TIMEOUT_MS = 120_000;

interface Association {
  key: string;
  user: UserKey;
  flow: Promise<UdpFlow | null>;
  session: Session;
  /** Where replies go: the client's last address (2022) or its fixed address (AEAD). */
  address: string;
  port: number;
  lastSeen: number;
  /** Destinations the router has allowed for this association. */
  allowed: Set<string>;
  window: PacketWindow | null;
  reply2022: Udp2022ServerSession | null;
  /** Admission, per-user slot and meter, like a TCP session; ends when the association is dropped. */
  lease: SessionLease;
  up: number;
  down: number;
}

export class SsUdpRelay {
  private socket: UdpSocket | null = null;
  private readonly nat = new Map<string, Association>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly aeadSalts = new SaltRing(50_000);
  private server2022: { table: ServerKeyTable; codec: Udp2022Server } | null = null;

  constructor(
    private readonly ctx: InboundContext,
    private readonly table: () => ServerKeyTable,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  bind(host: string, port: number): Promise<{ address: string; port: number }> {
    const s = createSocket({ type: isIP(host) === 6 || host === '::' ? 'udp6' : 'udp4', reuseAddr: false });
    this.socket = s;
    s.on('message', (msg, rinfo) => this.onPacket(msg, rinfo));
    s.on('error', (err) =>
      this.ctx.log.warn({ inbound: this.ctx.name, err: err.message }, 'shadowsocks UDP socket error'),
    );
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: host, port }, () => {
        s.removeListener('error', reject);
        resolve(s.address());
      });
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const a of [...this.nat.values()]) this.drop(a, 'closed');
    try {
      this.socket?.close();
    } catch {
      /* already closed */
    }
    this.socket = null;
  }

  get associations(): number {
    return this.nat.size;
  }

  private onPacket(msg: Buffer, rinfo: RemoteInfo): void {
    try {
      const table = this.table();
      if (table.method.edition === 'aead') this.onAead(table, msg, rinfo);
      else this.on2022(table, msg, rinfo);
    } catch {
      // A malformed address or the like: dropped like any other bad packet.
    }
  }

  private onAead(table: ServerKeyTable, msg: Buffer, rinfo: RemoteInfo): void {
    const natKey = `${rinfo.address}|${rinfo.port}`;
    const known = this.nat.get(natKey);
    // Try the association's key first: with many users this avoids a trial per user per packet.
    const keys = known ? [known.user, ...table.aeadKeys.filter((k) => k !== known.user)] : table.aeadKeys;
    const m = openAeadPacket(table.method, keys, msg);
    if (!m) return;
    if (!this.aeadSalts.checkAndAdd(m.salt)) return;
    let a = known;
    if (!a || a.user !== m.key) {
      if (a) this.drop(a, 'closed');
      a = this.associate(natKey, m.key, rinfo, m.dest, null, null) ?? undefined;
      if (!a) return;
    }
    this.forward(a, m.dest, m.payload);
  }

  private on2022(table: ServerKeyTable, msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.server2022 || this.server2022.table !== table)
      this.server2022 = { table, codec: new Udp2022Server(table, this.now) };
    const r = this.server2022.codec.open(msg);
    if (!r) return;
    const natKey = r.sessionId.toString('hex');
    let a = this.nat.get(natKey);
    if (a && a.user.key !== r.user.key) return; // a session ID is bound to the key that opened it
    if (!a) {
      a =
        this.associate(
          natKey,
          r.user,
          rinfo,
          r.dest,
          new PacketWindow(),
          new Udp2022ServerSession(table.method, r.user.key, r.sessionId, this.now),
        ) ?? undefined;
      if (!a) return;
    }
    if (!a.window!.check(r.packetId)) return;
    a.address = rinfo.address;
    a.port = rinfo.port;
    this.forward(a, r.dest, r.payload);
  }

  private associate(
    key: string,
    user: UserKey,
    rinfo: RemoteInfo,
    dest: Destination,
    window: PacketWindow | null,
    reply2022: Udp2022ServerSession | null,
  ): Association | null {
    if (this.nat.size >= MAX_ASSOCIATIONS) this.sweep(true);
    if (this.nat.size >= MAX_ASSOCIATIONS) return null;
    const session: Session = {
      id: newSessionId(),
      inbound: this.ctx.name,
      user: user.user,
      source: { address: rinfo.address, port: rinfo.port },
      dest,
      command: 'udp',
    };
    let decision;
    try {
      decision = this.ctx.router().decide(session);
    } catch (e) {
      logDenied(this.ctx, session, asFerryError(e));
      return null;
    }
    let lease: SessionLease;
    try {
      lease = beginSession(this.ctx, session, decision);
    } catch (e) {
      logDenied(this.ctx, session, asFerryError(e));
      return null;
    }
    const outbound = decision.outbound;
    const a: Association = {
      lease,
      up: 0,
      down: 0,
      key,
      user,
      session,
      address: rinfo.address,
      port: rinfo.port,
      lastSeen: this.now(),
      allowed: new Set([`${dest.host}|${dest.port}`]),
      window,
      reply2022,
      flow: outbound.openUdp
        ? outbound.openUdp({ guard: decision.guard, session }).then(
            (f) => {
              f.onMessage((data, from) => this.reply(a, data, from));
              f.onError((err) =>
                this.ctx.log.debug(
                  { inbound: this.ctx.name, code: asFerryError(err).code },
                  'shadowsocks UDP send failed',
                ),
              );
              return f;
            },
            (err: unknown) => {
              logDenied(this.ctx, session, asFerryError(err));
              return null;
            },
          )
        : Promise.resolve(null),
    };
    this.nat.set(key, a);
    return a;
  }

  private forward(a: Association, dest: Destination, payload: Buffer): void {
    if (a.lease.meter.signal?.aborted) return void this.drop(a, 'aborted');
    a.lastSeen = this.now();
    const dk = `${dest.host}|${dest.port}`;
    if (!a.allowed.has(dk)) {
      // Each new destination of an association goes through the router, like a new TCP session.
      try {
        this.ctx.router().decide({ ...a.session, dest });
      } catch (e) {
        logDenied(this.ctx, { ...a.session, dest }, asFerryError(e));
        return;
      }
      if (a.allowed.size > 256) a.allowed.clear();
      a.allowed.add(dk);
    }
    a.up += payload.length;
    a.lease.meter.up(payload.length);
    void a.flow.then((f) => f?.send(payload, dest));
  }

  private reply(a: Association, data: Buffer, from: { address: string; port: number }): void {
    const s = this.socket;
    if (!s || this.nat.get(a.key) !== a) return;
    a.lastSeen = this.now();
    a.down += data.length;
    a.lease.meter.down(data.length);
    const src = makeDestination(from.address, from.port);
    const table = this.table();
    const pkt = a.reply2022
      ? a.reply2022.seal(src, data)
      : sealAeadPacket(table.method, a.user.key, src, data);
    s.send(pkt, a.port, a.address);
  }

  private drop(a: Association, reason: 'idle' | 'closed' | 'aborted' = 'idle'): void {
    this.nat.delete(a.key);
    a.lease.done({ up: a.up, down: a.down, reason });
    void a.flow.then((f) => f?.close());
  }

  private sweep(force = false): void {
    const limit = Math.min(NAT_TIMEOUT_MS, this.ctx.timeouts().idleMs);
    const cutoff = this.now() - (force ? limit / 4 : limit);
    for (const a of this.nat.values()) if (a.lastSeen < cutoff) this.drop(a);
  }
}

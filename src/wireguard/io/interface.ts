// One WireGuard interface: the sans-IO Device wired to a TUN device and a UDP bind.
//
//   TUN --packets--> device.sendPacket()      device.out.sendUdp() --> UDP
//   UDP --datagram-> device.receiveDatagram() device.out.writeTun() --> TUN (batched per loop turn)
//
// Time: the Device never sets timers; it tells us its next deadline and we keep exactly one Node
// timer armed for it. After each burst of I/O (once per event-loop turn, not per packet) we ask again
// and re-arm only when the deadline moved earlier; a timer that fires early just calls tick(), which
// does nothing that is not due, and re-arms.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Device, type Endpoint } from '../device.js';
import { TunDevice, type LinkState, type TunOptions } from '../../tun/tun-device.js';
import { DgramBind, type Bind } from './udp-bind.js';
import { NativeBind } from './native-bind.js';
import { type UapiDeviceState, type UapiPeerChange, type UapiTarget } from '../uapi/protocol.js';

/**
 * CSPRNG bytes served from a 4 KiB pool. The device asks for two bytes of timer jitter on many data
 * packets (every first packet after an authenticated receive), and a randomBytes() call per packet
 * costs more than the pool's amortised refill. Slices are never handed out twice: an exhausted pool
 * is replaced, not overwritten, so a caller that keeps a slice keeps its bytes.
 */
function pooledRandom(): (n: number) => Uint8Array {
  const POOL = 4096;
  let pool = randomBytes(POOL);
  let off = 0;
  return (n) => {
    if (n > POOL / 16) return randomBytes(n);
    if (off + n > POOL) {
      pool = randomBytes(POOL);
      off = 0;
    }
    const out = pool.subarray(off, off + n);
    off += n;
    return out;
  };
}

export type LogFn = (level: 'error' | 'info' | 'verbose', msg: string) => void;

export interface InterfaceOptions {
  /** Interface name (IFNAMSIZ: at most 15 bytes). */
  name: string;
  tun?: TunOptions;
  /** Initial listen port; 0 picks one. */
  listenPort?: number;
  log?: LogFn;
}

export interface InterfaceStats {
  device: Device['stats'];
  tun: TunDevice['stats'];
  udp: Bind['stats'];
  timerWakeups: number;
}

export class WgInterface {
  readonly device: Device;
  readonly tun: TunDevice;
  readonly bind: Bind;
  private readonly log: LogFn;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private rescheduleQueued = false;
  private closed = false;
  private timerWakeups = 0;
  private closeHandlers: ((reason: string) => void)[] = [];
  /**
   * The clock handed to the Device; nextDeadline() is in the same unit (milliseconds).
   * FERRY_WG_CLOCK_SCALE (tests only) runs the protocol's timers faster than real time, so an
   * interop test can see a rekey (REKEY_AFTER_TIME, 120 s) against a real peer in seconds.
   */
  private readonly now = clockFromEnv();

  private constructor(tun: TunDevice, log: LogFn) {
    this.tun = tun;
    this.log = log;
    const onDatagram = (data: Uint8Array, from: Endpoint): void => this.device.receiveDatagram(data, from);
    this.bind =
      process.env.FERRY_WG_BIND === 'dgram' ? new DgramBind(onDatagram) : new NativeBind(onDatagram);
    this.bind.warn = (m) => log('error', m);
    // After a batch of datagrams: hand the decrypted packets to the TUN and any replies to the
    // socket now, rather than at the end of the loop turn - it keeps round trips short.
    this.bind.onBatchEnd = () => {
      this.tun.flush();
      this.bind.flush();
      this.afterIo();
    };
    this.device = new Device({
      out: {
        sendUdp: (data, to) => this.bind.send(data, to),
        writeTun: (packet) => this.tun.write(packet),
      },
      now: this.now,
      wallNow: () => Date.now(),
      random: pooledRandom(),
      // Handshake messages are queued and processed once per loop turn (see reschedule), so a flood
      // read in one burst shows up as queue depth - the core's "under load" signal for cookies
      // (whitepaper §5.3). The queue is drained every turn, so it never gets deep the way
      // wireguard-go's does between goroutines: 256 puts the threshold at 32 handshake messages
      // pending in one turn, far above what honest peers produce and well inside one recvmmsg batch.
      deferHandshakes: true,
      handshakeQueueCapacity: 256,
    });
  }

  static async create(opts: InterfaceOptions): Promise<WgInterface> {
    const log = opts.log ?? (() => {});
    const tun = TunDevice.open(opts.name, opts.tun);
    const iface = new WgInterface(tun, log);
    try {
      await iface.setListenPort(opts.listenPort ?? 0);
    } catch (e) {
      tun.close();
      throw e;
    }
    tun.onPackets((packets) => iface.onTunPackets(packets));
    tun.onClose((reason) => {
      log('info', `interface ${tun.name} is gone (${reason})`);
      iface.close(reason);
    });
    // The device is up exactly while the link is (as wireguard-go does): no handshakes or keepalives
    // from an interface the administrator took down, and padding follows the MTU.
    iface.linkWatched = tun.watchLink((st) => iface.onLink(st));
    iface.reschedule();
    return iface;
  }

  get name(): string {
    return this.tun.name;
  }

  /** False when rtnetlink was unavailable and link changes must be polled (checkLink()). */
  linkWatched = false;

  /** Polls the link state; only needed when linkWatched is false. */
  checkLink(): void {
    this.tun.checkLink();
  }

  private onLink(st: LinkState | null): void {
    if (this.closed) return;
    if (st === null) {
      this.log('info', `interface ${this.tun.name} was deleted`);
      this.close('interface deleted');
      return;
    }
    this.device.mtu = st.mtu;
    if (st.up) this.device.up();
    else this.device.down();
    this.log('verbose', `link ${st.up ? 'up' : 'down'}, mtu ${st.mtu}`);
    this.reschedule();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called once when the interface stops (deleted interface, or close()). */
  onClose(cb: (reason: string) => void): void {
    this.closeHandlers.push(cb);
  }

  get stats(): InterfaceStats {
    return {
      device: this.device.stats,
      tun: this.tun.stats,
      udp: this.bind.stats,
      timerWakeups: this.timerWakeups,
    };
  }

  // ---- hot path -------------------------------------------------------------------------------

  private onTunPackets(packets: Uint8Array[]): void {
    const d = this.device;
    for (let i = 0; i < packets.length; i++) d.sendPacket(packets[i]!);
    this.bind.flush();
    this.afterIo();
  }

  private afterIo(): void {
    if (this.rescheduleQueued) return;
    this.rescheduleQueued = true;
    setImmediate(this.rescheduleBound);
  }

  // ---- timer --------------------------------------------------------------------------------------

  private readonly rescheduleBound = (): void => {
    this.rescheduleQueued = false;
    this.reschedule();
  };

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.timerWakeups++;
    if (this.closed) return;
    this.device.tick();
    this.reschedule();
  };

  private reschedule(): void {
    if (this.closed) return;
    let due = this.device.nextDeadline();
    // Work that is already due (queued handshakes, expired timers) runs now rather than after a
    // zero-delay timer, which Node rounds up to 1 ms.
    if (due !== null && due <= this.now()) {
      this.device.tick();
      due = this.device.nextDeadline();
      if (due !== null && due <= this.now()) {
        // Still due (e.g. a handshake queue larger than one batch): yield to I/O, then continue.
        this.afterIo();
        return;
      }
    }
    if (due === null) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer && this.timerAt <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = due;
    // +1: Node timers have millisecond resolution and may fire a fraction early; waking a hair late
    // is harmless, waking early costs a spurious round trip.
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(due - this.now()) + 1));
  }

  // ---- configuration ----------------------------------------------------------------------------

  async setListenPort(port: number): Promise<void> {
    await this.bind.bind(port);
    this.device.listenPort = this.bind.listenPort;
    this.log('verbose', `listening on UDP port ${this.bind.listenPort}`);
  }

  setFwmark(mark: number): void {
    this.bind.setFwmark(mark);
    this.device.fwmark = mark;
  }

  /** The UAPI view of this interface (see src/wireguard/uapi/protocol.ts). */
  uapiTarget(): UapiTarget {
    const d = this.device;
    const afterChange = (): void => this.reschedule();
    return {
      publicKey: () => d.publicKey,
      setPrivateKey: (key) => {
        d.setPrivateKey(key);
        afterChange();
      },
      setListenPort: (port) => this.setListenPort(port),
      setFwmark: (mark) => this.setFwmark(mark),
      removeAllPeers: () => d.removeAllPeers(),
      // sessionState() is a map lookup; peerStatus() would build every peer's status, which makes a
      // `wg setconf` with many peers quadratic.
      hasPeer: (pk) => d.sessionState(pk) !== null,
      createPeer: (pk) => d.upsertPeer({ publicKey: pk }),
      removePeer: (pk) => d.removePeer(pk),
      // upsertPeer leaves fields it is not given unchanged, and sends the first keepalive itself when
      // persistent keepalive goes from off to on (wireguard-go's pkaOn behaviour).
      updatePeer: (pk, change: UapiPeerChange) => d.upsertPeer({ publicKey: pk, ...change }),
      clearAllowedIps: (pk) => d.setAllowedIps(pk, []),
      addAllowedIp: (pk, cidr) => d.addAllowedIp(pk, cidr),
      peerConfigured: () => afterChange(),
    };
  }

  uapiState(): UapiDeviceState {
    return {
      privateKey: this.device.privateKey,
      listenPort: this.bind.listenPort,
      fwmark: this.bind.fwmark,
      peers: this.device.peerStatus(),
    };
  }

  /** Stops the device, closes the sockets and the TUN fd (the kernel then removes the interface). */
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.device.down();
    } catch (e) {
      this.log('error', `device.down(): ${(e as Error).message}`);
    }
    this.bind.close();
    this.tun.close();
    for (const cb of this.closeHandlers) cb(reason);
  }
}

function clockFromEnv(): () => number {
  const scale = Number(process.env.FERRY_WG_CLOCK_SCALE ?? '1');
  if (!Number.isFinite(scale) || scale <= 0 || scale === 1) return () => performance.now();
  return () => performance.now() * scale;
}

// A Linux TUN interface (Documentation/networking/tuntap.rst) driven from the event loop.
//
// Reading: the addon's uv_poll watcher wakes us once per readiness event and we drain up to
// `batchSize` packets with a single readBatch() call into one preallocated buffer. The packets are
// handed to the consumer as views into that buffer, valid only during the callback (the consumer
// encrypts them into fresh datagrams before returning, so nothing needs copying).
//
// Writing: write() copies a packet into a staging buffer; the owner calls flush() after each batch of
// decrypted datagrams, and a setImmediate flushes whatever is left at the end of the loop turn, so a
// burst of N decrypted datagrams costs one call into C instead of N.
//
// With offload (the default) the fd carries virtio_net_hdr and the addon turns the kernel's TCP
// super-segments back into ordinary packets; nothing above this file sees the difference.
import { native, ERRNO, type NativeTun } from './native.js';

export interface TunOptions {
  /** IFF_MULTI_QUEUE: lets several fds share the interface (for future multi-process scaling). */
  multiQueue?: boolean;
  /** Packets read per readiness event. */
  batchSize?: number;
  /** Bytes reserved per packet slot; must exceed the largest MTU the interface may be given. */
  slotSize?: number;
  /**
   * TCP segmentation offload (IFF_VNET_HDR + TUNSETOFFLOAD): the kernel hands over TCP segments of up
   * to 64 KiB and the addon cuts them to MSS size. Default on (FERRY_WG_TUN_OFFLOAD=0 turns it off);
   * falls back silently where the kernel refuses.
   */
  offload?: boolean;
}

export interface TunStats {
  rxPackets: number;
  rxBatches: number;
  txPackets: number;
  txBatches: number;
  txDropped: number;
}

export type PacketsHandler = (packets: Uint8Array[]) => void;

export interface LinkState {
  /** IFF_UP: the administrator set the link up (`ip link set up`). */
  up: boolean;
  mtu: number;
}

const IFF_UP = 0x1;

const WRITE_BUFFER = 4 << 20;
const WRITE_SLOTS = 2048;

export class TunDevice {
  readonly name: string;
  readonly fd: number;
  readonly stats: TunStats = { rxPackets: 0, rxBatches: 0, txPackets: 0, txBatches: 0, txDropped: 0 };

  private readonly n: NativeTun;
  private readonly slot: number;
  private readonly rbuf: Uint8Array;
  private readonly rlens: Int32Array;
  private readonly views: Uint8Array[];
  /** Offload mode: packets back to back in rbuf, at roffs[i]. */
  readonly offload: boolean;
  private readonly roffs: Int32Array;
  private watcher: unknown = null;
  private onPacketsCb: PacketsHandler | null = null;
  private onCloseCb: ((reason: string) => void) | null = null;
  private closed = false;
  private nlFd = -1;
  private nlWatcher: unknown = null;
  private lastLink: LinkState | null = null;
  private onLinkCb: ((state: LinkState | null) => void) | null = null;

  private readonly wbuf = new Uint8Array(WRITE_BUFFER);
  private readonly wlens = new Int32Array(WRITE_SLOTS);
  private wcount = 0;
  private wused = 0;
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();

  private constructor(n: NativeTun, fd: number, name: string, offload: boolean, opts: TunOptions) {
    this.n = n;
    this.fd = fd;
    this.name = name;
    this.offload = offload;
    this.slot = opts.slotSize ?? 65536;
    const batch = opts.batchSize ?? 64;
    // Offload mode: the addon reserves room for a worst-case super-segment (160 KiB, 768 entries)
    // before each read, so these sizes allow about 16 reads per wake-up.
    this.rbuf = new Uint8Array(offload ? 16 * 160 * 1024 : this.slot * batch);
    this.rlens = new Int32Array(offload ? 2048 : batch);
    this.roffs = new Int32Array(offload ? 2048 : 0);
    // Views over each slot, created once; per batch we only narrow them with subarray(). (Offload
    // mode has no fixed slots: the addon packs segments back to back.)
    this.views = offload
      ? []
      : Array.from({ length: batch }, (_, i) => this.rbuf.subarray(i * this.slot, (i + 1) * this.slot));
  }

  /** Creates (or attaches to) the interface. `name` may contain `%d` for the kernel to pick a number. */
  static open(name: string, opts: TunOptions = {}): TunDevice {
    if (name.length === 0 || name.length > 15 || /[\s/]/.test(name)) {
      throw new Error(
        `invalid interface name '${name}': 1 to 15 characters, no '/' or whitespace (IFNAMSIZ)`,
      );
    }
    const n = native();
    const want = opts.offload ?? process.env.FERRY_WG_TUN_OFFLOAD !== '0';
    const { fd, name: actual, offload } = n.open(name, opts.multiQueue ?? false, want);
    return new TunDevice(n, fd, actual, offload, opts);
  }

  mtu(): number {
    return this.n.mtu(this.name);
  }

  /** The current flags and MTU, or null when the interface no longer exists. */
  linkState(): LinkState | null {
    try {
      const s = this.n.linkState(this.name);
      return { up: (s.flags & IFF_UP) !== 0, mtu: s.mtu };
    } catch (e) {
      if ((e as { errno?: number }).errno === -ERRNO.ENODEV) return null;
      throw e;
    }
  }

  /**
   * Calls `cb` now and whenever the link goes up or down, changes MTU (state) or disappears (null),
   * driven by rtnetlink link notifications. Returns false if netlink is unavailable, in which case
   * the caller should poll linkState().
   */
  watchLink(cb: (state: LinkState | null) => void): boolean {
    this.onLinkCb = cb;
    try {
      this.nlFd = this.n.netlinkOpen();
      this.nlWatcher = this.n.watch(this.nlFd, () => {
        this.n.netlinkDrain(this.nlFd);
        this.checkLink();
      });
    } catch {
      this.nlFd = -1;
    }
    this.checkLink();
    return this.nlFd >= 0;
  }

  /** Re-reads the link state and reports a change. */
  checkLink(): void {
    if (this.closed || !this.onLinkCb) return;
    const st = this.linkState();
    const last = this.lastLink;
    if (st && last && st.up === last.up && st.mtu === last.mtu) return;
    this.lastLink = st;
    this.onLinkCb(st);
  }

  /** Starts delivering packets read from the interface. */
  onPackets(cb: PacketsHandler): void {
    this.onPacketsCb = cb;
    if (this.watcher || this.closed) return;
    this.watcher = this.n.watch(this.fd, (status) => this.readable(status));
  }

  /** Called once when the device stops for a reason other than close(): the interface was deleted. */
  onClose(cb: (reason: string) => void): void {
    this.onCloseCb = cb;
  }

  private readable(status: number): void {
    if (this.closed) return;
    if (status < 0) {
      this.fail(`poll error ${status}`);
      return;
    }
    const count = this.offload
      ? this.n.readBatchV(this.fd, this.rbuf, this.roffs, this.rlens)
      : this.n.readBatch(this.fd, this.rbuf, this.slot, this.rlens);
    if (count < 0) {
      // EBADFD: the interface was deleted under us (tun_get() finds no tun_struct).
      if (count === -ERRNO.EAGAIN) return;
      this.fail(`read failed with errno ${-count}`);
      return;
    }
    if (count === 0) return;
    this.stats.rxBatches++;
    this.stats.rxPackets += count;
    const out: Uint8Array[] = new Array<Uint8Array>(count);
    if (this.offload) {
      for (let i = 0; i < count; i++)
        out[i] = this.rbuf.subarray(this.roffs[i]!, this.roffs[i]! + this.rlens[i]!);
    } else {
      for (let i = 0; i < count; i++) out[i] = this.views[i]!.subarray(0, this.rlens[i]!);
    }
    this.onPacketsCb?.(out);
  }

  /** Queues one IP packet for the interface; the bytes are copied, the caller may reuse its buffer. */
  write(packet: Uint8Array): void {
    if (this.closed) return;
    const len = packet.length;
    if (len === 0 || len > this.wbuf.length) {
      this.stats.txDropped++;
      return;
    }
    if (this.wcount === WRITE_SLOTS || this.wused + len > this.wbuf.length) this.flush();
    this.wbuf.set(packet, this.wused);
    this.wlens[this.wcount++] = len;
    this.wused += len;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Writes every queued packet now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.wcount === 0 || this.closed) return;
    const count = this.wcount;
    const r = this.offload
      ? this.n.writeBatchV(this.fd, this.wbuf, this.wlens, count)
      : this.n.writeBatch(this.fd, this.wbuf, this.wlens, count);
    this.wcount = 0;
    this.wused = 0;
    this.stats.txBatches++;
    if (r < 0) {
      this.stats.txDropped += count;
      if (r === -ERRNO.EBADFD || r === -ERRNO.EBADF) this.fail(`write failed with errno ${-r}`);
      return;
    }
    this.stats.txPackets += r;
    this.stats.txDropped += count - r;
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.onCloseCb?.(reason);
  }

  /** Stops reading and closes the fd; a non-persistent TUN interface disappears with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.watcher) {
      this.n.unwatch(this.watcher);
      this.watcher = null;
    }
    if (this.nlWatcher) {
      this.n.unwatch(this.nlWatcher);
      this.nlWatcher = null;
    }
    if (this.nlFd >= 0) this.n.close(this.nlFd);
    this.nlFd = -1;
    this.n.close(this.fd);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

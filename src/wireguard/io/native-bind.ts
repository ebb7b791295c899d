// The fast UDP bind: our own non-blocking sockets driven by recvmmsg/sendmmsg in the native addon.
//
// Receive: one readiness callback drains up to BATCH datagrams with a single recvmmsg into one
// preallocated buffer; each is handed to the device as a view (the device decrypts into its own
// scratch space before returning, so nothing is copied), then onBatchEnd lets the interface flush.
//
// Send: send() copies the datagram and its destination into a staging area; flush() hands the whole
// batch to sendmmsg. The interface flushes after every TUN batch and every UDP batch, and a
// setImmediate catches sends from timers, so a datagram waits at most until the end of the current
// event-loop turn.
//
// Same contract as the dgram bind (udp-bind.ts): an IPv4 and an IPv6 socket (IPV6_V6ONLY) on one port.
import { native, ADDR_REC, ERRNO, GSO_FAILED, type NativeTun } from '../../tun/native.js';
import { formatIPv6, parseIPv4, parseIPv6 } from '../uapi/protocol.js';
import type { Endpoint } from '../device.js';
import type { Bind, BindStats, DatagramHandler } from './udp-bind.js';

const BATCH = 128;
/** Largest datagram we accept; a transport message is the inner MTU + 32 bytes. */
const SLOT = 65536;
const SEND_BYTES = 1 << 20;

class Stager {
  readonly buf = new Uint8Array(SEND_BYTES);
  readonly lens = new Int32Array(BATCH * 4);
  readonly addrs = new Uint8Array(BATCH * 4 * ADDR_REC);
  count = 0;
  used = 0;
}

class Socket {
  readonly recvBuf = new Uint8Array(SLOT * BATCH);
  readonly recvLens = new Int32Array(BATCH);
  readonly recvAddrs = new Uint8Array(BATCH * ADDR_REC);
  readonly recvSegs = new Int32Array(BATCH);
  readonly views: Uint8Array[];
  readonly out = new Stager();
  watcher: unknown = null;
  // The last source seen, so that a burst from one peer reuses one Endpoint object instead of
  // formatting an address string per datagram.
  lastRec = new Uint8Array(ADDR_REC);
  lastEp: Endpoint | null = null;
  constructor(
    readonly fd: number,
    readonly family: 4 | 6,
  ) {
    this.views = Array.from({ length: BATCH }, (_, i) => this.recvBuf.subarray(i * SLOT, (i + 1) * SLOT));
  }
}

function recordEquals(a: Uint8Array, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < ADDR_REC; i++) if (a[i] !== b[bOff + i]) return false;
  return true;
}

function endpointOf(rec: Uint8Array, off: number): Endpoint {
  const port = (rec[off + 2]! << 8) | rec[off + 3]!;
  if (rec[off] === 4)
    return { address: `${rec[off + 4]}.${rec[off + 5]}.${rec[off + 6]}.${rec[off + 7]}`, port };
  return { address: formatIPv6(rec.subarray(off + 4, off + 20)), port };
}

/** The 20-byte record for an endpoint, or null if the address is not a literal we can send to. */
function recordOf(ep: Endpoint): Uint8Array | null {
  const rec = new Uint8Array(ADDR_REC);
  const v4 = parseIPv4(ep.address);
  if (v4) {
    rec[0] = 4;
    rec.set(v4, 4);
  } else {
    const v6 = parseIPv6(ep.address);
    if (!v6) return null; // includes zoned (link-local) addresses: not supported by this bind
    rec[0] = 6;
    rec.set(v6, 4);
  }
  rec[2] = ep.port >> 8;
  rec[3] = ep.port & 0xff;
  return rec;
}

export class NativeBind implements Bind {
  private readonly n: NativeTun;
  private v4: Socket | null = null;
  private v6: Socket | null = null;
  private port = 0;
  private mark = 0;
  private flushQueued = false;
  /** UDP_SEGMENT on send; switched off for good if the kernel or the route refuses it. */
  private gso = process.env.FERRY_WG_GSO !== '0';
  private gro = process.env.FERRY_WG_GSO !== '0';
  /** Endpoint objects are long-lived (one per peer, replaced on roaming): cache their records. */
  private records = new WeakMap<Endpoint, Uint8Array | null>();
  readonly stats: BindStats = { rxDatagrams: 0, txDatagrams: 0, txErrors: 0, rxBatches: 0, txBatches: 0 };
  warn: (msg: string) => void = () => {};
  onBatchEnd: () => void = () => {};
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly onDatagram: DatagramHandler) {
    this.n = native();
  }

  get listenPort(): number {
    return this.port;
  }

  get fwmark(): number {
    return this.mark;
  }

  async bind(port: number): Promise<number> {
    // The new sockets are opened before the old ones close, so a port that cannot be had leaves the
    // interface listening where it was (wireguard-go closes first and is left without a socket).
    if (port !== 0 && port === this.port) return port;
    let lastErr: unknown;
    for (let attempt = 0; attempt < (port === 0 ? 100 : 1); attempt++) {
      let fd4 = -1;
      try {
        fd4 = this.n.udpOpen(4, port);
        const actual = this.n.udpLocalPort(fd4);
        let fd6 = -1;
        try {
          fd6 = this.n.udpOpen(6, actual);
        } catch (e) {
          const errno = -((e as { errno?: number }).errno ?? 0);
          if (errno === ERRNO.EADDRINUSE) throw e;
          if (errno !== ERRNO.EAFNOSUPPORT && errno !== ERRNO.EADDRNOTAVAIL) throw e;
          this.warn('IPv6 UDP unavailable; listening on IPv4 only');
        }
        this.close();
        this.v4 = this.start(fd4, 4);
        this.v6 = fd6 >= 0 ? this.start(fd6, 6) : null;
        this.port = actual;
        if (this.mark) this.applyMark();
        return actual;
      } catch (e) {
        lastErr = e;
        if (fd4 >= 0) this.n.close(fd4);
        if ((e as { errno?: number }).errno !== -ERRNO.EADDRINUSE) break;
      }
    }
    const err = lastErr as Error & { errno?: number; code?: string };
    if (err.errno === -ERRNO.EADDRINUSE) err.code = 'EADDRINUSE';
    throw err;
  }

  private start(fd: number, family: 4 | 6): Socket {
    // Best effort: a kernel without UDP_GRO simply delivers datagrams one by one.
    if (this.gro) this.n.udpEnableGro(fd);
    const s = new Socket(fd, family);
    s.watcher = this.n.watch(fd, (status) => this.readable(s, status));
    return s;
  }

  private readable(s: Socket, status: number): void {
    if (status < 0 || s.watcher === null) return;
    const count = this.n.udpRecvBatch(s.fd, s.recvBuf, SLOT, s.recvLens, s.recvAddrs, s.recvSegs);
    if (count <= 0) return; // EAGAIN, or an ICMP-induced error reported on the socket: nothing to do
    this.stats.rxBatches++;
    for (let i = 0; i < count; i++) {
      const len = s.recvLens[i]!;
      if (len < 0) continue; // truncated: larger than any WireGuard message
      const off = i * ADDR_REC;
      let ep = s.lastEp;
      if (ep === null || !recordEquals(s.lastRec, s.recvAddrs, off)) {
        ep = endpointOf(s.recvAddrs, off);
        s.lastRec.set(s.recvAddrs.subarray(off, off + ADDR_REC));
        s.lastEp = ep;
      }
      const view = s.views[i]!;
      const seg = s.recvSegs[i]!;
      if (seg <= 0 || seg >= len) {
        this.stats.rxDatagrams++;
        this.onDatagram(view.subarray(0, len), ep);
        continue;
      }
      // A GRO train: consecutive datagrams of `seg` bytes from one source, the last maybe shorter.
      for (let at = 0; at < len; at += seg) {
        this.stats.rxDatagrams++;
        this.onDatagram(view.subarray(at, Math.min(at + seg, len)), ep);
      }
    }
    this.onBatchEnd();
  }

  setFwmark(mark: number): void {
    this.mark = mark;
    this.applyMark();
  }

  private applyMark(): void {
    for (const s of [this.v4, this.v6]) {
      if (!s) continue;
      const r = this.n.setMark(s.fd, this.mark);
      if (r < 0) throw Object.assign(new Error(`setsockopt(SO_MARK) failed with errno ${-r}`), { errno: r });
    }
  }

  send(data: Uint8Array, to: Endpoint): void {
    let rec = this.records.get(to);
    if (rec === undefined) {
      rec = recordOf(to);
      this.records.set(to, rec);
    }
    const s = rec === null ? null : rec[0] === 4 ? this.v4 : this.v6;
    if (s === null || rec === null || data.length > SEND_BYTES) {
      this.stats.txErrors++;
      return;
    }
    const st = s.out;
    if (st.count === st.lens.length || st.used + data.length > st.buf.length) this.flushSocket(s);
    st.buf.set(data, st.used);
    st.addrs.set(rec, st.count * ADDR_REC);
    st.lens[st.count++] = data.length;
    st.used += data.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flushBound);
    }
  }

  flush(): void {
    this.flushQueued = false;
    if (this.v4) this.flushSocket(this.v4);
    if (this.v6) this.flushSocket(this.v6);
  }

  private flushSocket(s: Socket): void {
    const st = s.out;
    if (st.count === 0) return;
    let sent = this.n.udpSendBatch(s.fd, st.buf, st.lens, st.addrs, st.count, this.gso);
    if (sent & GSO_FAILED) {
      sent &= ~GSO_FAILED;
      this.gso = false;
      this.warn('UDP GSO refused by the kernel; sending datagrams one by one');
    }
    this.stats.txBatches++;
    this.stats.txDatagrams += Math.max(0, sent);
    this.stats.txErrors += st.count - Math.max(0, sent);
    st.count = 0;
    st.used = 0;
  }

  close(): void {
    for (const s of [this.v4, this.v6]) {
      if (!s) continue;
      if (s.watcher) this.n.unwatch(s.watcher);
      s.watcher = null;
      this.n.close(s.fd);
    }
    this.v4 = this.v6 = null;
    this.port = 0;
  }
}

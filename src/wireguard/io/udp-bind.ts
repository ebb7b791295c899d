// The UDP side of an interface: one IPv4 and one IPv6 socket on the same port, as wireguard-go's
// conn.StdNetBind does. Two implementations share the Bind contract: NativeBind (native-bind.ts,
// recvmmsg/sendmmsg through the addon, the default) and DgramBind here (node:dgram only, selected with
// FERRY_WG_BIND=dgram, or used when the addon cannot be loaded). Two sockets with IPV6_V6ONLY rather than one dual-stack socket, so that IPv4
// peers are seen as plain IPv4 addresses (no ::ffff:a.b.c.d to normalise) and so that a host without
// IPv6 still works.
//
// fwmark (SO_MARK, socket(7)) is not exposed by node:dgram; it is set through the native addon on the
// socket's file descriptor. If the addon cannot reach the fd, the mark is stored and reported but not
// applied, and a warning says so.
import dgram from 'node:dgram';
import type { Endpoint } from '../device.js';
import { native } from '../../tun/native.js';

export type DatagramHandler = (data: Uint8Array, from: Endpoint) => void;

export interface BindStats {
  rxDatagrams: number;
  txDatagrams: number;
  txErrors: number;
  rxBatches: number;
  txBatches: number;
}

export interface Bind {
  readonly listenPort: number;
  readonly fwmark: number;
  readonly stats: BindStats;
  warn: (msg: string) => void;
  /** Called after each batch of received datagrams (where the bind reads in batches). */
  onBatchEnd: () => void;
  /** (Re)binds both sockets to `port`, 0 = any; resolves with the port bound. */
  bind(port: number): Promise<number>;
  setFwmark(mark: number): void;
  /** Queues or sends one datagram; `data` is copied, the caller may reuse it on return. */
  send(data: Uint8Array, to: Endpoint): void;
  /** Sends whatever send() queued. */
  flush(): void;
  close(): void;
}

/** Buffer sizes as wireguard-go requests (7 MiB); the kernel caps them at net.core.[rw]mem_max. */
const SOCKET_BUFFER = 7 << 20;

export class DgramBind implements Bind {
  private v4: dgram.Socket | null = null;
  private v6: dgram.Socket | null = null;
  private port = 0;
  private mark = 0;
  readonly stats: BindStats = { rxDatagrams: 0, txDatagrams: 0, txErrors: 0, rxBatches: 0, txBatches: 0 };
  warn: (msg: string) => void = () => {};
  onBatchEnd: () => void = () => {};

  private batchQueued = false;
  private readonly onDatagram: DatagramHandler;

  constructor(handler: DatagramHandler) {
    // dgram calls us once per datagram; a "batch" is what libuv read in one loop turn, ended with
    // a setImmediate (the check phase runs right after the poll phase that delivered them).
    const endBatch = (): void => {
      this.batchQueued = false;
      this.onBatchEnd();
    };
    this.onDatagram = (data, from) => {
      handler(data, from);
      if (!this.batchQueued) {
        this.batchQueued = true;
        setImmediate(endBatch);
      }
    };
  }

  /** The bound port (the kernel's choice when 0 was asked for), or 0 when closed. */
  get listenPort(): number {
    return this.port;
  }

  get fwmark(): number {
    return this.mark;
  }

  /**
   * (Re)binds both sockets to `port` (0 = pick one). On failure the previous sockets stay closed and
   * the error propagates, so that `wg set listen-port` reports EADDRINUSE like wireguard-go.
   */
  async bind(port: number): Promise<number> {
    // The new sockets are opened before the old ones close, so a port that cannot be had leaves the
    // interface listening where it was (wireguard-go closes first and is left without a socket).
    if (port !== 0 && port === this.port) return port;
    // With port 0 the IPv4 socket picks the number and IPv6 must get the same one; it may be taken
    // for IPv6 alone, so retry a few random ports as wireguard-go does.
    let lastErr: unknown;
    for (let attempt = 0; attempt < (port === 0 ? 100 : 1); attempt++) {
      let v4: dgram.Socket | null = null;
      try {
        v4 = await open('udp4', port, this.onDatagram, this.stats);
        const actual = v4.address().port;
        let v6: dgram.Socket | null = null;
        try {
          v6 = await open('udp6', actual, this.onDatagram, this.stats);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          // No IPv6 on this host: run IPv4 only. Port clash on IPv6: try another port.
          if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e;
          this.warn(`IPv6 UDP unavailable (${code}); listening on IPv4 only`);
        }
        this.close();
        this.v4 = v4;
        this.v6 = v6;
        this.port = actual;
        if (this.mark) this.applyMark();
        return actual;
      } catch (e) {
        lastErr = e;
        v4?.close();
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
      }
    }
    throw lastErr;
  }

  setFwmark(mark: number): void {
    this.mark = mark;
    this.applyMark();
  }

  private applyMark(): void {
    for (const s of [this.v4, this.v6]) {
      if (!s) continue;
      const fd = socketFd(s);
      if (fd < 0) {
        this.warn('cannot reach the UDP socket descriptor; fwmark is stored but not applied');
        continue;
      }
      const r = native().setMark(fd, this.mark);
      if (r < 0) throw Object.assign(new Error(`setsockopt(SO_MARK) failed with errno ${-r}`), { errno: r });
    }
  }

  /** Sends one datagram. `data` is copied first: the device may reuse its buffer after we return. */
  send(data: Uint8Array, to: Endpoint): void {
    const s = to.address.includes(':') ? this.v6 : this.v4;
    if (!s) {
      this.stats.txErrors++;
      return;
    }
    this.stats.txDatagrams++;
    this.stats.txBatches++;
    s.send(Buffer.from(data), to.port, to.address, this.sendDone);
  }

  private readonly sendDone = (err: Error | null): void => {
    // ENETUNREACH, EPERM (firewall), ECONNREFUSED from a previous ICMP error: UDP is fire-and-forget
    // and WireGuard's timers retry, so count and carry on.
    if (err) this.stats.txErrors++;
  };

  /** dgram sends at once (libuv tries a synchronous sendto first); nothing is queued here. */
  flush(): void {}

  close(): void {
    this.v4?.close();
    this.v6?.close();
    this.v4 = this.v6 = null;
    this.port = 0;
  }
}

function open(
  type: 'udp4' | 'udp6',
  port: number,
  onDatagram: DatagramHandler,
  stats: BindStats,
): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({
      type,
      ipv6Only: type === 'udp6',
      recvBufferSize: SOCKET_BUFFER,
      sendBufferSize: SOCKET_BUFFER,
    });
    const fail = (e: Error): void => {
      s.close();
      reject(e);
    };
    s.once('error', fail);
    s.on('message', (msg, rinfo) => {
      stats.rxDatagrams++;
      stats.rxBatches++;
      onDatagram(msg, { address: rinfo.address, port: rinfo.port });
    });
    s.bind({ port, exclusive: true }, () => {
      s.off('error', fail);
      // Errors after bind are per-datagram (ICMP feedback); never let them crash the process.
      s.on('error', () => stats.txErrors++);
      resolve(s);
    });
  });
}

/** The fd of a bound dgram socket (UDPWrap exposes it on Unix), or -1. */
function socketFd(s: dgram.Socket): number {
  const handle = (s as unknown as { _handle?: { fd?: number } })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

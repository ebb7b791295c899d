// A UDP flow through a SOCKS5 upstream (RFC 1928 §7). The association lives as long as its TCP
// control connection ("A UDP association terminates when the TCP connection that the UDP ASSOCIATE
// request arrived on terminates"); datagrams go to the relay address the upstream named, each with
// the header RSV(2) FRAG ATYP DST.ADDR DST.PORT, and replies come back from the relay with the same
// header naming their source. Fragmentation is not used: FRAG is always 0 and fragmented replies
// are dropped, as §7 allows an implementation that does not support it.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { FerryError } from '../../core/errors.js';
import type { Destination } from '../../core/session.js';
import { parseUdpDatagram } from '../../inbound/socks/wire5.js';
import type { AddressGuard } from '../../router/address-guard.js';
import type { ResolvedAddress } from '../resolve.js';
import { UdpFlowBase } from '../udp-flow-base.js';
import { socks5Address } from './socks-client.js';

export class Socks5UdpFlow extends UdpFlowBase {
  // The header of the last destination, reused while datagrams keep going to the same one.
  private lastHost = '';
  private lastPort = -1;
  private lastHeader: Buffer | null = null;

  private constructor(
    private readonly control: Socket,
    private readonly udp: UdpSocket,
    private readonly relayHost: string,
    private readonly relayPort: number,
    /** Non-null with `dns: local`: names are resolved here and every address is guard-checked. */
    private readonly guard: AddressGuard | null,
  ) {
    super();
    udp.on('message', this.onDatagram);
    udp.on('error', this.onSocketError);
    // Nothing more is said on the control connection; its end ends the association.
    control.on('data', noop);
    control.on('error', noop);
    control.on('close', this.onControlClose);
    control.resume();
  }

  /**
   * Binds a local UDP socket for the relay at `relay` (an all-zeros address means the control
   * connection's peer). Takes ownership of `control`.
   */
  static async open(control: Socket, relay: Destination, guard: AddressGuard | null): Promise<Socks5UdpFlow> {
    let host = relay.host;
    if (host === '0.0.0.0' || host === '::') host = control.remoteAddress ?? '';
    const family = isIP(host);
    if (family === 0) {
      control.destroy();
      throw new FerryError('E_PROTOCOL', 'the SOCKS5 upstream named no usable UDP relay address');
    }
    const udp = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, () => {
          udp.removeListener('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      control.destroy();
      throw new FerryError('E_INTERNAL', `cannot bind a UDP socket: ${(err as Error).message}`);
    }
    return new Socks5UdpFlow(control, udp, host, relay.port, guard);
  }

  send(data: Buffer, dest: Destination): void {
    if (this.closed) return;
    if (this.guard !== null) {
      if (dest.kind === 'domain') return this.sendResolved(data, dest, this.guard, this.sendTo);
      const why = this.guard.check(dest.host);
      if (why) return this.refuse(why);
    }
    this.sendChecked(data, dest.host, dest.port, dest.kind);
  }

  /** Sends to an address the guard has passed, with the SOCKS5 UDP header of the last one reused. */
  private sendChecked(data: Buffer, host: string, port: number, kind: Destination['kind']): void {
    let h = this.lastHeader;
    if (h === null || port !== this.lastPort || host !== this.lastHost) {
      try {
        h = this.lastHeader = socks5Address({ host, port, kind }, 3);
      } catch (err) {
        return this.errCb?.(err as Error);
      }
      this.lastHost = host;
      this.lastPort = port;
    }
    this.udp.send([h, data], this.relayPort, this.relayHost);
  }

  /** A resolved name's address: resolveAllowed has guard-checked it already. */
  private readonly sendTo = (data: Buffer, to: ResolvedAddress, port: number): void => {
    this.sendChecked(data, to.address, port, to.family === 4 ? 'ipv4' : 'ipv6');
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.udp.close();
    this.control.removeListener('close', this.onControlClose);
    this.control.destroy();
  }

  private readonly onDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    // Only the relay speaks for the association; anything else is spoofed or stray.
    if (rinfo.port !== this.relayPort || rinfo.address !== this.relayHost) return;
    const d = parseUdpDatagram(msg);
    if (d === null) return;
    this.msgCb?.(msg.subarray(d.offset), { address: d.dest.host, port: d.dest.port });
  };

  private readonly onSocketError = (err: Error): void => {
    this.errCb?.(err);
  };

  private readonly onControlClose = (): void => {
    if (this.closed) return;
    this.errCb?.(new FerryError('E_UPSTREAM_RESET', 'the SOCKS5 upstream ended the UDP association'));
    this.close();
  };
}

function noop(): void {}

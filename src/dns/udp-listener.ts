// DNS over UDP: one socket per listen address; each datagram is one query and gets at most one answer.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { QueryHandler } from './query-handler.js';

export class UdpListener {
  private readonly socket: Socket;
  private closed = false;

  private constructor(socket: Socket, handler: QueryHandler) {
    this.socket = socket;
    socket.on('message', (msg: Buffer, from: RemoteInfo) => {
      void handler.handle(msg, from.address, true).then((answer) => {
        if (answer && !this.closed) socket.send(answer, from.port, from.address);
      });
    });
    // A send to a vanished client (ICMP unreachable) must not take the listener down.
    socket.on('error', () => {});
  }

  static bind(host: string, port: number, handler: QueryHandler): Promise<UdpListener> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(host) });
      socket.once('error', reject);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve(new UdpListener(socket, handler));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

// The Shadowsocks client outbound: every session becomes a Shadowsocks TCP stream (AEAD or 2022) to
// the configured server, and UDP flows go over its UDP relay. The destination is sent as given —
// names are resolved by the server, at the far end, as with any proxy outbound — so the address
// guard (which protects this host's networks) does not apply here; the server applies its own.
import { connectSocket } from '../net/connect.js';
import { fastRead, type FastRead } from '../net/fast-read.js';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { FerryError, fromDialError } from '../core/errors.js';
import { formatHostPort, makeDestination, type Destination } from '../core/session.js';
import { clientKeys, methodInfo, type MethodInfo } from '../crypto/ss/methods.js';
import { SaltPool } from '../crypto/ss/replay.js';
import { SecureStream } from '../crypto/ss/secure-stream.js';
import { ClientStreamCodec } from '../crypto/ss/tcp-client.js';
import { openAeadPacket, sealAeadPacket, Udp2022Client } from '../crypto/ss/udp.js';
import { PacketWindow } from '../crypto/ss/replay.js';
import type { DialOptions, Outbound, UdpFlow } from './outbound.js';
import { UdpFlowBase } from './udp-flow-base.js';

export interface ShadowsocksOutboundConfig {
  name: string;
  /** The server's host and port. */
  host: string;
  port: number;
  method: string;
  /** AEAD: the password. 2022: the base64 PSK, or `iPSK:…:uPSK` for a multi-user server (EIH). */
  password: string;
  /**
   * How long a new stream waits for the application's first bytes before sending the request header
   * alone (SIP022 §3.1.3 allows "typically less than one second"). Default 50 ms.
   */
  headerDelayMs?: number;
}

export class ShadowsocksOutbound implements Outbound {
  readonly kind = 'shadowsocks';
  readonly name: string;
  private readonly method: MethodInfo;
  private readonly keys: Buffer[];
  /** SIP022 §3.1.4: clients, too, remember response salts for 60 s. */
  private readonly salts = new SaltPool();

  constructor(private readonly cfg: ShadowsocksOutboundConfig) {
    this.name = cfg.name;
    this.method = methodInfo(cfg.method);
    this.keys = clientKeys(this.method, cfg.password);
  }

  async dial(dest: Destination, opts: DialOptions): Promise<Socket> {
    const what = `Shadowsocks server ${formatHostPort(this.cfg.host, this.cfg.port)}`;
    let sock: Socket;
    const fr = opts.forRelay ? fastRead() : null;
    try {
      sock = await connectTcp(this.cfg.host, this.cfg.port, opts.connectTimeoutMs, opts.signal, fr);
    } catch (err) {
      throw fromDialError(err, what);
    }
    const stream = new SecureStream(
      sock,
      (sink) =>
        new ClientStreamCodec({
          method: this.method,
          keys: this.keys,
          dest,
          sink,
          ...(this.method.edition === '2022' ? { saltFilter: this.salts } : {}),
        }),
      { headerDelayMs: this.cfg.headerDelayMs ?? 50, fastRead: fr !== null },
    );
    // Callers treat the stream as a socket: relay() and the SOCKS reply use only what SecureStream has.
    return stream as unknown as Socket;
  }

  async openUdp(_opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow> {
    const addrs = await lookup(this.cfg.host, { all: true }).catch((err: unknown) => {
      throw new FerryError('E_DNS', `Shadowsocks server ${this.cfg.host} does not resolve`, { cause: err });
    });
    const a = addrs[0]!;
    return new SsUdpFlow(this.method, this.keys, a.address, this.cfg.port, a.family === 6 ? 'udp6' : 'udp4');
  }
}

function connectTcp(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  fr: FastRead | null,
): Promise<Socket> {
  return connectSocket(
    {
      host,
      port,
      noDelay: true,
      ...(isIP(host) ? {} : { autoSelectFamily: true }),
      ...(fr ? fr.options : {}),
    },
    timeoutMs,
    signal,
    fr ? (s) => fr.bind(s) : undefined,
  );
}

/** One client UDP association over the server's relay: one socket, one 2022 session (if 2022). */
class SsUdpFlow extends UdpFlowBase {
  private readonly socket: UdpSocket;
  private readonly session2022: Udp2022Client | null;
  /** Replay windows per server session (SIP022 §3.2.4; a server restart starts a new one). */
  private readonly windows = new Map<string, PacketWindow>();

  constructor(
    private readonly method: MethodInfo,
    private readonly keys: Buffer[],
    private readonly host: string,
    private readonly port: number,
    type: 'udp4' | 'udp6',
  ) {
    super();
    this.session2022 = method.edition === '2022' ? new Udp2022Client(method, keys) : null;
    this.socket = createSocket({ type });
    this.socket.on('message', (msg) => this.onPacket(msg));
    this.socket.on('error', (err) => this.errCb?.(err));
    this.socket.bind(0);
  }

  send(data: Buffer, dest: Destination): void {
    if (this.closed) return;
    let pkt: Buffer;
    try {
      pkt = this.session2022
        ? this.session2022.seal(dest, data)
        : sealAeadPacket(this.method, this.keys[0]!, dest, data);
    } catch (err) {
      this.errCb?.(err as Error);
      return;
    }
    this.socket.send(pkt, this.port, this.host);
  }

  private onPacket(msg: Buffer): void {
    try {
      if (this.session2022) {
        const m = this.session2022.open(msg);
        if (!m) return;
        let w = this.windows.get(m.serverSession);
        if (!w) {
          if (this.windows.size >= 4) this.windows.clear();
          w = new PacketWindow();
          this.windows.set(m.serverSession, w);
        }
        if (!w.check(m.packetId)) return;
        this.msgCb?.(m.payload, { address: m.dest.host, port: m.dest.port });
        return;
      }
      const m = openAeadPacket(this.method, [{ user: null, key: this.keys[0]! }], msg);
      if (m) this.msgCb?.(m.payload, { address: m.dest.host, port: m.dest.port });
    } catch {
      // Undecodable reply: dropped.
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

/** Parses the `server` setting ("host:port", "[v6]:port"). */
export function parseServer(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new FerryError('E_CONFIG', `'${text}' is not HOST:PORT`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new FerryError('E_CONFIG', `'${text}': port must be 1-65535`);
  return { host: makeDestination(m[1] ?? m[2]!, port).host, port };
}

// An upstream-proxy outbound: every connection goes through an HTTP or HTTPS proxy (CONNECT, or
// absolute-form for plain HTTP when the caller supports it), a SOCKS4a or a SOCKS5 proxy, with
// credentials. The proxy itself is reached directly or through another outbound (`via`), which is
// how multi-hop chains are built: ferry → hop1 → hop2 → destination.
//
// Destination names go to the upstream as names (remote DNS), so the address guard, which protects
// this host's networks, does not apply to them — the upstream resolves and applies its own policy.
// With `dns: local` the name is resolved here, guard-checked, and sent as an address.
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FerryError, fromDialError } from '../../core/errors.js';
import { makeDestination, type Destination, type Session } from '../../core/session.js';
import { ALLOW_ALL } from '../../router/address-guard.js';
import { DirectOutbound } from '../direct.js';
import type { DialOptions, HttpProxyForwarding, Outbound, UdpFlow } from '../outbound.js';
import { resolveAllowed } from '../resolve.js';
import { exitFault } from './fault.js';
import { basicCredentials, httpConnect } from './http-connect.js';
import { socks4aConnect, socks5Connect, socks5UdpAssociate } from './socks-client.js';
import { Socks5UdpFlow } from './socks-udp.js';

export type UpstreamProtocol = 'http' | 'https' | 'socks4a' | 'socks5';

export interface UpstreamConfig {
  name: string;
  protocol: UpstreamProtocol;
  host: string;
  port: number;
  username?: string | undefined;
  password?: string | undefined;
  /** Reach the proxy through this outbound instead of directly. */
  via?: Outbound | undefined;
  /** https: server name to verify (default: host), extra CA (PEM), or no verification at all. */
  tls?:
    { serverName?: string | undefined; ca?: string | undefined; insecure?: boolean | undefined } | undefined;
  /** remote (default): send names to the upstream; local: resolve here. */
  dns?: 'remote' | 'local' | undefined;
  /** http/https: forward plain-HTTP requests in absolute-form (default true) instead of CONNECT. */
  forwardHttp?: boolean | undefined;
}

/** Time to set up a UDP association with a SOCKS5 upstream (UDP has no connect timeout of its own). */
const UDP_SETUP_MS = 10_000;

/** Dials the proxy when there is no `via`: from this host, to the configured (trusted) address. */
const DIRECT_HOP = new DirectOutbound({ name: 'upstream-hop' });

export class UpstreamOutbound implements Outbound {
  readonly kind: UpstreamProtocol;
  readonly name: string;
  /**
   * "upstream proxy NAME", for messages. Not its address: messages reach clients (HTTP error
   * bodies), and where the exits are is the operator's business; the name finds it in the config.
   */
  readonly what: string;
  private readonly server: Destination;
  private readonly authHeader: string | null;
  private readonly forwarding: HttpProxyForwarding | null;
  private readonly tlsOpts: ConnectionOptions | null;
  /**
   * Present on SOCKS5 upstreams reached directly: UDP ASSOCIATE (RFC 1928 §7). Through a `via` chain
   * the datagrams could not follow (they go straight to the relay address), so there is none.
   */
  readonly openUdp?: (opts: Omit<DialOptions, 'connectTimeoutMs'>) => Promise<UdpFlow>;

  constructor(private readonly cfg: UpstreamConfig) {
    this.name = cfg.name;
    this.kind = cfg.protocol;
    this.server = makeDestination(cfg.host, cfg.port);
    this.what = `upstream proxy ${cfg.name}`;
    const http = cfg.protocol === 'http' || cfg.protocol === 'https';
    this.authHeader =
      http && cfg.username !== undefined ? basicCredentials(cfg.username, cfg.password ?? '') : null;
    // dns: local promises that names are resolved and guard-checked here; an absolute-form request
    // would hand the name to the upstream, so those go through CONNECT to the checked address.
    this.forwarding =
      http && cfg.forwardHttp !== false && cfg.dns !== 'local'
        ? { key: this.name, proxyAuthorization: this.authHeader }
        : null;
    this.tlsOpts =
      cfg.protocol === 'https'
        ? {
            servername: cfg.tls?.serverName ?? (this.server.kind === 'domain' ? this.server.host : undefined),
            ALPNProtocols: ['http/1.1'],
            rejectUnauthorized: cfg.tls?.insecure !== true,
            ...(cfg.tls?.ca ? { ca: cfg.tls.ca } : {}),
          }
        : null;
    if (cfg.protocol === 'socks5' && cfg.via === undefined) this.openUdp = (o) => this.associateUdp(o);
  }

  private async associateUdp(opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow> {
    const deadline = Date.now() + UDP_SETUP_MS;
    const control = await this.connectProxy({ ...opts, connectTimeoutMs: UDP_SETUP_MS }, deadline);
    let relay: Destination;
    try {
      relay = await socks5UdpAssociate(
        control,
        this.cfg.username !== undefined
          ? { username: this.cfg.username, password: this.cfg.password ?? '' }
          : null,
        { deadline, signal: opts.signal, what: this.what },
      );
    } catch (err) {
      control.destroy();
      throw err;
    }
    return Socks5UdpFlow.open(control, relay, this.cfg.dns === 'local' ? opts.guard : null);
  }

  /** Host and port of the proxy (health probes connect here). */
  get serverAddress(): Destination {
    return this.server;
  }

  httpProxy(_session: Session): HttpProxyForwarding | null {
    return this.forwarding;
  }

  async dial(dest: Destination, opts: DialOptions): Promise<Socket> {
    const deadline = Date.now() + opts.connectTimeoutMs;
    let sock: Duplex = await this.connectProxy(opts, deadline);
    try {
      if (this.tlsOpts !== null) sock = await this.startTls(sock, deadline, opts.signal);
      if (opts.absoluteForm === true && this.forwarding !== null) return sock as Socket;
      const target = this.cfg.dns === 'local' ? await this.resolveHere(dest, opts) : dest;
      const lim = { deadline, signal: opts.signal, what: this.what };
      switch (this.cfg.protocol) {
        case 'http':
        case 'https':
          await httpConnect(sock, target, this.authHeader, lim);
          break;
        case 'socks5':
          await socks5Connect(
            sock,
            target,
            this.cfg.username !== undefined
              ? { username: this.cfg.username, password: this.cfg.password ?? '' }
              : null,
            lim,
          );
          break;
        case 'socks4a': {
          const uid =
            this.cfg.username === undefined
              ? ''
              : this.cfg.password
                ? `${this.cfg.username}:${this.cfg.password}`
                : this.cfg.username;
          await socks4aConnect(sock, target, uid, lim);
          break;
        }
      }
      return sock as Socket;
    } catch (err) {
      sock.destroy();
      throw err;
    }
  }

  /** TCP (or the `via` chain) to the proxy. Any failure here is the exit's fault. */
  private async connectProxy(opts: DialOptions, deadline: number): Promise<Socket> {
    const hop = this.cfg.via ?? DIRECT_HOP;
    // The hop gets its own session: a pool's choice for the client's session is not the hop's.
    const { exit: _exit, ...rest } = opts.session;
    const session: Session = { ...rest, dest: this.server };
    try {
      return await hop.dial(this.server, {
        guard: ALLOW_ALL, // the operator configured this address
        connectTimeoutMs: Math.max(1, deadline - Date.now()),
        session,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      const fe = fromDialError(err, this.what);
      throw exitFault(
        new FerryError(
          fe.code,
          fe.message.startsWith(this.what) ? fe.message : `${this.what}: ${fe.message}`,
          { cause: err },
        ),
      );
    }
  }

  private startTls(raw: Duplex, deadline: number, signal: AbortSignal | undefined): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const t = tlsConnect({ ...this.tlsOpts!, socket: raw });
      const timer = setTimeout(
        () => fail(new Error('TLS handshake timed out')),
        Math.max(1, deadline - Date.now()),
      );
      const onAbort = (): void => fail(new Error('dial aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        t.removeListener('error', fail);
        t.removeListener('secureConnect', ok);
      };
      function fail(err: Error): void {
        cleanup();
        t.destroy();
        raw.destroy();
        reject(
          exitFault(
            new FerryError('E_UPSTREAM_REFUSED', `TLS to upstream proxy: ${err.message}`, { cause: err }),
          ),
        );
      }
      function ok(): void {
        cleanup();
        resolve(t);
      }
      t.once('error', fail);
      t.once('secureConnect', ok);
    });
  }

  private async resolveHere(dest: Destination, opts: DialOptions): Promise<Destination> {
    if (dest.kind !== 'domain') {
      const why = opts.guard.check(dest.host);
      if (why) throw new FerryError('E_DEST_FORBIDDEN', `destination refused: ${why}`);
      return dest;
    }
    const a = (await resolveAllowed(dest, opts.guard))[0]!;
    return { host: a.address, port: dest.port, kind: a.family === 4 ? 'ipv4' : 'ipv6' };
  }
}

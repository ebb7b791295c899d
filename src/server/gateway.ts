// The gateway: builds inbounds, router and outbounds from a configuration, runs the listeners, and
// swaps users, rules and settings on reload without touching live connections. Shutdown drains:
// listeners stop accepting, live sessions get `drainMs` to finish, then the rest are closed.
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { resolve } from 'node:path';
import { Authenticator, MapUserSource } from '../auth/authenticator.js';
import { isLoopbackHost, parseListen } from '../config/listen-address.js';
import { validateConfig } from '../config/load.js';
import { privacyOf, type Config, type InboundConfig } from '../config/schema.js';
import type { InboundKind } from '../core/session.js';
import { FerryError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type {
  AccessLogMode,
  HttpOptions,
  InboundContext,
  InboundHandler,
  Limits,
  Timeouts,
} from '../inbound/context.js';
import { createHttpHandler } from '../inbound/http/index.js';
import { createMixedHandler } from '../inbound/mixed.js';
import { createSocksHandler } from '../inbound/socks/index.js';
import {
  createShadowsocksHandler,
  type ShadowsocksHandler,
  type SsUserEntry,
} from '../inbound/shadowsocks/index.js';
import { ConnTracker } from '../inbound/tracker.js';
import type { Outbound } from '../outbound/outbound.js';
import { Router } from '../router/router.js';
import type { SaltAuthority } from '../crypto/ss/replay.js';
import { buildOutbounds } from './outbounds.js';
import { loadTlsMaterial } from './tls-material.js';
import { loadUsers } from './users.js';
import { ManagementPlane } from './management.js';
import type { Metrics } from '../control/metrics.js';
import type { Store } from '../control/store/types.js';
import type { UserRecord } from '../auth/authenticator.js';
import type { LiveSessions } from '../control/api/live.js';

/** No store users with Shadowsocks keys (no management store): one array, so memos keyed on it hit. */
const NO_SS_USERS: readonly SsUserEntry[] = [];

interface Shared {
  router: Router;
  outbounds: Map<string, Outbound>;
  auth: Authenticator;
  userCount: number;
  /** The configuration's users (hashed), laid over the store's logins on every store reload. */
  configUsers: UserRecord[];
  /** Users as configured, for inbounds with their own keys (Shadowsocks `ss_password`). */
  ssUsers: readonly SsUserEntry[];
  timeouts: Timeouts;
  limits: Limits;
  accessLog: AccessLogMode;
  retentionMs: number;
}

interface Listener {
  cfg: InboundConfig;
  server: Server | TlsServer;
  handler: InboundHandler;
  /** Per-inbound settings the context reads on every new session; replaced on reload. */
  settings: { authRequired: boolean; http: HttpOptions };
  host: string;
  port: number;
  fingerprint256?: string;
  certFile?: string;
}

export interface GatewayOptions {
  log?: Logger;
  /** Data directory for generated material (TLS certificates). Default: config data_dir or ./.ferry */
  dataDir?: string;
  /**
   * The management store: its proxy logins join the configuration's users, and tiers, quotas, usage
   * counting, the live-session registry and (audit mode) connection records are enforced and kept.
   * The caller opens and closes it; the gateway writes its last batches before close() resolves.
   */
  store?: Store;
  /** Session events are counted here (the admin API serves them at /metrics). */
  metrics?: Metrics;
  /** Prefix of live-session ids (one per worker process). */
  sessionIdPrefix?: string;
  /** Store polling and batch intervals (tests shorten them). */
  storePollMs?: number;
  storeFlushMs?: number;
  /**
   * A cluster worker: pools take probe results from the primary instead of probing, and make the
   * choices other workers make (cluster-exits.ts, PoolConfig.coordinated).
   */
  clusterWorker?: boolean;
  /**
   * Store users' Shadowsocks keys (control/data-plane.ts loadShadowsocksUsers), read on every new
   * Shadowsocks connection: return the same array until it changes. Config users win on a name clash.
   */
  shadowsocksUsers?: () => readonly SsUserEntry[];
  /** Cluster workers: where Shadowsocks salts are claimed across workers (server/cluster.ts). */
  saltAuthority?: SaltAuthority;
}

export interface ListenerInfo {
  name: string;
  type: InboundConfig['type'];
  host: string;
  port: number;
  auth: boolean;
  fingerprint256?: string;
  certFile?: string;
}

export class Gateway {
  readonly tracker = new ConnTracker();
  private readonly listeners = new Map<string, Listener>();
  private shared!: Shared;
  private closed = false;
  /** The management plane, when started with a store. */
  readonly management: ManagementPlane | null = null;
  private readonly metrics: Metrics | undefined;

  private constructor(
    private readonly log: Logger,
    private dataDir: string,
    opts: GatewayOptions,
    management: ManagementPlane | null,
  ) {
    this.metrics = opts.metrics;
    this.management = management;
    this.clusterWorker = opts.clusterWorker === true;
    // Store users' Shadowsocks keys: the management plane's snapshot unless the caller gives them.
    this.storeSsUsers = opts.shadowsocksUsers ?? (management ? () => management.ssUsers : undefined);
    this.saltAuthority = opts.saltAuthority;
  }
  private readonly clusterWorker: boolean;
  private readonly storeSsUsers: (() => readonly SsUserEntry[]) | undefined;
  private readonly saltAuthority: SaltAuthority | undefined;

  /** Config users' then store users' Shadowsocks keys, as one array that changes only when they do. */
  private ssUsersMerged: {
    cfg: readonly SsUserEntry[];
    store: readonly SsUserEntry[];
    all: readonly SsUserEntry[];
  } | null = null;
  private readonly ssUsers = (): readonly SsUserEntry[] => {
    const cfg = this.shared.ssUsers;
    const store = this.storeSsUsers?.() ?? NO_SS_USERS; // one array: the memo below must hit
    const m = this.ssUsersMerged;
    if (m && m.cfg === cfg && m.store === store) return m.all;
    const names = new Set(cfg.map((u) => u.name));
    const all = store.length ? [...cfg, ...store.filter((u) => !names.has(u.name))] : cfg;
    this.ssUsersMerged = { cfg, store, all };
    return all;
  };

  static async start(config: unknown, opts: GatewayOptions = {}): Promise<Gateway> {
    const cfg = validateConfig(config);
    const log = opts.log ?? silentLogger();
    const management = opts.store
      ? await ManagementPlane.open({
          store: opts.store,
          log,
          ...(opts.sessionIdPrefix ? { idPrefix: opts.sessionIdPrefix } : {}),
          ...(opts.storePollMs ? { pollMs: opts.storePollMs } : {}),
          ...(opts.storeFlushMs ? { flushMs: opts.storeFlushMs } : {}),
        })
      : null;
    const gw = new Gateway(
      log,
      resolve(opts.dataDir ?? cfg.data_dir ?? process.env.FERRY_HOME ?? '.ferry'),
      opts,
      management,
    );
    try {
      gw.shared = await gw.buildShared(cfg);
      gw.applyShared();
      if (management) management.onLogins = () => gw.storeUsersChanged();
      for (const i of cfg.inbounds) await gw.startListener(i);
    } catch (e) {
      await gw.close(0);
      throw e;
    }
    return gw;
  }

  /** Store logins with the configuration's users laid over them (a config entry wins). */
  private mergedUsers(configUsers: UserRecord[]): UserRecord[] {
    if (!this.management) return configUsers;
    const byName = new Map(this.management.userRecords().map((u) => [u.name, u]));
    for (const u of configUsers) byName.set(u.name, u);
    return [...byName.values()];
  }

  /** Settings of the current `shared` that live outside it (management plane, metrics). */
  private applyShared(): void {
    this.management?.setConfigNames(this.shared.configUsers.map((u) => u.name));
    this.management?.setPrivacy(this.shared.accessLog, this.shared.retentionMs);
    this.metrics?.setPrivacy(this.shared.accessLog);
  }

  /**
   * The store's logins changed (poll): swap the authenticator's users, and let an inbound whose
   * `auth` is not set explicitly follow whether any user exists now (as it does on a config reload).
   */
  private storeUsersChanged(): void {
    const users = this.mergedUsers(this.shared.configUsers);
    this.shared.auth.setUsers(new MapUserSource(users));
    this.shared.userCount = users.length;
    for (const l of this.listeners.values()) {
      if (l.cfg.type === 'shadowsocks' || l.cfg.auth !== undefined) continue;
      // No users on a public address (allowed at start only because the store had some): keep
      // requiring auth, which refuses everyone, rather than become an open proxy.
      l.settings.authRequired = users.length > 0 || (!isLoopbackHost(l.host) && !l.cfg.allow_open);
    }
  }

  /** The bound address of an inbound (useful with port 0). */
  address(name: string): { host: string; port: number } {
    const l = this.listeners.get(name);
    if (!l) throw new Error(`no inbound named ${name}`);
    return { host: l.host, port: l.port };
  }

  /** The current outbound table (replaced on reload): for the admin socket's `ferry exits`. */
  outboundTable(): ReadonlyMap<string, Outbound> {
    return this.shared.outbounds;
  }

  listenerInfo(): ListenerInfo[] {
    return [...this.listeners.values()].map((l) => ({
      name: l.cfg.name,
      type: l.cfg.type,
      host: l.host,
      port: l.port,
      auth: l.settings.authRequired,
      ...(l.fingerprint256 ? { fingerprint256: l.fingerprint256 } : {}),
      ...(l.certFile ? { certFile: l.certFile } : {}),
    }));
  }

  private async buildShared(cfg: Config): Promise<Shared> {
    const configUsers = await loadUsers(cfg);
    const users = this.mergedUsers(configUsers);
    const privacy = privacyOf(cfg);
    const outbounds = buildOutbounds(cfg, { clusterWorker: this.clusterWorker });
    const router = new Router(
      {
        rules: cfg.router.rules,
        default: cfg.router.default,
        allowDestinations: cfg.router.allow_destinations,
      },
      outbounds,
    );
    const auth =
      this.shared?.auth ??
      new Authenticator(new MapUserSource(users), {
        maxFailures: cfg.limits.auth_failures_per_minute,
        windowMs: 60_000,
      });
    auth.setUsers(new MapUserSource(users));
    return {
      router,
      outbounds,
      auth,
      userCount: users.length,
      configUsers,
      ssUsers: cfg.users,
      timeouts: {
        handshakeMs: cfg.timeouts.handshake,
        connectMs: cfg.timeouts.connect,
        idleMs: cfg.timeouts.idle,
      },
      limits: {
        maxHeaderBytes: cfg.limits.max_header_bytes,
        maxConnections: cfg.limits.max_connections,
        maxConnectionsPerUser: cfg.limits.max_connections_per_user,
      },
      accessLog: privacy.mode,
      retentionMs: privacy.retentionMs,
    };
  }

  /** Decides whether an inbound requires authentication, refusing an open proxy on a public address. */
  private authFor(i: InboundConfig, userCount: number): boolean {
    // Shadowsocks clients authenticate with their key (the inbound's password or a user's ss_password).
    if (i.type === 'shadowsocks') return false;
    const { host } = parseListen(i.listen);
    const required = i.auth ?? userCount > 0;
    if (required && userCount === 0) {
      throw new FerryError(
        'E_CONFIG',
        `inbound ${i.name}: auth is required but no users are configured (add users, or set auth: false)`,
      );
    }
    if (!required && !isLoopbackHost(host) && !i.allow_open) {
      throw new FerryError(
        'E_CONFIG',
        `inbound ${i.name}: refusing to listen on ${i.listen} without authentication — that would be an open proxy. ` +
          'Add users (auth: true), listen on 127.0.0.1, or set allow_open: true if you really mean it.',
      );
    }
    return required;
  }

  private makeContext(name: string, settings: Listener['settings'], kind: InboundKind): InboundContext {
    return {
      name,
      kind,
      router: () => this.shared.router,
      auth: () => (settings.authRequired ? this.shared.auth : null),
      log: this.log,
      timeouts: () => this.shared.timeouts,
      limits: () => this.shared.limits,
      http: () => settings.http,
      accessLog: () => this.shared.accessLog,
      tracker: this.tracker,
      ...(this.management
        ? {
            usage: () => this.management,
            live: this.management.live,
            recordSink: this.management,
          }
        : {}),
      ...(this.metrics ? { metrics: this.metrics } : {}),
    };
  }

  private handlerFor(i: InboundConfig, ctx: InboundContext): InboundHandler {
    switch (i.type) {
      case 'http':
      case 'https':
        return createHttpHandler(ctx);
      case 'socks':
        return createSocksHandler(ctx);
      case 'mixed':
        return createMixedHandler(ctx, createHttpHandler(ctx), createSocksHandler(ctx));
      case 'shadowsocks': {
        // Read through the listener so that a reload's new method/password/users apply to new sessions.
        const current = (): InboundConfig => this.listeners.get(i.name)?.cfg ?? i;
        return createShadowsocksHandler(
          ctx,
          {
            inbound: () => ({ name: i.name, ...current().shadowsocks! }),
            users: this.ssUsers,
            storeUsers: this.storeSsUsers !== undefined,
          },
          { udp: i.shadowsocks!.udp, ...(this.saltAuthority ? { authority: this.saltAuthority } : {}) },
        );
      }
    }
  }

  private async startListener(i: InboundConfig): Promise<void> {
    const { host, port } = parseListen(i.listen);
    const settings = {
      authRequired: this.authFor(i, this.shared.userCount),
      http: { via: i.http.via, xForwardedFor: i.http.x_forwarded_for },
    };
    const ctx = this.makeContext(i.name, settings, i.type === 'shadowsocks' ? 'encrypted' : 'proxy');
    this.metrics?.declareInbound(i.name);
    const handler = this.handlerFor(i, ctx);
    const admit = (socket: Socket): boolean => {
      // A client that resets before we handle it must not raise an unhandled 'error'.
      socket.on('error', noop);
      try {
        this.tracker.admit(socket, this.shared.limits.maxConnections);
        const m = this.metrics;
        if (m) {
          m.sessionOpened(i.name);
          socket.once('close', () => m.sessionClosed(i.name, 0, 0, null));
        }
        return true;
      } catch (e) {
        this.log.warn({ inbound: i.name, code: (e as FerryError).code }, (e as Error).message);
        socket.destroy();
        return false;
      }
    };
    let server: Server | TlsServer;
    let fingerprint256: string | undefined;
    let certFile: string | undefined;
    if (i.type === 'https') {
      const tls = tlsFor(i, this.dataDir);
      fingerprint256 = tls.fingerprint256;
      certFile = tls.certFile;
      const s = createTlsServer({
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.2',
        handshakeTimeout: this.shared.timeouts.handshakeMs,
        ALPNProtocols: ['http/1.1'],
      });
      s.on('connection', (sock: Socket) => {
        if (!admit(sock)) return;
      });
      s.on('secureConnection', (tlsSock) => {
        tlsSock.on('error', noop);
        handler.handle(tlsSock as unknown as Socket);
      });
      s.on('tlsClientError', (err) =>
        this.log.debug({ inbound: i.name, err: err.message }, 'TLS handshake failed'),
      );
      server = s;
    } else {
      server = createServer({ noDelay: true }, (sock) => {
        if (admit(sock)) handler.handle(sock);
      });
    }
    server.on('error', (err) => this.log.error({ inbound: i.name, err: err.message }, 'listener error'));
    (handler as Partial<ShadowsocksHandler>).attach?.(server as Server); // UDP relay on the same port
    await new Promise<void>((resolveListen, reject) => {
      const onErr = (err: NodeJS.ErrnoException): void =>
        reject(
          new FerryError(
            'E_CONFIG',
            `inbound ${i.name}: cannot listen on ${i.listen}: ${err.code ?? err.message}`,
          ),
        );
      server.once('error', onErr);
      server.listen({ host, port, backlog: 4096 }, () => {
        server.removeListener('error', onErr);
        resolveListen();
      });
    });
    const addr = server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    this.listeners.set(i.name, {
      cfg: i,
      server,
      handler,
      settings,
      host,
      port: bound,
      ...(fingerprint256 ? { fingerprint256 } : {}),
      ...(certFile ? { certFile } : {}),
    });
  }

  /**
   * Applies a new configuration. Users, rules, outbounds, timeouts and limits are swapped at once;
   * listeners whose address, type and TLS files are unchanged keep running (and their open
   * connections with them); removed ones stop accepting but let their connections finish.
   * On an invalid configuration nothing changes and the error is thrown.
   */
  async reload(config: unknown): Promise<void> {
    const cfg = validateConfig(config);
    const next = await this.buildShared(cfg);
    // Validate every inbound's auth setting against the new user set before changing anything.
    const authByName = new Map(cfg.inbounds.map((i) => [i.name, this.authFor(i, next.userCount)]));
    const old = this.shared;
    this.shared = next;
    this.applyShared();
    for (const [name, l] of this.listeners) {
      const n = cfg.inbounds.find((i) => i.name === name);
      if (
        !n ||
        n.listen !== l.cfg.listen ||
        n.type !== l.cfg.type ||
        JSON.stringify(n.tls) !== JSON.stringify(l.cfg.tls)
      ) {
        l.server.close();
        l.handler.close?.();
        this.listeners.delete(name);
        continue;
      }
      l.settings.authRequired = authByName.get(name)!;
      l.settings.http = { via: n.http.via, xForwardedFor: n.http.x_forwarded_for };
      l.cfg = n;
    }
    for (const i of cfg.inbounds) if (!this.listeners.has(i.name)) await this.startListener(i);
    // Every outbound is rebuilt, so every old one is retired (a pool's health probes and timers stop;
    // connections already open through it are not touched).
    for (const o of old.outbounds.values()) if (next.outbounds.get(o.name) !== o) o.close?.();
  }

  /** Stops accepting, waits up to drainMs for live connections to finish, then closes what is left. */
  async close(drainMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tracker.draining = true;
    for (const l of this.listeners.values()) l.server.close();
    if (drainMs > 0) await this.tracker.waitEmpty(drainMs);
    this.tracker.destroyAll();
    for (const l of this.listeners.values()) l.handler.close?.();
    for (const o of this.shared?.outbounds.values() ?? []) o.close?.();
    // Last usage batch and audit records, after the sessions have ended and counted their bytes.
    await this.management?.close();
  }

  /**
   * The open sessions for the admin API, under the name of the account (not the login) they belong
   * to; in privacy mode none without addresses or times. Null without a management store.
   */
  liveSessions(): LiveSessions | null {
    const m = this.management;
    if (!m) return null;
    const accountOf = (login: string): string => m.userOf(login) ?? login;
    return {
      list: () => m.live.list(this.shared.accessLog === 'none' ? 'private' : 'full', accountOf),
      kill: (id) => m.live.kill(id),
      killUser: (name) => m.live.killUser((login) => accountOf(login) === name),
    };
  }
}

function noop(): void {}

/** TLS material of an https inbound: its files, or the self-signed pair kept in the data directory. */
function tlsFor(i: InboundConfig, dataDir: string): ReturnType<typeof loadTlsMaterial> {
  const { host } = parseListen(i.listen);
  const hosts = ['localhost', '127.0.0.1', '::1'];
  if (host !== '127.0.0.1' && host !== '0.0.0.0' && host !== '::' && host !== '::1') hosts.push(host);
  return loadTlsMaterial({ cert: i.tls?.cert, key: i.tls?.key, dataDir, inbound: i.name, hosts });
}

/**
 * Creates generated material (self-signed certificates) once, before worker processes start, so
 * that workers never race to create the same files.
 */
export function prepareDataDir(config: unknown, dataDir?: string): void {
  const cfg = validateConfig(config);
  const dir = resolve(dataDir ?? cfg.data_dir ?? process.env.FERRY_HOME ?? '.ferry');
  for (const i of cfg.inbounds) if (i.type === 'https') tlsFor(i, dir);
}

export async function startGateway(config: unknown, opts: GatewayOptions = {}): Promise<Gateway> {
  return Gateway.start(config, opts);
}

// `ferry serve`: run the gateway from a config file, from flags, or from the embedded default.
// SIGHUP (or an edit of the config file) reloads; SIGTERM/SIGINT drain and exit.
import { mkdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { FerryError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { privacyOf, type ConfigInput } from '../config/schema.js';
import { validateConfig } from '../config/load.js';
import { Gateway, prepareDataDir, type ListenerInfo } from '../server/gateway.js';
import { ClusterPrimary } from '../server/cluster.js';
import { clusterRegistry } from '../server/cluster-metrics.js';
import { adminSocketPath, localExits, startAdminSocket } from '../server/admin-socket.js';
import { defaultConfig, ensureDefaultUser, DEFAULT_LISTENERS } from '../server/default-config.js';
import { openStore } from '../control/open-store.js';
import { Metrics } from '../control/metrics.js';
import { startApiServer, type ApiServer } from '../control/api/server.js';
import type { LiveSessions } from '../control/api/live.js';
import type { Store } from '../control/store/types.js';
import { startVpnRole, type VpnRole } from '../vpn/serve-role.js';

interface ServeFlags {
  config?: string;
  dataDir?: string;
  http: string[];
  https: string[];
  socks: string[];
  mixed: string[];
  user: string[];
  allowDest: string[];
  allowOpen?: boolean;
  accessLog?: 'off' | 'audit';
  logging?: string;
  logLevel?: string;
  drainTimeout: string;
  workers?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the proxy gateway (embedded default when no --config and no listener flags)')
    .option('-c, --config <file>', 'YAML configuration file (reloaded on SIGHUP and when it changes)')
    .option('--data-dir <dir>', 'data directory (default: $FERRY_HOME or ./.ferry)')
    .option('--http <addr>', 'HTTP proxy listener, e.g. 127.0.0.1:8080 (repeatable)', collect, [])
    .option('--https <addr>', 'HTTPS proxy listener (TLS to the proxy) (repeatable)', collect, [])
    .option('--socks <addr>', 'SOCKS4/4a/5 listener (repeatable)', collect, [])
    .option('--mixed <addr>', 'HTTP and SOCKS on one port (repeatable)', collect, [])
    .option('--user <name:password>', 'a user (repeatable); replaces the generated default user', collect, [])
    .option(
      '--allow-dest <cidr|domain>',
      'allow a restricted destination (loopback, private, ...) (repeatable)',
      collect,
      [],
    )
    .option('--allow-open', 'allow listeners on non-loopback addresses without authentication')
    .option(
      '--logging <mode>',
      'privacy mode: none (no record of any connection), minimal (default), audit (record every connection)',
    )
    .option('--access-log <mode>', 'older spelling: off (= minimal) or audit')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .option('--workers <n|auto>', 'worker processes sharing the listeners (default: config workers, 1)')
    .option('--drain-timeout <seconds>', 'on SIGTERM, how long live connections may finish', '10')
    .action(async (flags: ServeFlags) => {
      await serve(flags);
    });
}

function flagListeners(
  flags: ServeFlags,
): { name: string; type: 'http' | 'https' | 'socks' | 'mixed'; listen: string }[] {
  const out: { name: string; type: 'http' | 'https' | 'socks' | 'mixed'; listen: string }[] = [];
  for (const type of ['http', 'https', 'socks', 'mixed'] as const) {
    flags[type].forEach((listen, n) => out.push({ name: n === 0 ? type : `${type}${n + 1}`, type, listen }));
  }
  return out;
}

function flagUsers(flags: ServeFlags): { name: string; password: string }[] {
  return flags.user.map((u) => {
    const i = u.indexOf(':');
    if (i <= 0 || i === u.length - 1)
      throw new FerryError('E_CONFIG', `--user '${u.slice(0, Math.max(i, 0))}…': expected NAME:PASSWORD`);
    return { name: u.slice(0, i), password: u.slice(i + 1) };
  });
}

interface Built {
  config: ConfigInput;
  newPassword?: { user: string; password: string };
}

async function buildConfig(flags: ServeFlags): Promise<Built> {
  let raw: ConfigInput;
  let newPassword: Built['newPassword'];
  const dataDir = resolve(flags.dataDir ?? process.env.FERRY_HOME ?? '.ferry');
  const listeners = flagListeners(flags);
  const users = flagUsers(flags);
  if (flags.config) {
    let text: string;
    try {
      text = readFileSync(flags.config, 'utf8');
    } catch (e) {
      throw new FerryError('E_CONFIG', `${flags.config}: cannot read: ${(e as Error).message}`);
    }
    try {
      raw = (parseYaml(text) ?? {}) as ConfigInput;
    } catch (e) {
      throw new FerryError('E_CONFIG', `${flags.config}: not valid YAML: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw))
      throw new FerryError('E_CONFIG', `${flags.config}: expected a mapping at the top level`);
    raw.data_dir ??= dataDir;
    if (listeners.length) raw.inbounds = [...(raw.inbounds ?? []), ...listeners];
    if (users.length) raw.users = [...(raw.users ?? []), ...users];
  } else {
    if (users.length) {
      raw = { data_dir: dataDir, users, inbounds: listeners.length ? listeners : DEFAULT_LISTENERS };
    } else {
      const u = await ensureDefaultUser(dataDir);
      if (u.newPassword) newPassword = { user: u.name, password: u.newPassword };
      raw = defaultConfig(dataDir, u);
      if (listeners.length) raw.inbounds = listeners.map((l) => ({ ...l, auth: true }));
    }
  }
  if (flags.allowDest.length)
    raw.router = {
      ...(raw.router ?? {}),
      allow_destinations: [...(raw.router?.allow_destinations ?? []), ...flags.allowDest],
    };
  if (flags.allowOpen) raw.inbounds = (raw.inbounds ?? []).map((i) => ({ ...i, allow_open: true }));
  if (flags.logging) {
    const l = raw.logging;
    raw.logging =
      l && typeof l === 'object' ? { ...l, mode: flags.logging as 'none' } : (flags.logging as 'none');
    if (raw.log?.access_log) raw.log = { ...raw.log, access_log: undefined };
  }
  if (flags.accessLog || flags.logLevel) {
    raw.log = {
      ...(raw.log ?? {}),
      ...(flags.accessLog ? { access_log: flags.accessLog } : {}),
      ...(flags.logLevel ? { level: flags.logLevel as 'info' } : {}),
    };
  }
  // Validate here so errors name the file.
  validateConfig(raw, flags.config ?? 'flags');
  return { config: raw, ...(newPassword ? { newPassword } : {}) };
}

/** One gateway in this process, or a cluster of workers: the same three operations. */
interface Runner {
  listeners: ListenerInfo[];
  /** The admin API's base URL, when `api:` is configured. */
  apiUrl?: string;
  reload(config: unknown): Promise<void>;
  stop(drainMs: number): Promise<void>;
}

/**
 * The management store and the admin API around a runner: the store is opened first (migrations,
 * a newer schema refused) and closed last, after the gateway has written its last usage batch.
 */
async function startRunner(config: unknown, workers: number, log: Logger): Promise<Runner> {
  const cfg = validateConfig(config);
  const dataDir = resolve(cfg.data_dir ?? process.env.FERRY_HOME ?? '.ferry');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({ dataDir, ...(cfg.store ? { store: cfg.store } : {}), log });
  // With workers the primary's own registry stays unused: /metrics sums the workers' (clusterRegistry).
  const metrics = new Metrics({ privacy: privacyOf(cfg).mode });
  let privacy = privacyOf(cfg).mode;
  let inner: Runner & { live: LiveSessions | null };
  let api: ApiServer | null = null;
  try {
    inner =
      workers <= 1
        ? await startSingle(config, dataDir, store, metrics, log)
        : await startCluster(config, workers, log);
  } catch (e) {
    await store.close();
    throw e;
  }
  try {
    if (cfg.api) {
      api = await startApiServer({
        store,
        listen: cfg.api.listen,
        ...(cfg.api.tls ? { tls: cfg.api.tls } : {}),
        log,
        metrics: workers <= 1 ? metrics : clusterRegistry(),
        metricsPublic: cfg.api.metrics_public,
        ...(inner.live ? { live: inner.live } : {}),
        status: () => ({
          workers,
          logging: privacy,
          listeners: inner.listeners.map((l) => ({ name: l.name, type: l.type, port: l.port, auth: l.auth })),
        }),
        serviceOptions: { configUsers: cfg.users.map((u) => u.name) },
      });
    }
  } catch (e) {
    await inner.stop(0);
    await store.close();
    throw e;
  }
  const apiServer = api;
  const runner = inner;
  return {
    listeners: runner.listeners,
    ...(apiServer ? { apiUrl: apiServer.url } : {}),
    async reload(c) {
      await runner.reload(c);
      privacy = privacyOf(validateConfig(c)).mode;
    },
    async stop(ms) {
      await apiServer?.close();
      await runner.stop(ms);
      await store.close();
    },
  };
}

async function startSingle(
  config: unknown,
  dataDir: string,
  store: Store,
  metrics: Metrics,
  log: Logger,
): Promise<Runner & { live: LiveSessions | null }> {
  const gw = await Gateway.start(config, { log, store, metrics });
  const admin = await startAdminSocket(
    adminSocketPath(dataDir),
    localExits(() => gw.outboundTable()),
    log,
  );
  return {
    listeners: gw.listenerInfo(),
    live: gw.liveSessions(),
    reload: (c) => gw.reload(c),
    stop: async (ms) => {
      admin.close();
      await gw.close(ms);
    },
  };
}

/** Workers each open the store and run a gateway; the primary serves the API over their sessions. */
async function startCluster(
  config: unknown,
  workers: number,
  log: Logger,
): Promise<Runner & { live: LiveSessions | null }> {
  prepareDataDir(config);
  const primary = new ClusterPrimary(workers, config, log);
  const listeners = await primary.start();
  const admin = await startAdminSocket(
    adminSocketPath(resolve(validateConfig(config).data_dir ?? process.env.FERRY_HOME ?? '.ferry')),
    primary.exitsSource(),
    log,
  );
  return {
    listeners,
    live: primary.liveSessions(),
    reload: (c) => primary.reload(c),
    stop: (ms) => {
      admin.close();
      return primary.stop(ms);
    },
  };
}

async function serve(flags: ServeFlags): Promise<void> {
  const built = await buildConfig(flags);
  const cfg = validateConfig(built.config, flags.config ?? 'flags');
  const log = createLogger({ level: cfg.log.level });
  const workerFlag = flags.workers ?? cfg.workers;
  const workers = workerFlag === 'auto' ? availableParallelism() : Number(workerFlag);
  if (!Number.isInteger(workers) || workers < 1)
    throw new FerryError('E_CONFIG', `--workers: expected a positive number or "auto"`);
  // Signal handlers go in before anything is printed: a supervisor (or a test) that sends SIGTERM
  // as soon as it sees the listener table must reach our handler, not the kernel's default action.
  let runner: Runner | null = null;
  // Awaited by stop(): a signal while the interface is being set up must still remove its nft table.
  let vpnStart: Promise<VpnRole | null> = Promise.resolve(null);
  let stopping = false;
  let watcher: FSWatcher | null = null;
  const drainMs = Math.max(0, Number(flags.drainTimeout) * 1000);
  const stop = (sig: string): void => {
    if (stopping) process.exit(1); // second signal: stop now
    stopping = true;
    watcher?.close();
    log.info({ signal: sig, drainMs }, 'draining');
    // A signal during start-up exits at once: nothing has been accepted yet.
    void (runner ? runner.stop(drainMs) : Promise.resolve())
      .then(() => vpnStart)
      .then((vpn) => vpn?.close())
      .catch((e: unknown) => log.error({ err: (e as Error).message }, 'stopping the vpn failed'))
      .then(() => {
        log.info('stopped');
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  let reloading: Promise<void> | null = null;
  const reload = (why: string): void => {
    if (reloading || !runner || stopping) return;
    const r = runner;
    reloading = (async () => {
      try {
        const next = await buildConfig(flags);
        await r.reload(next.config);
        (await vpnStart)?.warnIfChanged(validateConfig(next.config), log);
        log.info({ why }, 'configuration reloaded');
      } catch (e) {
        log.error({ why, err: (e as Error).message }, 'reload failed; keeping the previous configuration');
      } finally {
        reloading = null;
      }
    })();
  };
  process.on('SIGHUP', () => reload('SIGHUP'));

  runner = await startRunner(built.config, workers, log);
  // The VPN runs in this (primary) process only: one TUN interface, one UDP port.
  vpnStart = startVpnRole(cfg, log);
  let vpn: VpnRole | null;
  try {
    vpn = await vpnStart;
  } catch (e) {
    await runner.stop(0);
    throw e;
  }
  const out = process.stdout;
  out.write(
    `ferry: gateway running (data directory ${cfg.data_dir}${workers > 1 ? `, ${workers} workers` : ''})\n`,
  );
  for (const l of runner.listeners) {
    const hp = l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
    out.write(`  ${l.type.padEnd(6)} ${hp}  ${l.auth ? 'auth required' : 'NO AUTH'}  (${l.name})\n`);
    if (l.fingerprint256)
      out.write(`         certificate ${l.certFile}\n         SHA-256 ${l.fingerprint256}\n`);
  }
  if (runner.apiUrl) out.write(`  api    ${runner.apiUrl}/api/v1  (/metrics)\n`);
  if (vpn) out.write(vpn.banner());
  if (built.newPassword) {
    const http = runner.listeners.find((l) => l.type === 'http');
    out.write(
      `\n  Generated user: ${built.newPassword.user}\n  Password:       ${built.newPassword.password}\n` +
        `  (shown once; only its hash is stored in ${cfg.data_dir}/default-user.json — delete that file to generate a new one)\n` +
        (http
          ? `  Try: curl -x http://${built.newPassword.user}:${built.newPassword.password}@${http.host}:${http.port} http://example.com/\n`
          : '') +
        '\n',
    );
  }
  log.info({ inbounds: runner.listeners.length, workers }, 'gateway started');

  if (flags.config) {
    // Watch the directory: editors replace the file (rename), which a watch on the file would miss.
    const file = basename(flags.config);
    let timer: NodeJS.Timeout | null = null;
    try {
      watcher = watch(dirname(resolve(flags.config)), (_event, name) => {
        if (name !== file) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => reload('config file changed'), 200);
      });
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot watch the config file; reload with SIGHUP');
    }
  }
}

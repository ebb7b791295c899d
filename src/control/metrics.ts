// Prometheus metrics (prom-client), served at /metrics by the admin API listener.
//
// The data plane calls a few methods once per session event (opened, closed, refused), never per
// chunk. They only add to plain numbers in Maps keyed by the inbound's name; prom-client sees those
// numbers when it is scraped, through each metric's collect() hook. So the hot path pays a Map
// lookup and an addition, not prom-client's label hashing and validation on every call.
//
// Privacy (the `logging:` mode, docs/privacy.md): labels are configuration names (inbounds, WireGuard
// interfaces) and stable error codes, never addresses or destinations. Per-user series exist only in
// `audit` mode; switching to another mode drops them, and `forgetUser` erases one user's series.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ErrorCode } from '../core/errors.js';

export type PrivacyMode = 'none' | 'minimal' | 'audit';

/** Per-inbound totals; `active` is a level, the rest only grow. */
class InboundStats {
  opened = 0;
  active = 0;
  up = 0;
  down = 0;
  authFailures = 0;
  readonly denials = new Map<string, number>();
}

/** Codes that mean "the policy said no" (rules, destination guard, tier, quota, limits, scope). */
const DENIAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_POLICY_DENIED',
  'E_DEST_FORBIDDEN',
  'E_QUOTA',
  'E_LIMIT',
  'E_FORBIDDEN',
]);
/** Codes that mean "wrong credentials". E_AUTH_REQUIRED is the normal first 407 challenge, not a failure. */
const AUTH_FAILURE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_AUTH', 'E_AUTH_THROTTLED']);

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

export interface MetricsOptions {
  privacy?: PrivacyMode;
  /** Process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
  version?: string;
}

export class Metrics {
  readonly registry = new Registry();
  private privacy: PrivacyMode;
  private readonly inbounds = new Map<string, InboundStats>();
  private readonly errors = new Map<string, number>();
  /** Key: `${interface}\0${result}`. */
  private readonly handshakes = new Map<string, number>();
  private readonly users = new Map<string, { up: number; down: number }>();
  private readonly info: Gauge<'version' | 'privacy'>;
  private readonly version: string;

  constructor(opts: MetricsOptions = {}) {
    this.privacy = opts.privacy ?? 'minimal';
    this.version = opts.version ?? 'unknown';
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    // The collect() hooks below copy our totals into prom-client at scrape time. `self` because
    // prom-client calls collect with `this` bound to the metric.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;

    const perInbound = (name: string, help: string, pick: (s: InboundStats) => number): Counter<'inbound'> =>
      new Counter({
        name,
        help,
        labelNames: ['inbound'],
        registers,
        collect() {
          this.reset();
          for (const [inbound, s] of self.inbounds) this.inc({ inbound }, pick(s));
        },
      });

    perInbound('ferry_connections_opened_total', 'Client sessions accepted, per inbound.', (s) => s.opened);
    perInbound(
      'ferry_auth_failures_total',
      'Logins refused for wrong credentials or throttling, per inbound.',
      (s) => s.authFailures,
    );
    new Gauge({
      name: 'ferry_connections_active',
      help: 'Client sessions open now, per inbound.',
      labelNames: ['inbound'],
      registers,
      collect() {
        this.reset();
        for (const [inbound, s] of self.inbounds) this.set({ inbound }, s.active);
      },
    });
    new Counter({
      name: 'ferry_bytes_total',
      help: 'Payload bytes relayed, per inbound; direction "up" is client to destination.',
      labelNames: ['inbound', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const [inbound, s] of self.inbounds) {
          this.inc({ inbound, direction: 'up' }, s.up);
          this.inc({ inbound, direction: 'down' }, s.down);
        }
      },
    });
    new Counter({
      name: 'ferry_policy_denials_total',
      help: 'Sessions refused by policy (rules, destination guard, tier, quota, limits), per inbound and error code.',
      labelNames: ['inbound', 'code'],
      registers,
      collect() {
        this.reset();
        for (const [inbound, s] of self.inbounds)
          for (const [code, n] of s.denials) this.inc({ inbound, code }, n);
      },
    });
    new Counter({
      name: 'ferry_errors_total',
      help: 'Sessions that ended with an error, per error code (docs/errors.md), denials and auth failures included.',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of self.errors) this.inc({ code }, n);
      },
    });
    new Counter({
      name: 'ferry_wireguard_handshakes_total',
      help: 'WireGuard handshakes, per interface; result "ok" (session keys derived) or "rejected".',
      labelNames: ['interface', 'result'],
      registers,
      collect() {
        this.reset();
        for (const [key, n] of self.handshakes) {
          const i = key.indexOf('\0');
          this.inc({ interface: key.slice(0, i), result: key.slice(i + 1) }, n);
        }
      },
    });
    new Counter({
      name: 'ferry_user_bytes_total',
      help: 'Payload bytes per user (only in logging mode "audit").',
      labelNames: ['user', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const [user, b] of self.users) {
          this.inc({ user, direction: 'up' }, b.up);
          this.inc({ user, direction: 'down' }, b.down);
        }
      },
    });
    this.info = new Gauge({
      name: 'ferry_info',
      help: 'Always 1; labels carry the version and the logging (privacy) mode.',
      labelNames: ['version', 'privacy'],
      registers,
      // Workers all report it; summed over them (cluster /metrics) it would read N, not 1.
      aggregator: 'first',
    });
    this.info.set({ version: this.version, privacy: this.privacy }, 1);
  }

  /** Changes the privacy mode (config reload). Leaving `audit` drops every per-user series. */
  setPrivacy(mode: PrivacyMode): void {
    if (mode === this.privacy) return;
    this.privacy = mode;
    if (mode !== 'audit') this.users.clear();
    this.info.reset();
    this.info.set({ version: this.version, privacy: mode }, 1);
  }

  /** Registers an inbound so that its series show (as zeros) before its first session. */
  declareInbound(inbound: string): void {
    this.stats(inbound);
  }

  private stats(inbound: string): InboundStats {
    let s = this.inbounds.get(inbound);
    if (!s) this.inbounds.set(inbound, (s = new InboundStats()));
    return s;
  }

  /** A client session was accepted (after the connection limit check, before authentication). */
  sessionOpened(inbound: string): void {
    const s = this.stats(inbound);
    s.opened++;
    s.active++;
  }

  /**
   * The session ended. `up`/`down` are its bytes not yet reported through addBytes; `user` is the
   * authenticated user or null. Call exactly once per sessionOpened, whatever the outcome.
   */
  sessionClosed(inbound: string, up: number, down: number, user: string | null): void {
    const s = this.stats(inbound);
    if (s.active > 0) s.active--;
    if (up > 0 || down > 0) this.addBytes(inbound, up, down, user);
  }

  /** Bytes of a session still open (e.g. from the usage writer's periodic flush of long tunnels). */
  addBytes(inbound: string, up: number, down: number, user: string | null): void {
    const s = this.stats(inbound);
    s.up += up;
    s.down += down;
    if (user !== null && this.privacy === 'audit') {
      const u = this.users.get(user);
      if (u) {
        u.up += up;
        u.down += down;
      } else this.users.set(user, { up, down });
    }
  }

  /** Wrong credentials (E_AUTH) or a throttled login (E_AUTH_THROTTLED). */
  authFailed(inbound: string, code: ErrorCode = 'E_AUTH'): void {
    this.stats(inbound).authFailures++;
    add(this.errors, code, 1);
  }

  /** Refused by policy: E_POLICY_DENIED, E_DEST_FORBIDDEN, E_QUOTA, E_LIMIT, ... */
  denied(inbound: string, code: ErrorCode): void {
    add(this.stats(inbound).denials, code, 1);
    add(this.errors, code, 1);
  }

  /** Any other failure of a session (upstream unreachable, timeouts, protocol errors). */
  error(code: ErrorCode): void {
    add(this.errors, code, 1);
  }

  /** One call for any failed session: sorts the code into auth failure, denial or other error. */
  failed(inbound: string, code: ErrorCode): void {
    if (AUTH_FAILURE_CODES.has(code)) this.authFailed(inbound, code);
    else if (DENIAL_CODES.has(code)) this.denied(inbound, code);
    else this.error(code);
  }

  /** A WireGuard handshake on `iface`: completed (true) or rejected (bad MAC, replay, unknown peer). */
  handshake(iface: string, ok: boolean): void {
    add(this.handshakes, `${iface}\0${ok ? 'ok' : 'rejected'}`, 1);
  }

  /** Erases a user's series (user removed or forgotten). */
  forgetUser(user: string): void {
    this.users.delete(user);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition (format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

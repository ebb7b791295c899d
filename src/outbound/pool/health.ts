// Active health probes: every interval, each member of a pool is probed through itself — a TCP
// connect to a target (default: the member's own upstream proxy), or an HTTP GET of a URL through
// the member, expecting a 2xx/3xx status. Results feed Member.probeResult; an ejected member comes
// back only when a probe succeeds. Probes of one pool never overlap.
import { FerryError } from '../../core/errors.js';
import { makeDestination, newSessionId, type Destination, type Session } from '../../core/session.js';
import { ALLOW_ALL } from '../../router/address-guard.js';
import { DirectOutbound } from '../direct.js';
import type { Member } from './member.js';

const PROBE_DIRECT = new DirectOutbound({ name: 'probe' });

export type Probe =
  | { kind: 'connect'; target: Destination | null }
  | { kind: 'http'; target: Destination; path: string; hostHeader: string };

/** "tcp", "tcp://host:port" or "http://host[:port]/path" (https is not probed). */
export function parseProbe(text: string): Probe {
  if (text === 'tcp') return { kind: 'connect', target: null };
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`'${text}' is not a probe: use tcp, tcp://host:port or http://host/path`);
  }
  if (u.protocol === 'tcp:') {
    if (!u.port) throw new Error(`probe '${text}' needs a port`);
    return { kind: 'connect', target: makeDestination(u.hostname, Number(u.port)) };
  }
  if (u.protocol === 'http:') {
    const port = u.port ? Number(u.port) : 80;
    return {
      kind: 'http',
      target: makeDestination(u.hostname, port),
      path: (u.pathname || '/') + u.search,
      hostHeader: u.host,
    };
  }
  throw new Error(`probe '${text}': only tcp:// and http:// probes are supported`);
}

export class Prober {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly members: readonly Member[],
    private readonly probe: Probe,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    /** Told after every probe (a cluster primary passes the new state on to its workers). */
    private readonly onResult: ((m: Member) => void) | null = null,
  ) {}

  start(): void {
    if (this.timer !== null || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.round(), this.intervalMs);
    this.timer.unref();
    void this.round();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Probes every member once (in parallel); resolves when all are done. */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await Promise.all(this.members.map((m) => this.probeOne(m)));
    } finally {
      this.running = false;
    }
  }

  private async probeOne(m: Member): Promise<void> {
    const t0 = Date.now();
    try {
      await probeMember(m, this.probe, this.timeoutMs);
      m.probeResult(true, Date.now() - t0, null, Date.now());
    } catch (err) {
      m.probeResult(false, 0, (err as Error).message, Date.now());
    }
    this.onResult?.(m);
  }
}

export async function probeMember(m: Member, probe: Probe, timeoutMs: number): Promise<void> {
  const server = (m.outbound as { serverAddress?: Destination }).serverAddress;
  const target = probe.target ?? server;
  if (!target)
    throw new FerryError('E_CONFIG', `member ${m.name}: a tcp probe needs a target (tcp://host:port)`);
  const session: Session = {
    id: newSessionId(),
    inbound: 'health-probe',
    user: null,
    source: { address: '', port: 0 },
    dest: target,
    command: probe.kind === 'http' ? 'http' : 'connect',
  };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    // A bare "tcp" probe of an upstream member checks the proxy itself is listening: dialing the
    // proxy's own address *through* the proxy would test something else.
    const sock =
      probe.target === null
        ? await connectOnly(target, timeoutMs, ac.signal)
        : await m.outbound.dial(target, {
            guard: ALLOW_ALL,
            connectTimeoutMs: timeoutMs,
            session,
            signal: ac.signal,
          });
    if (probe.kind === 'connect') {
      sock.destroy();
      return;
    }
    await httpGet(sock, probe, ac.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function connectOnly(
  target: Destination,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<import('node:net').Socket> {
  const s: Session = {
    id: 0,
    inbound: 'health-probe',
    user: null,
    source: { address: '', port: 0 },
    dest: target,
    command: 'connect',
  };
  return PROBE_DIRECT.dial(target, { guard: ALLOW_ALL, connectTimeoutMs: timeoutMs, session: s, signal });
}

/** One GET; resolves on a 2xx/3xx status line, rejects otherwise. The socket is closed either way. */
function httpGet(
  sock: import('node:net').Socket,
  probe: Extract<Probe, { kind: 'http' }>,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let head = '';
    const done = (err: Error | null): void => {
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => done(new Error('probe timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error('closed before a status line')));
    sock.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const eol = head.indexOf('\n');
      if (eol < 0) {
        if (head.length > 1024) done(new Error('no status line'));
        return;
      }
      const m = /^HTTP\/1\.[01] ([0-9]{3})/.exec(head);
      const status = m ? Number(m[1]) : 0;
      done(status >= 200 && status < 400 ? null : new Error(`probe answered ${status || 'garbage'}`));
    });
    sock.write(
      `GET ${probe.path} HTTP/1.1\r\nHost: ${probe.hostHeader}\r\nUser-Agent: ferry-health\r\nConnection: close\r\n\r\n`,
      'latin1',
    );
  });
}

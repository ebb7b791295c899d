// Source-address exits: a direct outbound that connects from one of several local addresses
// (round-robin), or from a random address of an IPv6 prefix routed to this host — the "any IP"
// setup, which gives every connection (or request) its own address out of a /64 or larger:
//
//   sysctl -w net.ipv6.ip_nonlocal_bind=1      # bind() to addresses not configured on an interface
//   ip -6 route replace local PREFIX dev lo     # and accept traffic for the whole prefix locally
//
// plus the provider routing PREFIX to this host (or NDP proxying on the uplink). With
// `ipv6_prefix_setup: true` Ferry runs the first two itself at start (it needs CAP_NET_ADMIN);
// docs/exits.md has the details. The prefix applies to IPv6 destinations; IPv4 destinations use
// `source_addresses` (or the system's choice when none is IPv4).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { FerryError } from '../core/errors.js';
import type { Destination, Session } from '../core/session.js';
import { DirectOutbound } from './direct.js';
import type { DialOptions, Outbound, UdpFlow } from './outbound.js';

export interface SourceAddressConfig {
  name: string;
  /** Local addresses to rotate through (IPv4 and/or IPv6). */
  addresses?: string[] | undefined;
  /** An IPv6 prefix routed to this host: each connection binds a random address in it. */
  ipv6Prefix?: string | undefined;
  /** Configure nonlocal bind and the local route for the prefix at start. */
  setup?: boolean | undefined;
  /** connection (default): a new address per connection; request: per HTTP request, too. */
  rotation?: 'connection' | 'request' | undefined;
}

interface Prefix {
  bytes: Uint8Array;
  bits: number;
  text: string;
}

export class SourceAddressOutbound implements Outbound {
  readonly kind = 'direct';
  readonly name: string;
  private readonly v4: string[];
  private readonly v6: string[];
  private readonly prefix: Prefix | null;
  private next4 = 0;
  private next6 = 0;
  /** One direct outbound per fixed address; prefix addresses get a fresh one per connection. */
  private readonly fixed = new Map<string, DirectOutbound>();

  constructor(private readonly cfg: SourceAddressConfig) {
    this.name = cfg.name;
    const addrs = cfg.addresses ?? [];
    for (const a of addrs)
      if (!isIP(a))
        throw new FerryError('E_CONFIG', `outbound ${cfg.name}: source address '${a}' is not an IP address`);
    this.v4 = addrs.filter((a) => isIP(a) === 4);
    this.v6 = addrs.filter((a) => isIP(a) === 6);
    this.prefix = cfg.ipv6Prefix !== undefined ? parsePrefix(cfg.name, cfg.ipv6Prefix) : null;
    if (this.v4.length + this.v6.length === 0 && this.prefix === null)
      throw new FerryError('E_CONFIG', `outbound ${cfg.name}: give source_addresses or ipv6_prefix`);
    if (this.prefix !== null && cfg.setup === true) setupNonlocalPrefix(cfg.name, this.prefix.text);
  }

  /** rotation: request — each HTTP request gets its own source address (no keep-alive pinning). */
  selectExit(session: Session): void {
    if (this.cfg.rotation !== 'request' || session.exit !== undefined) return;
    session.exit = this.chooseBinding().join(',');
  }

  async dial(dest: Destination, opts: DialOptions): Promise<Socket> {
    const bind = opts.session.exit !== undefined ? opts.session.exit.split(',') : this.chooseBinding();
    return this.direct(bind).dial(dest, opts);
  }

  async openUdp(opts: Omit<DialOptions, 'connectTimeoutMs'>): Promise<UdpFlow> {
    return this.direct(this.chooseBinding()).openUdp(opts);
  }

  /** One IPv4 and/or one IPv6 source address for the next connection. */
  chooseBinding(): string[] {
    const out: string[] = [];
    if (this.v4.length > 0) out.push(this.v4[this.next4++ % this.v4.length]!);
    if (this.prefix !== null) out.push(randomInPrefix(this.prefix));
    else if (this.v6.length > 0) out.push(this.v6[this.next6++ % this.v6.length]!);
    return out;
  }

  private direct(bind: string[]): DirectOutbound {
    const key = bind.join(',');
    const f = this.fixed.get(key);
    if (f !== undefined) return f;
    const d = new DirectOutbound({ name: this.name, bind });
    // Cache only fixed addresses; random prefix addresses are used once.
    if (this.prefix === null || !bind.some((a) => isIP(a) === 6)) this.fixed.set(key, d);
    return d;
  }
}

function parsePrefix(name: string, text: string): Prefix {
  const [addr, len] = text.split('/');
  const bits = Number(len);
  if (!addr || !ipaddr.IPv6.isValid(addr) || !Number.isInteger(bits) || bits < 8 || bits > 124)
    throw new FerryError(
      'E_CONFIG',
      `outbound ${name}: ipv6_prefix '${text}' is not an IPv6 prefix like 2001:db8:1::/64`,
    );
  return { bytes: Uint8Array.from(ipaddr.IPv6.parse(addr).toByteArray()), bits, text };
}

/** A random address inside the prefix, never the all-zeros host part (RFC 4291 §2.6.1 anycast). */
export function randomInPrefix(p: { bytes: Uint8Array; bits: number }): string {
  for (;;) {
    const r = randomBytes(16);
    let zero = true;
    for (let i = 0; i < 16; i++) {
      const keep = Math.max(0, Math.min(8, p.bits - i * 8));
      const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
      r[i] = (p.bytes[i]! & mask) | (r[i]! & ~mask & 0xff);
      if ((r[i]! & ~mask & 0xff) !== 0) zero = false;
    }
    if (!zero) return ipaddr.fromByteArray([...r]).toString();
  }
}

/**
 * Lets this host bind any address of `prefix` (net.ipv6.ip_nonlocal_bind, per network namespace)
 * and deliver traffic to the prefix locally (a `local` route on lo). Idempotent.
 */
export function setupNonlocalPrefix(name: string, prefix: string): void {
  try {
    writeFileSync('/proc/sys/net/ipv6/ip_nonlocal_bind', '1');
  } catch (e) {
    throw new FerryError(
      'E_CONFIG',
      `outbound ${name}: cannot set net.ipv6.ip_nonlocal_bind=1 (${(e as Error).message}); run as root or set it yourself and drop ipv6_prefix_setup`,
    );
  }
  const r = spawnSync('ip', ['-6', 'route', 'replace', 'local', prefix, 'dev', 'lo'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new FerryError(
      'E_CONFIG',
      `outbound ${name}: 'ip -6 route replace local ${prefix} dev lo' failed: ${(r.stderr || r.error?.message || '').trim()}`,
    );
}

// What an inbound produces: who asks (identity, source), for what (destination), through which
// listener. The router decides on a Session; outbounds dial its Destination.
import { isIP } from 'node:net';

export type AddressKind = 'ipv4' | 'ipv6' | 'domain';

export interface Destination {
  /** A host name (lower-cased, no trailing dot) or an IP literal (IPv6 without brackets). */
  host: string;
  port: number;
  kind: AddressKind;
}

export interface Source {
  address: string;
  port: number;
}

export type Command = 'connect' | 'http' | 'udp' | 'bind';

/** What kind of access an inbound gives, as service tiers name it. */
export type InboundKind = 'proxy' | 'vpn' | 'encrypted';

/**
 * One finished session as the data plane reports it and the management store keeps it (`audit`
 * logging mode only; no other mode produces one).
 */
export interface SessionRecord {
  at: number;
  user: string | null;
  inbound: string;
  source: string;
  destination: string;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  decision: string;
}

export interface Session {
  id: number;
  inbound: string;
  /** The authenticated user, or null on an inbound without authentication. */
  user: string | null;
  source: Source;
  dest: Destination;
  command: Command;
  /**
   * Exit parameters from the login name (`alice-country-us-session-abc`), moved here from `user` by
   * applyLoginParams before routing (see auth/username-params.ts).
   */
  params?: Readonly<Record<string, string>>;
  /**
   * The pool member chosen for this session when the exit is pinned (per-request rotation, sticky
   * session, interval, tag filter); set by Outbound.selectExit/dial. See outbound/pool/pool.ts.
   */
  exit?: string;
}

let nextId = 1;
export function newSessionId(): number {
  return nextId++;
}

/** Builds a Destination from a host string as found in a request (brackets allowed for IPv6). */
export function makeDestination(rawHost: string, port: number): Destination {
  let host = rawHost;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const v = isIP(host);
  if (v === 4) return { host, port, kind: 'ipv4' };
  if (v === 6) return { host: host.toLowerCase(), port, kind: 'ipv6' };
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return { host, port, kind: 'domain' };
}

/** host:port with brackets for IPv6, as used in logs and Host headers. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A domain name as accepted from clients: RFC 1035 lengths, letters/digits/hyphen/underscore. */
export function isValidDomain(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split('.');
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) return false;
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i.test(l)) return false;
  }
  return true;
}

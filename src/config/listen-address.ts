// Listen addresses: "HOST:PORT", "[IPv6]:PORT" or ":PORT" (meaning 127.0.0.1 — Ferry never binds all
// interfaces unless asked with 0.0.0.0 or [::]).
import { isIP } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`'${text}': port must be 0-65535`);
  if (m[1] !== undefined && isIP(host) !== 6)
    throw new Error(`'${text}': bracketed host must be an IPv6 address`);
  return { host, port };
}

/** True when the address is only reachable from this host. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host.toLowerCase().startsWith('::ffff:127.');
  return false;
}

// The cross-platform userspace configuration protocol ("UAPI") that `wg(8)` speaks to userspace
// WireGuard implementations over /var/run/wireguard/<ifname>.sock.
// Spec: https://www.wireguard.com/xplatform/#configuration-protocol
//
// This module is pure: it parses and serialises, and applies a `set` operation to an abstract
// UapiTarget one line at a time. It knows no sockets and no Device; src/wireguard/io/ adapts those.
//
// Behaviour follows the reference implementation (wireguard-go, device/uapi.go) where the spec is
// silent, because `wg`, `wg-quick` and every GUI are tested against it:
//  - a `set` is applied line by line; the first error stops it and earlier lines stay applied (there
//    is no transaction), and the reply is `errno=<negative errno>`;
//  - a line without '=' is -EPROTO, an unknown key or a malformed value is -EINVAL, a listen port or
//    fwmark that cannot be applied to the socket is -EADDRINUSE;
//  - `public_key` creates the peer at once; `update_only=true` then undoes the creation;
//  - a `public_key` equal to the device's own public key selects a placeholder that swallows the
//    peer's lines (a device cannot be its own peer);
//  - boolean keys accept only the literal `true`.

export const UAPI_ERRNO = {
  IO: -5, // EIO
  PROTOCOL: -71, // EPROTO
  INVALID: -22, // EINVAL
  PORT_IN_USE: -98, // EADDRINUSE
  UNKNOWN: -55, // ENOANO, wireguard-go's catch-all
} as const;

export class UapiError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'UapiError';
  }
}

export interface UapiEndpoint {
  address: string;
  port: number;
}

export interface UapiPeerState {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: UapiEndpoint | null;
  persistentKeepalive: number;
  allowedIps: string[];
  lastHandshakeWallMs: number;
  rxBytes: number;
  txBytes: number;
}

export interface UapiDeviceState {
  privateKey: Uint8Array | null;
  listenPort: number;
  fwmark: number;
  peers: UapiPeerState[];
}

export interface UapiPeerChange {
  presharedKey?: Uint8Array | null;
  endpoint?: UapiEndpoint;
  persistentKeepalive?: number;
}

/** What a `set` operation acts on. Methods may throw UapiError to choose the errno. */
export interface UapiTarget {
  publicKey(): Uint8Array | null;
  setPrivateKey(key: Uint8Array | null): void;
  setListenPort(port: number): void | Promise<void>;
  setFwmark(mark: number): void | Promise<void>;
  removeAllPeers(): void;
  hasPeer(publicKey: Uint8Array): boolean;
  createPeer(publicKey: Uint8Array): void;
  removePeer(publicKey: Uint8Array): void;
  updatePeer(publicKey: Uint8Array, change: UapiPeerChange): void;
  clearAllowedIps(publicKey: Uint8Array): void;
  addAllowedIp(publicKey: Uint8Array, cidr: string): void;
  /** Current persistent keepalive interval of a peer, to detect the off->on transition. */
  persistentKeepaliveOf?(publicKey: Uint8Array): number;
  /** After the last line about a peer: start it, and send a keepalive if keepalive was just enabled. */
  peerConfigured?(publicKey: Uint8Array, info: { created: boolean; keepaliveEnabled: boolean }): void;
}

// ---------------------------------------------------------------------------------------------
// Values

const HEX = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]! >> 4]! + HEX[bytes[i]! & 15]!;
  return s;
}

/** Exactly 32 bytes as 64 hex digits (either case), as wireguard-go's FromHex. */
export function parseKey(value: string): Uint8Array {
  if (value.length !== 64 || !/^[0-9a-fA-F]*$/.test(value)) {
    throw new UapiError(UAPI_ERRNO.INVALID, `invalid key: expected 64 hex digits`);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(value.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function isZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

export function keysEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (!a || !b || a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}

function parseUint(value: string, bits: 16 | 32, what: string): number {
  // Decimal only, like strconv.ParseUint(value, 10, bits): no sign, no spaces, no empty string.
  if (!/^[0-9]+$/.test(value)) throw new UapiError(UAPI_ERRNO.INVALID, `invalid ${what}: '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n > (bits === 16 ? 0xffff : 0xffffffff)) {
    throw new UapiError(UAPI_ERRNO.INVALID, `invalid ${what}: '${value}' out of range`);
  }
  return n;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function parseIPv4(s: string): Uint8Array | null {
  if (!IPV4.test(s)) return null;
  return Uint8Array.from(s.split('.').map(Number));
}

/** RFC 4291 section 2.2 text forms, including an embedded dotted quad; no zone. */
export function parseIPv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45 || s.includes('%')) return null;
  let head = s;
  let tail4: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    tail4 = parseIPv4(s.slice(lastColon + 1));
    if (!tail4) return null;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const parts = head.split('::');
  if (parts.length > 2) return null;
  const group = (p: string): number[] | null => {
    if (p === '') return [];
    const out: number[] = [];
    for (const g of p.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = group(parts[0]!);
  const right = parts.length === 2 ? group(parts[1]!) : [];
  if (!left || !right) return null;
  const total = left.length + right.length;
  if (parts.length === 1 ? total !== 8 : total > 7) return null;
  const words = [...left, ...new Array<number>(8 - total).fill(0), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = words[i]! >> 8;
    out[i * 2 + 1] = words[i]! & 0xff;
  }
  if (tail4) out.set(tail4, 12);
  return out;
}

/** RFC 5952 canonical text: lower case, longest run (>1) of zero words compressed, first on a tie. */
export function formatIPv6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  // IPv4-mapped addresses keep the dotted quad, as most tools print them.
  if (bestAt === 0 && bestLen === 5 && w[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}

/**
 * An allowed-IP prefix `addr/bits` (bits mandatory, decimal without leading zeros). Returned in
 * canonical form with the host bits cleared, which is how the routing table stores it.
 */
export function parseAllowedIp(value: string): string {
  const slash = value.indexOf('/');
  const bad = (): never => {
    throw new UapiError(UAPI_ERRNO.INVALID, `invalid allowed IP '${value}'`);
  };
  if (slash < 0) return bad();
  const addr = value.slice(0, slash);
  const bitsText = value.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(bitsText)) return bad();
  const bits = Number(bitsText);
  const v4 = parseIPv4(addr);
  const bytes = v4 ?? parseIPv6(addr);
  if (!bytes || bits > bytes.length * 8) return bad();
  const masked = Uint8Array.from(bytes);
  for (let i = 0; i < masked.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    masked[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return `${v4 ? Array.from(masked).join('.') : formatIPv6(masked)}/${bits}`;
}

/** `a.b.c.d:port` or `[v6]:port` (a zone `%ifname` is allowed inside the brackets). */
export function parseEndpoint(value: string): UapiEndpoint {
  const bad = (): never => {
    throw new UapiError(UAPI_ERRNO.INVALID, `invalid endpoint '${value}'`);
  };
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') return bad();
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    const pct = host.indexOf('%');
    const base = pct >= 0 ? host.slice(0, pct) : host;
    if (!parseIPv6(base) || (pct >= 0 && pct === host.length - 1)) return bad();
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return bad();
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (!parseIPv4(host)) return bad();
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 0xffff) return bad();
  return { address: host, port: Number(portText) };
}

export function formatEndpoint(ep: UapiEndpoint): string {
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

// ---------------------------------------------------------------------------------------------
// get

/** The body of a `get=1` reply, without the trailing `errno=0` line. */
export function serializeGet(state: UapiDeviceState): string {
  const lines: string[] = [];
  if (state.privateKey && !isZero(state.privateKey)) lines.push(`private_key=${toHex(state.privateKey)}`);
  if (state.listenPort !== 0) lines.push(`listen_port=${state.listenPort}`);
  if (state.fwmark !== 0) lines.push(`fwmark=${state.fwmark}`);
  for (const p of state.peers) {
    lines.push(`public_key=${toHex(p.publicKey)}`);
    lines.push(`preshared_key=${toHex(p.presharedKey ?? new Uint8Array(32))}`);
    lines.push('protocol_version=1');
    if (p.endpoint) lines.push(`endpoint=${formatEndpoint(p.endpoint)}`);
    const ms = Math.max(0, Math.floor(p.lastHandshakeWallMs));
    lines.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    lines.push(`last_handshake_time_nsec=${(ms % 1000) * 1_000_000}`);
    lines.push(`tx_bytes=${p.txBytes}`);
    lines.push(`rx_bytes=${p.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    for (const ip of p.allowedIps) lines.push(`allowed_ip=${ip}`);
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** Parses a `get` reply (for clients such as `ferry wg show`). Throws UapiError on errno != 0. */
export function parseGetReply(text: string): UapiDeviceState {
  const state: UapiDeviceState = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  let peer: UapiPeerState | null = null;
  let nsec = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UapiError(UAPI_ERRNO.PROTOCOL, `malformed reply line '${line}'`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    switch (key) {
      case 'errno':
        if (value !== '0') throw new UapiError(Number(value), `device replied errno=${value}`);
        break;
      case 'private_key':
        state.privateKey = parseKey(value);
        break;
      case 'listen_port':
        state.listenPort = Number(value);
        break;
      case 'fwmark':
        state.fwmark = Number(value);
        break;
      case 'public_key':
        peer = {
          publicKey: parseKey(value),
          presharedKey: null,
          endpoint: null,
          persistentKeepalive: 0,
          allowedIps: [],
          lastHandshakeWallMs: 0,
          rxBytes: 0,
          txBytes: 0,
        };
        nsec = 0;
        state.peers.push(peer);
        break;
      default:
        if (!peer) break; // unknown device keys are ignored, as wg(8) does
        switch (key) {
          case 'preshared_key': {
            const k = parseKey(value);
            peer.presharedKey = isZero(k) ? null : k;
            break;
          }
          case 'endpoint':
            peer.endpoint = parseEndpoint(value);
            break;
          case 'last_handshake_time_sec':
            peer.lastHandshakeWallMs = Number(value) * 1000 + Math.floor(nsec / 1e6);
            break;
          case 'last_handshake_time_nsec':
            nsec = Number(value);
            peer.lastHandshakeWallMs =
              Math.floor(peer.lastHandshakeWallMs / 1000) * 1000 + Math.floor(nsec / 1e6);
            break;
          case 'tx_bytes':
            peer.txBytes = Number(value);
            break;
          case 'rx_bytes':
            peer.rxBytes = Number(value);
            break;
          case 'persistent_keepalive_interval':
            peer.persistentKeepalive = Number(value);
            break;
          case 'allowed_ip':
            peer.allowedIps.push(value);
            break;
        }
    }
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// set

interface SelectedPeer {
  publicKey: Uint8Array;
  /** Lines about this peer are accepted and ignored (own key, removed, or update_only miss). */
  placeholder: boolean;
  created: boolean;
  keepaliveEnabled: boolean;
}

/**
 * One `set=1` operation. Feed it the lines after `set=1` (without newline) until the empty line,
 * then call finish(). line() rejects with UapiError; the caller replies with its errno and must not
 * feed further lines of this operation.
 */
export class UapiSetOperation {
  private deviceSection = true;
  private peer: SelectedPeer | null = null;

  constructor(private readonly target: UapiTarget) {}

  async line(line: string): Promise<void> {
    const eq = line.indexOf('=');
    if (eq < 0) throw new UapiError(UAPI_ERRNO.PROTOCOL, `failed to parse line '${line}'`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      this.deviceSection = false;
      this.closePeer();
      this.selectPeer(value);
      return;
    }
    if (this.deviceSection) await this.deviceLine(key, value);
    else this.peerLine(key, value);
  }

  /** The empty line (or end of input): runs the post-configuration step of the last peer. */
  finish(): void {
    this.closePeer();
  }

  private async deviceLine(key: string, value: string): Promise<void> {
    const t = this.target;
    switch (key) {
      case 'private_key': {
        const k = parseKey(value);
        t.setPrivateKey(isZero(k) ? null : k);
        return;
      }
      case 'listen_port': {
        const port = parseUint(value, 16, 'listen_port');
        await wrapPortError(() => t.setListenPort(port), 'listen_port');
        return;
      }
      case 'fwmark': {
        const mark = parseUint(value, 32, 'fwmark');
        await wrapPortError(() => t.setFwmark(mark), 'fwmark');
        return;
      }
      case 'replace_peers':
        requireTrue(key, value);
        t.removeAllPeers();
        return;
      default:
        throw new UapiError(UAPI_ERRNO.INVALID, `invalid UAPI device key: ${key}`);
    }
  }

  private selectPeer(value: string): void {
    const pk = parseKey(value);
    const own = this.target.publicKey();
    if (own && keysEqual(own, pk)) {
      this.peer = { publicKey: pk, placeholder: true, created: false, keepaliveEnabled: false };
      return;
    }
    const created = !this.target.hasPeer(pk);
    if (created) this.target.createPeer(pk);
    this.peer = { publicKey: pk, placeholder: false, created, keepaliveEnabled: false };
  }

  private peerLine(key: string, value: string): void {
    const p = this.peer!;
    const t = this.target;
    switch (key) {
      case 'update_only':
        requireTrue(key, value);
        if (p.created && !p.placeholder) {
          t.removePeer(p.publicKey);
          p.placeholder = true;
        }
        return;
      case 'remove':
        requireTrue(key, value);
        if (!p.placeholder) t.removePeer(p.publicKey);
        p.placeholder = true;
        return;
      case 'preshared_key': {
        const k = parseKey(value);
        if (!p.placeholder) t.updatePeer(p.publicKey, { presharedKey: isZero(k) ? null : k });
        return;
      }
      case 'endpoint': {
        const ep = parseEndpoint(value);
        if (!p.placeholder) t.updatePeer(p.publicKey, { endpoint: ep });
        return;
      }
      case 'persistent_keepalive_interval': {
        const secs = parseUint(value, 16, 'persistent_keepalive_interval');
        if (p.placeholder) return;
        // "Send immediate keepalive if we're turning it on": only on the off->on transition.
        const before = this.currentKeepalive(p.publicKey);
        t.updatePeer(p.publicKey, { persistentKeepalive: secs });
        p.keepaliveEnabled = before === 0 && secs !== 0;
        return;
      }
      case 'replace_allowed_ips':
        requireTrue(key, value);
        if (!p.placeholder) t.clearAllowedIps(p.publicKey);
        return;
      case 'allowed_ip': {
        const cidr = parseAllowedIp(value);
        if (!p.placeholder) t.addAllowedIp(p.publicKey, cidr);
        return;
      }
      case 'protocol_version':
        if (value !== '1') throw new UapiError(UAPI_ERRNO.INVALID, `invalid protocol version: ${value}`);
        return;
      default:
        throw new UapiError(UAPI_ERRNO.INVALID, `invalid UAPI peer key: ${key}`);
    }
  }

  private currentKeepalive(pk: Uint8Array): number {
    return this.target.persistentKeepaliveOf?.(pk) ?? 0;
  }

  private closePeer(): void {
    const p = this.peer;
    this.peer = null;
    if (!p || p.placeholder) return;
    this.target.peerConfigured?.(p.publicKey, { created: p.created, keepaliveEnabled: p.keepaliveEnabled });
  }
}

function requireTrue(key: string, value: string): void {
  if (value !== 'true')
    throw new UapiError(UAPI_ERRNO.INVALID, `failed to set ${key}, invalid value: ${value}`);
}

async function wrapPortError(fn: () => void | Promise<void>, what: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof UapiError) throw e;
    throw new UapiError(UAPI_ERRNO.PORT_IN_USE, `failed to set ${what}: ${(e as Error).message}`);
  }
}

/** Applies a whole `set` body (lines joined by '\n'); returns the errno to reply with. */
export async function applySet(
  target: UapiTarget,
  body: string,
): Promise<{ errno: number; message?: string }> {
  const op = new UapiSetOperation(target);
  for (const line of body.split('\n')) {
    if (line === '') break;
    try {
      await op.line(line);
    } catch (e) {
      if (e instanceof UapiError) return { errno: e.errno, message: e.message };
      return { errno: UAPI_ERRNO.UNKNOWN, message: String(e) };
    }
  }
  op.finish();
  return { errno: 0 };
}

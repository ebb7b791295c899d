// wg(8) configuration files (`wg setconf`/`wg showconf` format, CONFIGURATION FILE FORMAT in wg(8)),
// plus the wg-quick(8) additions: Address and MTU (honoured by `ferry wg up`), and DNS, Table,
// Pre/PostUp/Down, SaveConfig and Ferry's KillSwitch, which `ferry up` honours and `ferry wg up`
// reports as ignored rather than silently dropping.
//
// Pure: parsing and conversion to UAPI `set` lines. Host names in Endpoint are resolved by the caller.
import { parseAllowedIp, toHex, UapiError } from '../uapi/protocol.js';

export interface WgPeerConfig {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  allowedIps: string[];
  /** As written: `host:port` or `[v6]:port`; host may be a name. */
  endpoint: string | null;
  persistentKeepalive: number;
}

export interface WgConfig {
  privateKey: Uint8Array | null;
  listenPort: number | null;
  fwmark: number | null;
  peers: WgPeerConfig[];
  /** wg-quick keys. */
  addresses: string[];
  mtu: number | null;
  /** wg-quick keys that only `ferry up` acts on (`ferry wg up` lists them in `ignored`). */
  quick: WgQuickConfig;
  ignored: string[];
}

export interface WgQuickConfig {
  /** DNS = entries that are IP addresses (nameservers). */
  dns: string[];
  /** DNS = entries that are not addresses: search domains (wg-quick(8), DNS). */
  dnsSearch: string[];
  /** Table = as written ('auto', 'off' or a number); null when absent (= auto). */
  table: string | null;
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig: boolean;
  /** KillSwitch = true|false (Ferry's own key); null when absent. */
  killSwitch: boolean | null;
}

export class ConfigError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

const WG_QUICK_ONLY = new Set([
  'dns',
  'table',
  'preup',
  'postup',
  'predown',
  'postdown',
  'saveconfig',
  'killswitch',
]);

function parseBool(v: string, what: string, line: number): boolean {
  const t = v.toLowerCase();
  if (t === 'true' || t === 'yes' || t === 'on' || t === '1') return true;
  if (t === 'false' || t === 'no' || t === 'off' || t === '0') return false;
  throw new ConfigError(line, `${what} must be true or false, not '${v}'`);
}

const IP_TEXT = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i;

/** Decodes a standard base64 WireGuard key (44 characters, 32 bytes). */
export function decodeKey(text: string): Uint8Array {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(t))
    throw new Error('a key is 44 characters of base64 (32 bytes)');
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function encodeKey(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}

function parseNumberOrOff(v: string, max: number, what: string, line: number): number {
  if (v.toLowerCase() === 'off') return 0;
  // wg(8) accepts FwMark in hex as well (parse_fwmark uses strtoul with base 0).
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new ConfigError(line, `invalid ${what} '${v}'`);
  return n;
}

export function parseWgConfig(text: string): WgConfig {
  const cfg: WgConfig = {
    privateKey: null,
    listenPort: null,
    fwmark: null,
    peers: [],
    addresses: [],
    mtu: null,
    quick: {
      dns: [],
      dnsSearch: [],
      table: null,
      preUp: [],
      postUp: [],
      preDown: [],
      postDown: [],
      saveConfig: false,
      killSwitch: null,
    },
    ignored: [],
  };
  let section: 'none' | 'interface' | 'peer' = 'none';
  let peer: (Partial<WgPeerConfig> & { line: number }) | null = null;
  const closePeer = (): void => {
    if (!peer) return;
    if (!peer.publicKey) throw new ConfigError(peer.line, '[Peer] section without PublicKey');
    cfg.peers.push({
      publicKey: peer.publicKey,
      presharedKey: peer.presharedKey ?? null,
      allowedIps: peer.allowedIps ?? [],
      endpoint: peer.endpoint ?? null,
      persistentKeepalive: peer.persistentKeepalive ?? 0,
    });
    peer = null;
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (line === '') continue;
    if (line.startsWith('[')) {
      const name = line.toLowerCase();
      closePeer();
      if (name === '[interface]') section = 'interface';
      else if (name === '[peer]') {
        section = 'peer';
        peer = { line: n };
      } else throw new ConfigError(n, `unknown section ${line}`);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new ConfigError(n, `expected 'Key = Value', got '${line}'`);
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    const key32 = (): Uint8Array => {
      try {
        return decodeKey(value);
      } catch (e) {
        throw new ConfigError(n, `${key}: ${(e as Error).message}`);
      }
    };
    const list = (): string[] =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    if (section === 'interface') {
      switch (key) {
        case 'privatekey':
          cfg.privateKey = key32();
          break;
        case 'listenport':
          cfg.listenPort = parseNumberOrOff(value, 0xffff, 'ListenPort', n);
          break;
        case 'fwmark':
          cfg.fwmark = parseNumberOrOff(value, 0xffffffff, 'FwMark', n);
          break;
        case 'address':
          cfg.addresses.push(...list());
          break;
        case 'mtu':
          cfg.mtu = parseNumberOrOff(value, 65535, 'MTU', n) || null;
          break;
        default:
          if (!WG_QUICK_ONLY.has(key))
            throw new ConfigError(n, `unknown [Interface] key '${line.slice(0, eq).trim()}'`);
          cfg.ignored.push(key);
          parseQuickKey(cfg.quick, key, value, list, n);
      }
    } else if (section === 'peer' && peer) {
      switch (key) {
        case 'publickey':
          peer.publicKey = key32();
          break;
        case 'presharedkey':
          peer.presharedKey = key32();
          break;
        case 'allowedips':
          try {
            peer.allowedIps = [...(peer.allowedIps ?? []), ...list().map(parseAllowedIp)];
          } catch (e) {
            throw new ConfigError(n, (e as UapiError).message);
          }
          break;
        case 'endpoint':
          if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(value))
            throw new ConfigError(n, `invalid Endpoint '${value}'`);
          peer.endpoint = value;
          break;
        case 'persistentkeepalive':
          peer.persistentKeepalive = parseNumberOrOff(value, 0xffff, 'PersistentKeepalive', n);
          break;
        default:
          throw new ConfigError(n, `unknown [Peer] key '${line.slice(0, eq).trim()}'`);
      }
    } else {
      throw new ConfigError(n, 'key outside of an [Interface] or [Peer] section');
    }
  }
  closePeer();
  return cfg;
}

function parseQuickKey(
  q: WgQuickConfig,
  key: string,
  value: string,
  list: () => string[],
  line: number,
): void {
  switch (key) {
    case 'dns':
      for (const v of list()) (IP_TEXT.test(v) ? q.dns : q.dnsSearch).push(v);
      break;
    case 'table':
      if (!/^(auto|off|\d+)$/i.test(value))
        throw new ConfigError(line, `Table must be auto, off or a table number, not '${value}'`);
      q.table = value.toLowerCase();
      break;
    // Hooks are whole lines: a comma in a shell command is not a list separator (wg-quick(8)).
    case 'preup':
      q.preUp.push(value);
      break;
    case 'postup':
      q.postUp.push(value);
      break;
    case 'predown':
      q.preDown.push(value);
      break;
    case 'postdown':
      q.postDown.push(value);
      break;
    case 'saveconfig':
      q.saveConfig = parseBool(value, 'SaveConfig', line);
      break;
    case 'killswitch':
      q.killSwitch = parseBool(value, 'KillSwitch', line);
      break;
  }
}

/**
 * UAPI `set` lines that make the device match `cfg` exactly, as `wg setconf` does: all peers
 * replaced, each peer's allowed IPs replaced. `endpoints` maps each written endpoint to its resolved
 * `ip:port` form (`[v6]:port` for IPv6).
 */
export function configToUapi(cfg: WgConfig, endpoints: Map<string, string> = new Map()): string[] {
  const out: string[] = [];
  out.push(`private_key=${toHex(cfg.privateKey ?? new Uint8Array(32))}`);
  if (cfg.listenPort !== null) out.push(`listen_port=${cfg.listenPort}`);
  if (cfg.fwmark !== null) out.push(`fwmark=${cfg.fwmark}`);
  out.push('replace_peers=true');
  for (const p of cfg.peers) {
    out.push(`public_key=${toHex(p.publicKey)}`);
    out.push(`preshared_key=${toHex(p.presharedKey ?? new Uint8Array(32))}`);
    if (p.endpoint) out.push(`endpoint=${endpoints.get(p.endpoint) ?? p.endpoint}`);
    out.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    out.push('replace_allowed_ips=true');
    for (const ip of p.allowedIps) out.push(`allowed_ip=${ip}`);
  }
  return out;
}

// The ControlClient over the REST API (`--api URL --token T`): the same operations as LocalClient,
// as HTTP calls to a running server (docs/api.md). Errors come back as {"error":{code,message}} and
// are rethrown as the FerryError they were on the server, so the CLI prints the same messages in
// both modes.
//
// An https URL with a private CA or a self-signed certificate: NODE_EXTRA_CA_CERTS=/path/ca.pem.
import { isLoopbackHost } from '../config/listen-address.js';
import { FerryError, type ErrorCode } from '../core/errors.js';
import type { ControlApi, ControlClient } from './client.js';
import type { AuditListInput } from './service/schemas.js';

const TIMEOUT_MS = 30_000;
const PREFIX = '/api/v1';

/** Every code the server may send; an unknown one (a newer server) becomes E_INTERNAL. */
const CODES = new Set<string>([
  'E_AUTH_REQUIRED',
  'E_AUTH',
  'E_AUTH_THROTTLED',
  'E_POLICY_DENIED',
  'E_DEST_FORBIDDEN',
  'E_BAD_REQUEST',
  'E_HEADER_TOO_LARGE',
  'E_PROTOCOL',
  'E_UNSUPPORTED',
  'E_DNS',
  'E_UPSTREAM_REFUSED',
  'E_UPSTREAM_UNREACHABLE',
  'E_UPSTREAM_TIMEOUT',
  'E_UPSTREAM_RESET',
  'E_TIMEOUT',
  'E_LIMIT',
  'E_QUOTA',
  'E_SHUTTING_DOWN',
  'E_CONFIG',
  'E_INTERNAL',
  'E_NOT_FOUND',
  'E_CONFLICT',
  'E_INVALID',
  'E_FORBIDDEN',
] satisfies ErrorCode[]);

/** The API's base URL: scheme and authority, any path up to /api/v1 kept (a reverse proxy's prefix). */
export function apiBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FerryError('E_INVALID', `--api: '${url}' is not a URL (e.g. http://127.0.0.1:9090)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new FerryError('E_INVALID', `--api: '${url}' must be an http:// or https:// URL`);
  if (u.username || u.password || u.search || u.hash)
    throw new FerryError('E_INVALID', '--api: give the token with --token, not in the URL');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  // The token would cross the network in clear; the server refuses such listeners too.
  if (u.protocol === 'http:' && !isLoopbackHost(host))
    throw new FerryError(
      'E_INVALID',
      `--api: use https:// for a server that is not on this host (${u.host})`,
    );
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

const seg = encodeURIComponent;

function qs(params: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export class RemoteClient implements ControlClient {
  readonly target: string;
  private readonly base: string;

  constructor(
    url: string,
    private readonly token: string,
  ) {
    this.base = apiBase(url);
    this.target = this.base;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.base + PREFIX + path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new FerryError('E_UPSTREAM_UNREACHABLE', `cannot reach the API at ${this.base}: ${why}`, {
        cause: e,
      });
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) {
      if (json === undefined)
        throw new FerryError(
          'E_PROTOCOL',
          `${this.base} answered ${res.status} without JSON; is it a Ferry API?`,
        );
      return json as T;
    }
    const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (err && typeof err.code === 'string' && typeof err.message === 'string')
      throw new FerryError(CODES.has(err.code) ? (err.code as ErrorCode) : 'E_INTERNAL', err.message);
    throw new FerryError(
      'E_PROTOCOL',
      `${this.base} answered ${res.status} ${res.statusText}; is it a Ferry API?`,
    );
  }

  readonly users: ControlApi['users'] = {
    add: (i) => this.call('POST', '/users', i),
    list: () => this.call('GET', '/users'),
    show: (n) => this.call('GET', `/users/${seg(n)}`),
    update: (n, p) => this.call('PATCH', `/users/${seg(n)}`, p),
    disable: (n) => this.call('POST', `/users/${seg(n)}/disable`),
    enable: (n) => this.call('POST', `/users/${seg(n)}/enable`),
    remove: (n) => this.call('DELETE', `/users/${seg(n)}`),
    passwd: (n, i) => this.call('POST', `/users/${seg(n)}/passwd`, i ?? {}),
    setLoginPassword: (n, i) => this.call('PUT', `/users/${seg(n)}/login-password`, i),
    export: (n) => this.call('GET', `/users/${seg(n)}/export`),
    forget: (n) => this.call('POST', `/users/${seg(n)}/forget`),
    shadowsocksKey: (n) => this.call('GET', `/users/${seg(n)}/shadowsocks-key`),
    rotateShadowsocksKey: (n) => this.call('POST', `/users/${seg(n)}/shadowsocks-key`),
  };

  readonly credentials: ControlApi['credentials'] = {
    add: (i) => this.call('POST', '/credentials', i),
    list: (user) => this.call('GET', `/credentials${qs({ user })}`),
    rotate: (n, i) => this.call('POST', `/credentials/${seg(n)}/rotate`, i ?? {}),
    remove: (n) => this.call('DELETE', `/credentials/${seg(n)}`),
  };

  readonly tokens: ControlApi['tokens'] = {
    create: (i) => this.call('POST', '/tokens', i),
    list: (user) => this.call('GET', `/tokens${qs({ user })}`),
    revoke: (id) => this.call('DELETE', `/tokens/${seg(String(id))}`),
  };

  readonly tiers: ControlApi['tiers'] = {
    create: (i) => this.call('POST', '/tiers', i),
    list: () => this.call('GET', '/tiers'),
    show: (n) => this.call('GET', `/tiers/${seg(n)}`),
    update: (n, p) => this.call('PATCH', `/tiers/${seg(n)}`, p),
    remove: (n) => this.call('DELETE', `/tiers/${seg(n)}`),
  };

  readonly peers: ControlApi['peers'] = {
    add: (i) => this.call('POST', '/peers', i),
    list: (user) => this.call('GET', `/peers${qs({ user })}`),
    remove: (user, device) => this.call('DELETE', `/peers/${seg(user)}/${seg(device)}`),
    rotate: (user, device, input) => this.call('PUT', `/peers/${seg(user)}/${seg(device)}/keys`, input),
  };

  readonly usage: ControlApi['usage'] = {
    report: (user) => this.call('GET', `/usage${qs({ user })}`),
  };

  readonly audit: ControlApi['audit'] = {
    list: (i: AuditListInput = {}) => this.call('GET', `/audit${qs({ since: i.since, limit: i.limit })}`),
  };

  async close(): Promise<void> {
    // fetch's connection pool closes idle sockets on its own; nothing is held here.
  }
}

/** Loaded by the CLI only when --api is given. */
export async function openRemoteClient(opts: { url: string; token: string }): Promise<ControlClient> {
  return new RemoteClient(opts.url, opts.token);
}

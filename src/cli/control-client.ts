// What the management commands (user, tier, token, usage, audit) share: the options that choose
// where they operate, opening a ControlClient there, and printing results as a table or JSON.
//
// Local mode (the default) opens the data directory's store directly: --data-dir, else the config
// file's data_dir, else $FERRY_HOME, else ./.ferry. With --api URL (or $FERRY_API) the commands go
// to a running server's REST API with --token (or $FERRY_TOKEN) instead.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { FerryError } from '../core/errors.js';
import { LocalClient, type ControlClient } from '../control/client.js';
import { openStore, type StoreConfig } from '../control/open-store.js';

export interface ClientFlags {
  dataDir?: string;
  config?: string;
  api?: string;
  token?: string;
  json?: boolean;
}

/** Adds the common options to a management command. */
export function clientOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (default: config data_dir, $FERRY_HOME or ./.ferry)')
    .option(
      '-c, --config <file>',
      "the server's config file: its data_dir and store, and its read-only users ($FERRY_CONFIG)",
    )
    .option('--api <url>', 'manage a running server through its REST API ($FERRY_API)')
    .option('--token <token>', 'API token for --api ($FERRY_TOKEN)')
    .option('--json', 'print JSON instead of a table');
}

/** A Shadowsocks inbound of the config file, for share links. */
export interface SsInboundBits {
  name: string;
  listen: string;
  method: string;
  password?: string;
}

interface ConfigBits {
  dataDir?: string;
  store?: StoreConfig;
  users: string[];
  proxy?: string;
  shadowsocks: SsInboundBits[];
  /** Config users' own Shadowsocks secrets (users[].ss_password). */
  ssPasswords: Map<string, string>;
}

/** The parts of the server's config file the CLI needs; the full validation is `ferry serve`'s. */
function readConfig(file: string | undefined): ConfigBits {
  if (!file) return { users: [], shadowsocks: [], ssPasswords: new Map() };
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FerryError('E_CONFIG', `${file}: ${(e as Error).message}`);
  }
  const c = (raw ?? {}) as {
    data_dir?: unknown;
    store?: unknown;
    users?: { name?: unknown; ss_password?: unknown }[];
    inbounds?: {
      name?: unknown;
      type?: unknown;
      listen?: unknown;
      shadowsocks?: { method?: unknown; password?: unknown };
    }[];
  };
  const users = Array.isArray(c.users)
    ? c.users.map((u) => u?.name).filter((n): n is string => typeof n === 'string')
    : [];
  const http = Array.isArray(c.inbounds)
    ? c.inbounds.find((i) => i?.type === 'http' || i?.type === 'mixed')
    : undefined;
  const shadowsocks: SsInboundBits[] = [];
  for (const i of Array.isArray(c.inbounds) ? c.inbounds : []) {
    const ss = i?.shadowsocks;
    if (i?.type !== 'shadowsocks' || typeof i.listen !== 'string' || typeof ss?.method !== 'string') continue;
    shadowsocks.push({
      name: typeof i.name === 'string' ? i.name : 'shadowsocks',
      listen: i.listen,
      method: ss.method,
      ...(typeof ss.password === 'string' ? { password: ss.password } : {}),
    });
  }
  const ssPasswords = new Map<string, string>();
  for (const u of Array.isArray(c.users) ? c.users : [])
    if (typeof u?.name === 'string' && typeof u.ss_password === 'string')
      ssPasswords.set(u.name, u.ss_password);
  return {
    shadowsocks,
    ssPasswords,
    // Relative to the working directory, as `ferry serve` reads it.
    ...(typeof c.data_dir === 'string' ? { dataDir: resolve(c.data_dir) } : {}),
    ...(c.store && typeof c.store === 'object' ? { store: c.store as StoreConfig } : {}),
    users,
    ...(typeof http?.listen === 'string' ? { proxy: http.listen } : {}),
  };
}

export function dataDirOf(flags: ClientFlags): string {
  const cfg = readConfig(flags.config ?? process.env.FERRY_CONFIG);
  return resolve(flags.dataDir ?? cfg.dataDir ?? process.env.FERRY_HOME ?? '.ferry');
}

/** The HTTP proxy address for examples: the config's first http/mixed inbound, else the default. */
export function proxyAddressOf(flags: ClientFlags): string {
  return readConfig(flags.config ?? process.env.FERRY_CONFIG).proxy ?? '127.0.0.1:8080';
}

/** The config file's Shadowsocks inbounds and its users' own Shadowsocks secrets. */
export function shadowsocksOf(flags: ClientFlags): Pick<ConfigBits, 'shadowsocks' | 'ssPasswords'> {
  const cfg = readConfig(flags.config ?? process.env.FERRY_CONFIG);
  return { shadowsocks: cfg.shadowsocks, ssPasswords: cfg.ssPasswords };
}

export async function openClient(flags: ClientFlags): Promise<ControlClient> {
  const api = flags.api ?? process.env.FERRY_API;
  if (api) {
    const token = flags.token ?? process.env.FERRY_TOKEN;
    if (!token) throw new FerryError('E_INVALID', '--api needs --token (or $FERRY_TOKEN)');
    const { openRemoteClient } = await import('../control/remote-client.js');
    return openRemoteClient({ url: api, token });
  }
  const cfg = readConfig(flags.config ?? process.env.FERRY_CONFIG);
  const dataDir = resolve(flags.dataDir ?? cfg.dataDir ?? process.env.FERRY_HOME ?? '.ferry');
  const store = await openStore({ dataDir, ...(cfg.store ? { store: cfg.store } : {}) });
  return new LocalClient(store, dataDir, { configUsers: cfg.users, osUser: osUser() });
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

/** Opens a client, runs `fn`, always closes. */
export async function withClient<T>(flags: ClientFlags, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const c = await openClient(flags);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

export async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const s = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!s) throw new FerryError('E_INVALID', 'empty password on stdin');
  return s;
}

// ---- output

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

export type Cell = string | number | boolean | null | undefined;

/** Left-aligned columns separated by two spaces; "-" for empty cells. */
export function printTable(headers: string[], rows: Cell[][]): void {
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write([line(headers), ...text.map(line)].join('\n') + '\n');
}

/** Key/value lines for one object. */
export function printFields(fields: [string, Cell][]): void {
  const w = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields)
    process.stdout.write(
      `${(k + ':').padEnd(w + 2)}${v === null || v === undefined || v === '' ? '-' : String(v)}\n`,
    );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number | null): string {
  if (n === null) return 'unlimited';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

export const formatRate = (n: number | null): string => (n === null ? 'unlimited' : `${formatBytes(n)}/s`);

/** An ISO time shortened for tables (minutes, UTC). */
export const formatTime = (iso: string | null): string =>
  iso === null ? 'never' : iso.slice(0, 16).replace('T', ' ') + 'Z';

export const collect = (v: string, prev: string[]): string[] => [...prev, v];

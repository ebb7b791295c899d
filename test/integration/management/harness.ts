// End-to-end rig for the management plane: a data directory with a store prepared through the real
// `ferry tier|user` CLI, a `ferry serve` child process with its HTTP and SOCKS inbounds and its admin
// API, and curl through the proxy. Everything listens on loopback ports chosen by the kernel.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FERRY_MAIN, runFerry, waitForListeners, type FerryProc } from '../../helpers/ferry.js';
import { runAsync } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';

export interface Rig {
  dir: string;
  dataDir: string;
  ferry: FerryProc;
  http: number;
  socks: number;
  /** Port of every inbound by name (h, s and those of `opts.inbounds`). */
  ports: Record<string, number>;
  /** Base URL of the admin API, e.g. http://127.0.0.1:40447 */
  api: string;
  stop(): Promise<void>;
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the ferry CLI against a data directory; throws with its output when it fails. */
export async function ferryCli(dataDir: string, args: string[]): Promise<string> {
  const r = await runAsync(process.execPath, [FERRY_MAIN, ...args, '--data-dir', dataDir], {
    timeoutMs: 30_000,
  });
  if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Creates a store user (with a tier, optional) and returns the one-time proxy password. */
export async function addUser(dataDir: string, name: string, tier?: string): Promise<string> {
  const out = await ferryCli(dataDir, ['user', 'add', name, ...(tier ? ['--tier', tier] : []), '--json']);
  const j = JSON.parse(out) as { password?: string; credential?: { password: string } };
  const pw = j.password ?? j.credential?.password;
  if (!pw) throw new Error(`no password in: ${out}`);
  return pw;
}

/** Creates an admin user "boss" with an admin-scoped API token; returns the Authorization header. */
export async function addAdmin(dataDir: string): Promise<{ authorization: string }> {
  await ferryCli(dataDir, ['user', 'add', 'boss', '--role', 'admin']);
  const tok = JSON.parse(
    await ferryCli(dataDir, ['token', 'create', '--user', 'boss', '--scope', 'admin', '--json']),
  ) as { secret: string };
  return { authorization: `Bearer ${tok.secret}` };
}

/** A suite's teardown: the server, then the origin, then the scratch directory (each if made). */
export async function stopAll(
  rig: Rig | undefined,
  origin: { close(): Promise<void> } | undefined,
  tmp: { cleanup(): void },
): Promise<void> {
  await rig?.stop();
  await origin?.close();
  tmp.cleanup();
}

/**
 * Starts `ferry serve` with an HTTP and a SOCKS inbound and the admin API on loopback; `extra` is
 * more YAML at the top level (logging:, users:, ...). `opts.inbounds` are more entries of the
 * inbounds list (YAML flow mappings), each with a `name:`; their ports are in `Rig.ports`.
 */
export async function startServe(
  dir: string,
  extra: string[] = [],
  opts: { env?: NodeJS.ProcessEnv; args?: string[]; prefix?: string[]; inbounds?: string[] } = {},
): Promise<Rig> {
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const cfg = join(dir, 'ferry.yaml');
  writeFileSync(
    cfg,
    [
      `data_dir: ${dataDir}`,
      'inbounds:',
      '  - { name: h, type: http, listen: "127.0.0.1:0", auth: true }',
      '  - { name: s, type: socks, listen: "127.0.0.1:0", auth: true }',
      ...(opts.inbounds ?? []).map((i) => `  - ${i}`),
      'api: { listen: "127.0.0.1:0", metrics_public: true }',
      ...extra,
    ].join('\n') + '\n',
  );
  const ferry = runFerry(['serve', '--config', cfg, ...(opts.args ?? [])], opts.env ?? {}, opts.prefix);
  const more = (opts.inbounds ?? []).map((i) => /name: *([\w-]+)/.exec(i)?.[1] ?? '');
  let ports: Record<string, number>;
  let api: string;
  try {
    ports = await waitForListeners(ferry, ['h', 's', ...more]);
    api = await waitFor('the API line', () => /api +(http:\/\/[\d.:]+)\/api\/v1/.exec(ferry.stdout())?.[1]);
  } catch (e) {
    await ferry.stop('SIGKILL'); // it never became a rig the suite's teardown could stop
    throw e;
  }
  return {
    dir,
    dataDir,
    ferry,
    http: ports.h!,
    socks: ports.s!,
    ports,
    api,
    async stop() {
      await ferry.stop();
    },
  };
}

export interface CurlResult {
  code: number | null;
  /** HTTP status as curl reports it (000 when there was no response). */
  status: number;
  bytes: number;
  seconds: number;
  body: string;
  stderr: string;
}

/** One download through the proxy (`proxy` as curl's -x takes it). */
export async function curl(proxy: string, url: string, extra: string[] = []): Promise<CurlResult> {
  const r = await runAsync(
    'curl',
    [
      '-sS',
      '--max-time',
      '40',
      '-x',
      proxy,
      '-w',
      '\n%{http_code} %{size_download} %{time_total}',
      ...extra,
      url,
    ],
    { timeoutMs: 45_000 },
  );
  const nl = r.stdout.lastIndexOf('\n');
  const [status, bytes, seconds] = r.stdout
    .slice(nl + 1)
    .split(' ')
    .map(Number);
  return {
    code: r.code,
    status: status ?? 0,
    bytes: bytes ?? 0,
    seconds: seconds ?? 0,
    body: r.stdout.slice(0, Math.max(0, nl)),
    stderr: r.stderr,
  };
}

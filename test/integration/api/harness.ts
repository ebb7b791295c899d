// Shared by the API suites: a real SQLite store in a temporary data directory, the control service,
// an admin bootstrapped the way an operator does it (local CLI principal), the API server in this
// process, and a small HTTP helper that returns status, headers and parsed JSON.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../../src/control/api/server.js';
import { ROUTES } from '../../../src/control/api/routes.js';
import type { LiveSessions, SessionView } from '../../../src/control/api/live.js';
import { openStore } from '../../../src/control/open-store.js';
import { ControlService } from '../../../src/control/service/index.js';
import { localPrincipal } from '../../../src/control/service/principal.js';
import type { Store } from '../../../src/control/store/types.js';

export interface Harness {
  dir: string;
  store: Store;
  service: ControlService;
  server: ApiServer;
  /** Secret of an admin-scoped token of the admin user "root". */
  adminToken: string;
  close(): Promise<void>;
}

export async function startHarness(
  extra: Partial<ApiServerOptions> = {},
  prefix = 'ferry-api-',
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = await openStore({ dataDir: dir });
  let server: ApiServer | undefined;
  try {
    // Fast hashing: the suites create many credentials and the hash is not what is under test.
    const service = new ControlService(store, { hashPassword: async (p) => `plain$${p}` });
    const local = service.as(localPrincipal('test'));
    await local.users.add({ name: 'root', role: 'admin' });
    const { secret: adminToken } = await local.tokens.create({ user: 'root', scope: 'admin' });
    server = await startApiServer({ store, service, listen: '127.0.0.1:0', ...extra });
    const s = server;
    return {
      dir,
      store,
      service,
      server: s,
      adminToken,
      async close() {
        await s.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await server?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export async function http(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  } else if (opts.rawBody !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = opts.rawBody;
  }
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts an error reply: status, the JSON error shape and its code. */
export function assertError(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.equal(typeof r.json?.error?.message, 'string', r.text);
  assert.equal(r.json.error.code, code, r.text);
}

/** Asserts that a reply body matches the response schema the OpenAPI document declares for the operation. */
export function assertShape(operationId: string, body: unknown): void {
  const route = ROUTES.find((r) => r.operationId === operationId);
  assert.ok(route?.response, `no response schema for ${operationId}`);
  const r = (route.response as z.ZodType).safeParse(body);
  assert.ok(r.success, `${operationId}: response does not match its schema: ${r.error?.message}`);
}

/** A stand-in for the gateway's session registry. */
export function fakeLive(initial: SessionView[]): LiveSessions & { sessions: Map<string, SessionView> } {
  const sessions = new Map(initial.map((s) => [s.id, s]));
  return {
    sessions,
    list: () => [...sessions.values()],
    kill: (id) => sessions.delete(id),
    killUser(name) {
      let n = 0;
      for (const [id, s] of sessions)
        if (s.user === name) {
          sessions.delete(id);
          n++;
        }
      return n;
    },
  };
}

/**
 * Parses the Prometheus text exposition format 0.0.4 strictly enough to catch a malformed line:
 * HELP/TYPE comments, then samples `name{label="value",...} number`.
 */
export function parsePrometheus(
  text: string,
): { name: string; labels: Record<string, string>; value: number }[] {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      assert.ok(m, `bad comment line: ${line}`);
      if (m[1] === 'TYPE') {
        assert.match(m[3]!, /^(counter|gauge|histogram|summary|untyped)$/, line);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    // Values are what Go's strconv.ParseFloat reads (Prometheus parses them so): NaN and Inf in any
    // case — prom-client writes "Nan" for an empty event-loop histogram.
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|(?:nan|[+-]inf))(?: -?\d+)?$/i.exec(
      line,
    );
    assert.ok(m, `bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[2].length) {
        re.lastIndex = pos;
        const l = re.exec(m[2]);
        assert.ok(l, `bad labels in: ${line}`);
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const v = m[3]!.toLowerCase();
    const value = v === 'nan' ? NaN : v === '+inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);
    assert.ok(!Number.isNaN(value) || v === 'nan', `bad value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  assert.ok(types.size > 0, 'no TYPE lines');
  return samples;
}

// The REST API as data: every route with its inputs (zod schemas, mostly the control service's own),
// its response schema and the service call it makes. server.ts registers these with fastify and
// openapi.ts turns the same list into the OpenAPI document, so the two cannot disagree.
//
// Authorization is the service's (scopes checked in each operation). The few routes that are not
// service operations (sessions, connection records, status) check scopes here with the service's
// principal helpers.
import { z } from 'zod';
import { FerryError } from '../../core/errors.js';
import type { ControlApi } from '../client.js';
import type { ControlService, Principal } from '../service/index.js';
import { canSeeAll, requireAdmin, requireRead, requireReadOf } from '../service/principal.js';
import {
  credentialAddSchema,
  loginPasswordSchema,
  nameSchema,
  passwdSchema,
  peerAddSchema,
  peerRotateSchema,
  tierCreateSchema,
  tierNameSchema,
  tierUpdateSchema,
  tokenCreateSchema,
  userAddSchema,
  userUpdateSchema,
} from '../service/schemas.js';
import type { Store } from '../store/types.js';
import type { Metrics } from '../metrics.js';
import type { LiveSessions } from './live.js';
import {
  auditViewSchema,
  connectionRecordSchema,
  credentialSecretSchema,
  credentialViewSchema,
  killedSchema,
  peerViewSchema,
  sessionViewSchema,
  statusSchema,
  tierDetailSchema,
  tierViewSchema,
  tokenCreatedSchema,
  tokenViewSchema,
  usageReportSchema,
  userAddedSchema,
  userDetailSchema,
  shadowsocksKeySchema,
  userExportSchema,
  userViewSchema,
} from './view-schemas.js';

export interface Deps {
  service: ControlService;
  store: Store;
  live: LiveSessions | undefined;
  status: (() => object | Promise<object>) | undefined;
  /** Told when a user is removed or forgotten, so no series keeps their name. */
  metrics: Pick<Metrics, 'forgetUser'> | undefined;
  version: string;
  startedAt: number;
  now: () => number;
}

export interface Call<P, Q, B> {
  /** The service bound to the caller. */
  api: ControlApi;
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  deps: Deps;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  method: Method;
  /** fastify form, relative to /api/v1: "/users/:name". */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** A body may be left out (it then counts as {}). */
  bodyOptional?: boolean;
  status: 200 | 201 | 204;
  response?: z.ZodType;
  run(c: Call<unknown, unknown, unknown>): Promise<unknown>;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** Types `run`'s inputs from the schemas given. */
function route<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(
  r: Omit<Route, 'params' | 'query' | 'body' | 'run'> & {
    params?: P;
    query?: Q;
    body?: B;
    run(c: Call<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
  },
): Route {
  return r as Route;
}

// ---- inputs that are not service schemas

const userParam = z.object({ name: nameSchema });
const tierParam = z.object({ name: tierNameSchema });
const loginParam = z.object({ username: nameSchema });
const digits = z.string().regex(/^\d{1,15}$/, 'a number');
const tokenParam = z.object({ id: digits.transform(Number) });
const peerParam = z.object({ user: nameSchema, device: tierNameSchema });
const sessionParam = z.object({ id: z.string().min(1).max(64) });
const userQuery = z.object({ user: nameSchema.optional() }).strict();
/** A duration ago ("7d"), an ISO date or time, or ms since the epoch. */
const sinceParam = z
  .string()
  .max(64)
  .transform((s) => (/^\d{1,15}$/.test(s) ? Number(s) : s))
  .optional();
const limitParam = digits.transform(Number).optional();
const auditQuery = z.object({ since: sinceParam, limit: limitParam }).strict();
const connectionsQuery = z
  .object({ user: nameSchema.optional(), since: sinceParam, limit: limitParam })
  .strict();

function liveOf(deps: Deps): LiveSessions {
  if (!deps.live)
    throw new FerryError('E_UNSUPPORTED', 'live sessions are not available (no gateway in this process)');
  return deps.live;
}

// ---- the routes

export const ROUTES: Route[] = [
  // users
  route({
    method: 'GET',
    path: '/users',
    operationId: 'listUsers',
    tag: 'users',
    summary: 'List users (a self token sees only its own user)',
    status: 200,
    response: z.array(userViewSchema),
    run: (c) => c.api.users.list(),
  }),
  route({
    method: 'POST',
    path: '/users',
    operationId: 'addUser',
    tag: 'users',
    summary: 'Create a user with a first proxy credential (its password is in the response, once)',
    body: userAddSchema,
    status: 201,
    response: userAddedSchema,
    run: (c) => c.api.users.add(c.body),
  }),
  route({
    method: 'GET',
    path: '/users/:name',
    operationId: 'showUser',
    tag: 'users',
    summary: 'A user with credential names, devices, tokens and usage',
    params: userParam,
    status: 200,
    response: userDetailSchema,
    run: (c) => c.api.users.show(c.params.name),
  }),
  route({
    method: 'PATCH',
    path: '/users/:name',
    operationId: 'updateUser',
    tag: 'users',
    summary: "Change a user's role, tier, expiry or enabled flag",
    params: userParam,
    body: userUpdateSchema,
    status: 200,
    response: userViewSchema,
    run: (c) => c.api.users.update(c.params.name, c.body),
  }),
  route({
    method: 'DELETE',
    path: '/users/:name',
    operationId: 'removeUser',
    tag: 'users',
    summary: 'Delete a user with their credentials, tokens and devices',
    params: userParam,
    status: 204,
    run: async (c) => {
      await c.api.users.remove(c.params.name);
      c.deps.metrics?.forgetUser(c.params.name);
    },
  }),
  route({
    method: 'POST',
    path: '/users/:name/disable',
    operationId: 'disableUser',
    tag: 'users',
    summary: 'Refuse new logins of a user',
    params: userParam,
    status: 200,
    response: userViewSchema,
    run: (c) => c.api.users.disable(c.params.name),
  }),
  route({
    method: 'POST',
    path: '/users/:name/enable',
    operationId: 'enableUser',
    tag: 'users',
    summary: 'Allow logins of a user again',
    params: userParam,
    status: 200,
    response: userViewSchema,
    run: (c) => c.api.users.enable(c.params.name),
  }),
  route({
    method: 'POST',
    path: '/users/:name/passwd',
    operationId: 'rotateUserPassword',
    tag: 'users',
    summary: "Rotate the user's main proxy password (generated unless given; returned once)",
    params: userParam,
    body: passwdSchema,
    bodyOptional: true,
    status: 200,
    response: credentialSecretSchema,
    run: (c) => c.api.users.passwd(c.params.name, c.body),
  }),
  route({
    method: 'GET',
    path: '/users/:name/shadowsocks-key',
    operationId: 'getShadowsocksKey',
    tag: 'users',
    summary: "The user's Shadowsocks key (admins and the user only)",
    params: userParam,
    status: 200,
    response: shadowsocksKeySchema,
    run: (c) => c.api.users.shadowsocksKey(c.params.name),
  }),
  route({
    method: 'POST',
    path: '/users/:name/shadowsocks-key',
    operationId: 'rotateShadowsocksKey',
    tag: 'users',
    summary: "Create or replace the user's Shadowsocks key (returned)",
    params: userParam,
    status: 200,
    response: shadowsocksKeySchema,
    run: (c) => c.api.users.rotateShadowsocksKey(c.params.name),
  }),
  route({
    method: 'PUT',
    path: '/users/:name/login-password',
    operationId: 'setLoginPassword',
    tag: 'users',
    summary: 'Set the API/console login password (not the proxy password)',
    params: userParam,
    body: loginPasswordSchema,
    status: 204,
    run: (c) => c.api.users.setLoginPassword(c.params.name, c.body),
  }),
  route({
    method: 'GET',
    path: '/users/:name/export',
    operationId: 'exportUser',
    tag: 'users',
    summary: 'Everything stored about a user (GDPR access)',
    params: userParam,
    status: 200,
    response: userExportSchema,
    run: (c) => c.api.users.export(c.params.name),
  }),
  route({
    method: 'POST',
    path: '/users/:name/forget',
    operationId: 'forgetUser',
    tag: 'users',
    summary: 'Erase a user and every record naming them (GDPR erasure); cannot be undone',
    params: userParam,
    status: 204,
    run: async (c) => {
      await c.api.users.forget(c.params.name);
      c.deps.metrics?.forgetUser(c.params.name);
    },
  }),

  // proxy credentials
  route({
    method: 'GET',
    path: '/credentials',
    operationId: 'listCredentials',
    tag: 'credentials',
    summary: 'Proxy logins (names only), of one user or all',
    query: userQuery,
    status: 200,
    response: z.array(credentialViewSchema),
    run: (c) => c.api.credentials.list(c.query.user),
  }),
  route({
    method: 'POST',
    path: '/credentials',
    operationId: 'addCredential',
    tag: 'credentials',
    summary: 'Add a proxy login for a user (its password is in the response, once)',
    body: credentialAddSchema,
    status: 201,
    response: credentialSecretSchema,
    run: (c) => c.api.credentials.add(c.body),
  }),
  route({
    method: 'POST',
    path: '/credentials/:username/rotate',
    operationId: 'rotateCredential',
    tag: 'credentials',
    summary: "Replace one proxy login's password (returned once)",
    params: loginParam,
    body: passwdSchema,
    bodyOptional: true,
    status: 200,
    response: credentialSecretSchema,
    run: (c) => c.api.credentials.rotate(c.params.username, c.body),
  }),
  route({
    method: 'DELETE',
    path: '/credentials/:username',
    operationId: 'removeCredential',
    tag: 'credentials',
    summary: 'Delete a proxy login',
    params: loginParam,
    status: 204,
    run: (c) => c.api.credentials.remove(c.params.username),
  }),

  // API tokens
  route({
    method: 'GET',
    path: '/tokens',
    operationId: 'listTokens',
    tag: 'tokens',
    summary: 'API tokens (never their secrets), of one user or all',
    query: userQuery,
    status: 200,
    response: z.array(tokenViewSchema),
    run: (c) => c.api.tokens.list(c.query.user),
  }),
  route({
    method: 'POST',
    path: '/tokens',
    operationId: 'createToken',
    tag: 'tokens',
    summary: 'Create an API token (the secret is in the response, once)',
    body: tokenCreateSchema,
    status: 201,
    response: tokenCreatedSchema,
    run: (c) => c.api.tokens.create(c.body),
  }),
  route({
    method: 'DELETE',
    path: '/tokens/:id',
    operationId: 'revokeToken',
    tag: 'tokens',
    summary: 'Revoke (delete) an API token',
    params: tokenParam,
    status: 204,
    run: (c) => c.api.tokens.revoke(c.params.id),
  }),

  // tiers
  route({
    method: 'GET',
    path: '/tiers',
    operationId: 'listTiers',
    tag: 'tiers',
    summary: 'Service tiers',
    status: 200,
    response: z.array(tierViewSchema),
    run: (c) => c.api.tiers.list(),
  }),
  route({
    method: 'POST',
    path: '/tiers',
    operationId: 'createTier',
    tag: 'tiers',
    summary: 'Create a tier (sizes as bytes or "10M"; rates per second)',
    body: tierCreateSchema,
    status: 201,
    response: tierViewSchema,
    run: (c) => c.api.tiers.create(c.body),
  }),
  route({
    method: 'GET',
    path: '/tiers/:name',
    operationId: 'showTier',
    tag: 'tiers',
    summary: 'A tier with the names of its users',
    params: tierParam,
    status: 200,
    response: tierDetailSchema,
    run: (c) => c.api.tiers.show(c.params.name),
  }),
  route({
    method: 'PATCH',
    path: '/tiers/:name',
    operationId: 'updateTier',
    tag: 'tiers',
    summary: "Change a tier's limits (absent fields stay as they are)",
    params: tierParam,
    body: tierUpdateSchema,
    status: 200,
    response: tierViewSchema,
    run: (c) => c.api.tiers.update(c.params.name, c.body),
  }),
  route({
    method: 'DELETE',
    path: '/tiers/:name',
    operationId: 'removeTier',
    tag: 'tiers',
    summary: 'Delete a tier that no user is in',
    params: tierParam,
    status: 204,
    run: (c) => c.api.tiers.remove(c.params.name),
  }),

  // WireGuard peers (devices)
  route({
    method: 'GET',
    path: '/peers',
    operationId: 'listPeers',
    tag: 'peers',
    summary: 'WireGuard devices, of one user or all',
    query: userQuery,
    status: 200,
    response: z.array(peerViewSchema),
    run: (c) => c.api.peers.list(c.query.user),
  }),
  route({
    method: 'POST',
    path: '/peers',
    operationId: 'addPeer',
    tag: 'peers',
    summary: "Record a user's device by its public key (the tier may cap the number)",
    body: peerAddSchema,
    status: 201,
    response: peerViewSchema,
    run: (c) => c.api.peers.add(c.body),
  }),
  route({
    method: 'DELETE',
    path: '/peers/:user/:device',
    operationId: 'removePeer',
    tag: 'peers',
    summary: "Delete one of a user's devices",
    params: peerParam,
    status: 204,
    run: (c) => c.api.peers.remove(c.params.user, c.params.device),
  }),
  route({
    method: 'PUT',
    path: '/peers/:user/:device/keys',
    operationId: 'rotatePeer',
    tag: 'peers',
    summary: "Replace a device's keys (its tunnel addresses stay)",
    params: peerParam,
    body: peerRotateSchema,
    status: 200,
    response: peerViewSchema,
    run: (c) => c.api.peers.rotate(c.params.user, c.params.device, c.body),
  }),

  // usage and audit
  route({
    method: 'GET',
    path: '/usage',
    operationId: 'usage',
    tag: 'usage',
    summary: 'Bytes in the current quota period, per user (a self token sees its own)',
    query: userQuery,
    status: 200,
    response: z.array(usageReportSchema),
    run: (c) => c.api.usage.report(c.query.user),
  }),
  route({
    method: 'GET',
    path: '/audit',
    operationId: 'listAuditEvents',
    tag: 'audit',
    summary: 'Admin actions, newest first',
    query: auditQuery,
    status: 200,
    response: z.array(auditViewSchema),
    run: (c) =>
      c.api.audit.list({
        ...(c.query.since !== undefined ? { since: c.query.since } : {}),
        ...(c.query.limit !== undefined ? { limit: c.query.limit } : {}),
      }),
  }),
  route({
    method: 'GET',
    path: '/connections',
    operationId: 'listConnections',
    tag: 'audit',
    summary: 'Connection records, newest first (they exist only in logging mode audit)',
    query: connectionsQuery,
    status: 200,
    response: z.array(connectionRecordSchema),
    run: async (c) => {
      let user = c.query.user;
      if (user !== undefined) requireReadOf(c.principal, user, "read this user's connections");
      else if (!canSeeAll(c.principal)) {
        if (c.principal.user === null) requireRead(c.principal, 'read connection records');
        user = c.principal.user!;
      }
      const since = sinceMs(c.query.since, c.deps.now());
      const limit = Math.min(c.query.limit ?? 1000, 10_000);
      const rows = await c.deps.store.listConnections({
        ...(user !== undefined ? { user } : {}),
        ...(since !== undefined ? { since } : {}),
        limit,
      });
      return rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
    },
  }),

  // live sessions
  route({
    method: 'GET',
    path: '/sessions',
    operationId: 'listSessions',
    tag: 'sessions',
    summary: 'Open sessions (a self token sees its own); 501 without a gateway',
    query: userQuery,
    status: 200,
    response: z.array(sessionViewSchema),
    run: async (c) => {
      const live = liveOf(c.deps);
      let user = c.query.user;
      if (user !== undefined) requireReadOf(c.principal, user, "list this user's sessions");
      else if (!canSeeAll(c.principal)) {
        if (c.principal.user === null) requireRead(c.principal, 'list sessions');
        user = c.principal.user!;
      }
      const all = await live.list();
      return user === undefined ? all : all.filter((s) => s.user === user);
    },
  }),
  route({
    method: 'DELETE',
    path: '/sessions/:id',
    operationId: 'killSession',
    tag: 'sessions',
    summary: 'Close one open session',
    params: sessionParam,
    status: 204,
    run: async (c) => {
      requireAdmin(c.principal, 'close sessions');
      if (!(await liveOf(c.deps).kill(c.params.id)))
        throw new FerryError('E_NOT_FOUND', `no open session '${c.params.id}'`);
      await c.deps.store.transaction((tx) =>
        tx.addAuditEvent({
          at: c.deps.now(),
          actor: c.principal.name,
          action: 'session.kill',
          target: null,
          details: { id: c.params.id },
        }),
      );
    },
  }),
  route({
    method: 'DELETE',
    path: '/users/:name/sessions',
    operationId: 'killUserSessions',
    tag: 'sessions',
    summary: 'Close every open session of a user',
    params: userParam,
    status: 200,
    response: killedSchema,
    run: async (c) => {
      requireAdmin(c.principal, 'close sessions');
      const killed = await liveOf(c.deps).killUser(c.params.name);
      await c.deps.store.transaction((tx) =>
        tx.addAuditEvent({
          at: c.deps.now(),
          actor: c.principal.name,
          action: 'session.kill_user',
          target: c.params.name,
          details: { killed },
        }),
      );
      return { killed };
    },
  }),

  // server
  route({
    method: 'GET',
    path: '/status',
    operationId: 'status',
    tag: 'server',
    summary: 'Version, uptime, store backend and what the gateway reports (listeners, ...)',
    status: 200,
    response: statusSchema,
    run: async (c) => {
      const extra = c.deps.status ? await c.deps.status() : {};
      return {
        version: c.deps.version,
        uptimeSeconds: Math.round((c.deps.now() - c.deps.startedAt) / 1000),
        store: { backend: c.deps.store.backend, schemaVersion: await c.deps.store.schemaVersion() },
        sessions: c.deps.live !== undefined,
        ...extra,
      };
    },
  }),
];

/** "7d" (that long ago), an ISO date/time, or ms. */
function sinceMs(v: number | string | undefined, now: number): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  const d = /^(\d+)\s*([smhdw])$/.exec(v.trim());
  if (d) {
    const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[d[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - Number(d[1]) * unit;
  }
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (!Number.isFinite(t))
    throw new FerryError('E_INVALID', `since: '${v}' is not a time (e.g. 7d, 2027-01-01)`);
  return t;
}

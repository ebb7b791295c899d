// Users: create (with a first proxy credential), list, show, change, remove, rotate the proxy
// password, set the login password. Every change is one transaction with its audit event.
import { FerryError } from '../../core/errors.js';
import type { Store, User } from '../store/types.js';
import type { Ctx } from './context.js';
import { canSeeAll, requireAdmin, requireRead, requireReadOf, requireWriteOf } from './principal.js';
import {
  loginPasswordSchema,
  nameSchema,
  parseInput,
  passwdSchema,
  resolveExpiry,
  userAddSchema,
  userUpdateSchema,
  type LoginPasswordInput,
  type PasswdInput,
  type UserAddInput,
  type UserUpdateInput,
} from './schemas.js';
import { generatePassword } from './secrets.js';
import { newShadowsocksKey } from '../../share/ss-user-key.js';
import { usageReports } from './usage.js';
import {
  configUserView,
  credentialView,
  peerView,
  tokenView,
  userView,
  type CredentialSecret,
  type UserAdded,
  type UserDetail,
  type UserView,
} from './views.js';

export function futureExpiry(ctx: Ctx, v: number | string | null | undefined, what: string): number | null {
  let at: number | null;
  try {
    at = resolveExpiry(v, ctx.now());
  } catch (e) {
    throw new FerryError('E_INVALID', `${what}: ${(e as Error).message}`);
  }
  if (at !== null && at <= ctx.now()) throw new FerryError('E_INVALID', `${what}: the expiry is in the past`);
  return at;
}

export const userName = (name: unknown): string => parseInput(nameSchema, name, 'user name');

async function view(ctx: Ctx, u: User, tx: Store = ctx.store): Promise<UserView> {
  return userView(u, await ctx.tierName(u.tierId, tx));
}

export async function addUser(ctx: Ctx, input: UserAddInput): Promise<UserAdded> {
  requireAdmin(ctx.principal, 'create users');
  const i = parseInput(userAddSchema, input, 'user add');
  ctx.assertNotConfig(i.name);
  const expiresAt = futureExpiry(ctx, i.expires, 'expires');
  const password = i.password ?? generatePassword();
  // Hash before the transaction: on SQLite it holds the database's write lock.
  const proxyHash = await ctx.hash(password);
  const loginHash = i.loginPassword === undefined ? null : await ctx.hash(i.loginPassword);
  return ctx.store.transaction(async (tx) => {
    if (await tx.getUser(i.name)) throw new FerryError('E_CONFLICT', `user '${i.name}' exists`);
    if (await tx.getProxyCredential(i.name))
      throw new FerryError('E_CONFLICT', `the login '${i.name}' is already another user's proxy credential`);
    const tierId = i.tier ? (await ctx.tier(i.tier, tx)).id : null;
    const u = await tx.createUser({
      name: i.name,
      role: i.role ?? 'member',
      expiresAt,
      tierId,
      passwordHash: loginHash,
    });
    await tx.addProxyCredential(u.id, i.name, proxyHash);
    // Every new user can use a Shadowsocks inbound at once (`ferry user show` prints the link).
    await tx.setShadowsocksKey(u.id, newShadowsocksKey());
    await ctx.audit(tx, 'user.create', i.name, { role: u.role, tier: i.tier ?? null, expiresAt });
    return { user: await view(ctx, u, tx), credential: { user: i.name, username: i.name, password } };
  });
}

export async function listUsers(ctx: Ctx): Promise<UserView[]> {
  if (!canSeeAll(ctx.principal)) {
    const self = ctx.principal.user;
    if (self === null) requireRead(ctx.principal, 'list users');
    const u = await ctx.store.getUser(self!);
    return u ? [await view(ctx, u)] : [];
  }
  const tiers = new Map((await ctx.store.listTiers()).map((t) => [t.id, t.name]));
  const users = await ctx.store.listUsers();
  const out = users.map((u) => userView(u, u.tierId === null ? null : (tiers.get(u.tierId) ?? null)));
  // Config users are listed too, so `user list` shows every name that can log in; where a name is
  // in both, the config entry wins at the gateway, and the listing says so.
  const stored = new Set(users.map((u) => u.name));
  for (const name of ctx.configUsers) {
    if (stored.has(name)) out.find((v) => v.name === name)!.source = 'config';
    else out.push(configUserView(name));
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function showUser(ctx: Ctx, name: string): Promise<UserDetail> {
  name = userName(name);
  requireReadOf(ctx.principal, name, 'show this user');
  const u = await ctx.store.getUser(name);
  if (!u) {
    if (ctx.configUsers.has(name))
      return { ...configUserView(name), credentials: [], devices: [], tokens: [], usage: null };
    throw new FerryError('E_NOT_FOUND', `no user '${name}'`);
  }
  const [credentials, peers, tokens, usage] = await Promise.all([
    ctx.store.listProxyCredentials(u.id),
    ctx.store.listPeers(u.id),
    ctx.store.listTokens(u.id),
    usageReports(ctx, [u]),
  ]);
  return {
    ...(await view(ctx, u)),
    source: ctx.configUsers.has(name) ? 'config' : 'store',
    credentials: credentials.map((c) => credentialView(c, name)),
    devices: peers.map((p) => peerView(p, name)),
    tokens: tokens.map((t) => tokenView(t, name)),
    usage: usage[0] ?? null,
  };
}

export async function updateUser(
  ctx: Ctx,
  name: string,
  patch: UserUpdateInput,
  action = 'user.update',
): Promise<UserView> {
  name = userName(name);
  requireAdmin(ctx.principal, 'change users');
  const p = parseInput(userUpdateSchema, patch, 'user update');
  const expiresAt = p.expires === undefined ? undefined : futureExpiry(ctx, p.expires, 'expires');
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(name, tx);
    const tierId =
      p.tier === undefined ? undefined : p.tier === null ? null : (await ctx.tier(p.tier, tx)).id;
    const changed = {
      ...(p.role !== undefined ? { role: p.role } : {}),
      ...(p.enabled !== undefined ? { enabled: p.enabled } : {}),
      ...(tierId !== undefined ? { tierId } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    };
    const updated = await tx.updateUser(u.id, changed);
    const details: Record<string, unknown> = { ...changed };
    if (tierId !== undefined) {
      delete details.tierId;
      details.tier = p.tier;
    }
    await ctx.audit(tx, action, name, details);
    return view(ctx, updated, tx);
  });
}

export async function removeUser(ctx: Ctx, name: string): Promise<void> {
  name = userName(name);
  requireAdmin(ctx.principal, 'remove users');
  await ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(name, tx);
    await tx.deleteUser(u.id);
    await ctx.audit(tx, 'user.remove', name);
  });
}

/**
 * Rotates the user's main proxy credential (the one named after the user, else the oldest; one is
 * created when the user has none) and returns the new password once.
 */
export async function passwd(ctx: Ctx, name: string, input: PasswdInput = {}): Promise<CredentialSecret> {
  name = userName(name);
  requireWriteOf(ctx.principal, name, "change this user's proxy password");
  const i = parseInput(passwdSchema, input, 'user passwd');
  ctx.assertNotConfig(name);
  const password = i.password ?? generatePassword();
  const hash = await ctx.hash(password);
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(name, tx);
    const creds = await tx.listProxyCredentials(u.id);
    const main =
      creds.find((c) => c.username === name) ??
      [...creds].sort((a, b) => a.createdAt - b.createdAt || a.id - b.id)[0];
    let username: string;
    if (main) {
      await tx.setProxyCredentialHash(main.id, hash);
      username = main.username;
    } else {
      username = (await tx.addProxyCredential(u.id, name, hash)).username;
    }
    await ctx.audit(tx, 'credential.rotate', name, { credential: username });
    return { user: name, username, password };
  });
}

/** The API/console login password (not the proxy password). */
export async function setLoginPassword(ctx: Ctx, name: string, input: LoginPasswordInput): Promise<void> {
  name = userName(name);
  requireWriteOf(ctx.principal, name, "change this user's login password");
  const i = parseInput(loginPasswordSchema, input, 'login password');
  ctx.assertNotConfig(name);
  const hash = await ctx.hash(i.password);
  await ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(name, tx);
    await tx.updateUser(u.id, { passwordHash: hash });
    await ctx.audit(tx, 'user.login_password', name);
  });
}

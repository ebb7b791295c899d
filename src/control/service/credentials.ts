// Proxy credentials: the login/password pairs clients put in Proxy-Authorization or SOCKS5 auth.
// Separate from the login password and from each other, so one device's credential can be rotated
// or revoked without touching the others. A credential is named after its user ("alice") or
// carries the user's name as a prefix ("alice-phone"), so a login always says whose it is.
import { FerryError } from '../../core/errors.js';
import type { ProxyCredential, Store } from '../store/types.js';
import type { Ctx } from './context.js';
import { canSeeAll, requireRead, requireReadOf, requireWriteOf } from './principal.js';
import {
  credentialAddSchema,
  nameSchema,
  parseInput,
  passwdSchema,
  type CredentialAddInput,
  type PasswdInput,
} from './schemas.js';
import { generatePassword } from './secrets.js';
import { userName } from './users.js';
import { credentialView, type CredentialSecret, type CredentialView } from './views.js';

function belongsTo(username: string, user: string): boolean {
  return username === user || username.startsWith(`${user}-`) || username.startsWith(`${user}.`);
}

async function nextFreeName(tx: Store, user: string): Promise<string> {
  for (let n = 2; ; n++) if (!(await tx.getProxyCredential(`${user}-${n}`))) return `${user}-${n}`;
}

async function owned(username: string, tx: Store): Promise<{ cred: ProxyCredential; user: string }> {
  username = parseInput(nameSchema, username, 'credential');
  const cred = await tx.getProxyCredential(username);
  if (!cred) throw new FerryError('E_NOT_FOUND', `no proxy credential '${username}'`);
  const u = await tx.getUser(cred.userId);
  if (!u) throw new FerryError('E_NOT_FOUND', `no proxy credential '${username}'`);
  return { cred, user: u.name };
}

export async function addCredential(ctx: Ctx, input: CredentialAddInput): Promise<CredentialSecret> {
  const i = parseInput(credentialAddSchema, input, 'credential add');
  requireWriteOf(ctx.principal, i.user, 'add proxy credentials for this user');
  ctx.assertNotConfig(i.user);
  if (i.username !== undefined) {
    if (!belongsTo(i.username, i.user))
      throw new FerryError(
        'E_INVALID',
        `credential: must be '${i.user}' or start with '${i.user}-' or '${i.user}.'`,
      );
    ctx.assertNotConfig(i.username);
  }
  const password = i.password ?? generatePassword();
  const hash = await ctx.hash(password);
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(i.user, tx);
    const username = i.username ?? (await nextFreeName(tx, i.user));
    if (await tx.getProxyCredential(username))
      throw new FerryError('E_CONFLICT', `proxy credential '${username}' exists`);
    await tx.addProxyCredential(u.id, username, hash);
    await ctx.audit(tx, 'credential.add', i.user, { credential: username });
    return { user: i.user, username, password };
  });
}

export async function listCredentials(ctx: Ctx, user?: string): Promise<CredentialView[]> {
  if (user === undefined && !canSeeAll(ctx.principal)) {
    if (ctx.principal.user === null) requireRead(ctx.principal, 'list credentials');
    user = ctx.principal.user!;
  }
  if (user !== undefined) {
    const name = userName(user);
    requireReadOf(ctx.principal, name, "list this user's credentials");
    const u = await ctx.user(name);
    return (await ctx.store.listProxyCredentials(u.id)).map((c) => credentialView(c, name));
  }
  const names = new Map((await ctx.store.listUsers()).map((u) => [u.id, u.name]));
  return (await ctx.store.listProxyCredentials()).map((c) => credentialView(c, names.get(c.userId) ?? '?'));
}

export async function rotateCredential(
  ctx: Ctx,
  username: string,
  input: PasswdInput = {},
): Promise<CredentialSecret> {
  const i = parseInput(passwdSchema, input, 'credential rotate');
  // Look the owner up first (outside the write) so the authorization check needs no write lock.
  const { user } = await owned(username, ctx.store);
  requireWriteOf(ctx.principal, user, "rotate this user's credentials");
  ctx.assertNotConfig(user);
  const password = i.password ?? generatePassword();
  const hash = await ctx.hash(password);
  return ctx.store.transaction(async (tx) => {
    const { cred, user: owner } = await owned(username, tx);
    if (owner !== user) throw new FerryError('E_CONFLICT', 'the credential changed owner; retry');
    await tx.setProxyCredentialHash(cred.id, hash);
    await ctx.audit(tx, 'credential.rotate', owner, { credential: cred.username });
    return { user: owner, username: cred.username, password };
  });
}

export async function removeCredential(ctx: Ctx, username: string): Promise<void> {
  const { user } = await owned(username, ctx.store);
  requireWriteOf(ctx.principal, user, "remove this user's credentials");
  ctx.assertNotConfig(user);
  await ctx.store.transaction(async (tx) => {
    const { cred, user: owner } = await owned(username, tx);
    await tx.deleteProxyCredential(cred.id);
    await ctx.audit(tx, 'credential.remove', owner, { credential: cred.username });
  });
}

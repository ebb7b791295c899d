// API tokens: bearer secrets for the REST API, scoped and expiring. The secret is shown once and
// only its SHA-256 is stored; a leaked database does not leak working tokens.
import { FerryError } from '../../core/errors.js';
import type { Ctx } from './context.js';
import { canSeeAll, grantable, requireRead, requireReadOf, requireWriteOf } from './principal.js';
import { parseInput, tokenCreateSchema, type TokenCreateInput } from './schemas.js';
import { generateToken, hashToken } from './secrets.js';
import { futureExpiry, userName } from './users.js';
import { tokenView, type TokenCreated, type TokenView } from './views.js';

/** Tokens expire unless "never" is asked for explicitly. */
export const DEFAULT_TOKEN_LIFETIME = '90d';

export async function createToken(ctx: Ctx, input: TokenCreateInput): Promise<TokenCreated> {
  const i = parseInput(tokenCreateSchema, input, 'token create');
  requireWriteOf(ctx.principal, i.user, 'create tokens for this user');
  if (!ctx.principal.scopes.has('admin') && i.scope !== 'self')
    throw new FerryError('E_FORBIDDEN', 'not allowed: only an admin token can create admin or read tokens');
  const expiresAt = futureExpiry(
    ctx,
    i.expires === undefined ? DEFAULT_TOKEN_LIFETIME : i.expires,
    'expires',
  );
  const secret = generateToken();
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.user(i.user, tx);
    if (!grantable(u.role).includes(i.scope))
      throw new FerryError('E_INVALID', `a ${u.role} can only hold ${grantable(u.role).join('/')} tokens`);
    const t = await tx.createToken({
      userId: u.id,
      name: i.name ?? i.scope,
      scopes: [i.scope],
      expiresAt,
      tokenHash: hashToken(secret),
    });
    await ctx.audit(tx, 'token.create', u.name, { id: t.id, name: t.name, scopes: t.scopes, expiresAt });
    return { token: tokenView(t, u.name), secret };
  });
}

export async function listTokens(ctx: Ctx, user?: string): Promise<TokenView[]> {
  if (user === undefined && !canSeeAll(ctx.principal)) {
    if (ctx.principal.user === null) requireRead(ctx.principal, 'list tokens');
    user = ctx.principal.user!;
  }
  if (user !== undefined) {
    const name = userName(user);
    requireReadOf(ctx.principal, name, "list this user's tokens");
    const u = await ctx.user(name);
    return (await ctx.store.listTokens(u.id)).map((t) => tokenView(t, name));
  }
  const names = new Map((await ctx.store.listUsers()).map((u) => [u.id, u.name]));
  return (await ctx.store.listTokens()).map((t) => tokenView(t, names.get(t.userId) ?? '?'));
}

export async function revokeToken(ctx: Ctx, id: number): Promise<void> {
  if (!Number.isSafeInteger(id) || id < 1)
    throw new FerryError('E_INVALID', `token id: '${id}' is not a token id`);
  const t = await ctx.store.getToken(id);
  const owner = t ? await ctx.store.getUser(t.userId) : null;
  if (!t || !owner) throw new FerryError('E_NOT_FOUND', `no token #${id}`);
  requireWriteOf(ctx.principal, owner.name, "revoke this user's tokens");
  await ctx.store.transaction(async (tx) => {
    await tx.deleteToken(id);
    await ctx.audit(tx, 'token.revoke', owner.name, { id, name: t.name });
  });
}

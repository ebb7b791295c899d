// Users' Shadowsocks keys: read (admin, or the user) and rotate (admin, or the user). The key is a
// secret a client needs verbatim, so — unlike proxy passwords — the store keeps it and it can be
// shown again; reading it is a deliberate call, never part of a user view.
import { FerryError } from '../../core/errors.js';
import { newShadowsocksKey } from '../../share/ss-user-key.js';
import type { Ctx } from './context.js';
import { requireReadOf, requireWriteOf } from './principal.js';
import { userName } from './users.js';
import type { ShadowsocksKeyView } from './views.js';

export async function getShadowsocksKey(ctx: Ctx, name: string): Promise<ShadowsocksKeyView> {
  name = userName(name);
  requireReadOf(ctx.principal, name, "read this user's Shadowsocks key");
  const u = await ctx.store.getUser(name);
  if (!u) {
    if (ctx.configUsers.has(name))
      throw new FerryError(
        'E_NOT_FOUND',
        `user '${name}' is a config user: its key is ss_password in the config`,
      );
    throw new FerryError('E_NOT_FOUND', `no user '${name}'`);
  }
  return { user: name, key: await ctx.store.getShadowsocksKey(u.id) };
}

/** Creates the user's key, or replaces it (clients with the old key stop working). */
export async function rotateShadowsocksKey(ctx: Ctx, name: string): Promise<ShadowsocksKeyView> {
  name = userName(name);
  requireWriteOf(ctx.principal, name, "change this user's Shadowsocks key");
  ctx.assertNotConfig(name);
  const key = newShadowsocksKey();
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(name, tx);
    await tx.setShadowsocksKey(u.id, key);
    await ctx.audit(tx, 'shadowsocks_key.rotate', name);
    return { user: name, key };
  });
}

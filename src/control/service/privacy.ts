// GDPR: give a user their data (export) or erase it (forget).
//
// forget removes the user and everything keyed to them. The audit trail keeps what was done and when,
// but the name is replaced by "forgotten#<id>" in the events that named them, and the erasure itself
// is recorded as "user.forget" with no target at all: a hash of a short name is no protection (it is
// reversed by trying names), and the pseudonym still lets an auditor see that the earlier events
// concern one (erased) person.
import { requireAdmin, requireReadOf } from './principal.js';
import type { Ctx } from './context.js';
import { userName } from './users.js';

/** Times in the export as ISO strings, like the rest of the service's output. */
function isoTimes(v: unknown, key = ''): unknown {
  if (typeof v === 'number' && (key === 'at' || key === 'day' || key.endsWith('At')))
    return new Date(v).toISOString();
  if (Array.isArray(v)) return v.map((x) => isoTimes(x));
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, isoTimes(x, k)]),
    );
  return v;
}

export async function exportUser(ctx: Ctx, name: string): Promise<Record<string, unknown>> {
  name = userName(name);
  requireReadOf(ctx.principal, name, "export this user's data");
  if (ctx.principal.scopes.has('read') && !ctx.principal.scopes.has('admin') && ctx.principal.user !== name)
    requireAdmin(ctx.principal, "export another user's data"); // a read token may list, not dump
  const u = await ctx.user(name);
  const data = await ctx.store.exportUser(u.id);
  await ctx.store.transaction((tx) => ctx.audit(tx, 'user.export', name));
  return {
    format: 'ferry-user-export/1',
    exportedAt: new Date(ctx.now()).toISOString(),
    ...(isoTimes(data) as object),
  };
}

export async function forgetUser(ctx: Ctx, name: string): Promise<void> {
  name = userName(name);
  requireAdmin(ctx.principal, 'erase users');
  const u = await ctx.mutableUser(name);
  const alias = `forgotten#${u.id}`;
  // An admin erasing themselves is not named by the record of it either.
  const actor = ctx.principal.user === name ? alias : ctx.principal.name;
  await ctx.store.forgetUser(u.id, {
    redactAs: alias,
    event: { at: ctx.now(), actor, action: 'user.forget', target: null, details: null },
  });
}

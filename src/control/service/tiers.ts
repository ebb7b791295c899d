// Service tiers: rate limits, a quota per period, device and connection caps, allowed inbounds and
// exits. The data plane enforces them (see data-plane.ts for what it loads).
import { FerryError } from '../../core/errors.js';
import type { InboundKind, NewTier } from '../store/types.js';
import type { Ctx } from './context.js';
import { requireAdmin, requireRead } from './principal.js';
import {
  parseInput,
  parseSize,
  tierCreateSchema,
  tierNameSchema,
  tierUpdateSchema,
  type TierCreateInput,
  type TierUpdateInput,
} from './schemas.js';
import { futureExpiry } from './users.js';
import { tierView, type TierView } from './views.js';

type Fields = Omit<TierCreateInput, 'name'>;

const listOrAll = <T>(v: T[] | 'all' | null | undefined): T[] | null | undefined =>
  v === 'all' ? null : v === undefined ? undefined : v === null ? null : [...new Set(v)];

/** The given fields in store form; absent fields stay absent (an update leaves them as they are). */
function columns(ctx: Ctx, f: Fields): Partial<NewTier> {
  const out: Partial<NewTier> = {};
  if (f.up !== undefined) out.upBps = parseSize(f.up);
  if (f.down !== undefined) out.downBps = parseSize(f.down);
  if (f.quota !== undefined) out.quotaBytes = parseSize(f.quota);
  if (f.period !== undefined) out.quotaPeriod = f.period;
  if (f.maxDevices !== undefined) out.maxDevices = f.maxDevices;
  if (f.maxConnections !== undefined) out.maxConnections = f.maxConnections;
  const inbounds = listOrAll<InboundKind>(f.inbounds);
  if (inbounds !== undefined) out.inbounds = inbounds;
  const exits = listOrAll<string>(f.exits);
  if (exits !== undefined) out.exits = exits;
  if (f.expires !== undefined) out.expiresAt = futureExpiry(ctx, f.expires, 'expires');
  // A zero rate would stall every connection rather than refuse it; say so instead.
  if (out.upBps === 0 || out.downBps === 0)
    throw new FerryError('E_INVALID', 'a rate of 0 blocks all traffic; disable the users instead');
  return out;
}

/** Store fields → audit details: what changed, in the units given. */
const details = (c: Partial<NewTier>): Record<string, unknown> => ({ ...c });

const tierName = (name: unknown) => parseInput(tierNameSchema, name, 'tier name');

export async function createTier(ctx: Ctx, input: TierCreateInput): Promise<TierView> {
  requireAdmin(ctx.principal, 'create tiers');
  const { name, ...fields } = parseInput(tierCreateSchema, input, 'tier add');
  const c = columns(ctx, fields);
  return ctx.store.transaction(async (tx) => {
    if (await tx.getTier(name)) throw new FerryError('E_CONFLICT', `tier '${name}' exists`);
    const t = await tx.createTier({
      name,
      upBps: null,
      downBps: null,
      quotaBytes: null,
      quotaPeriod: 'month',
      maxDevices: null,
      maxConnections: null,
      inbounds: null,
      exits: null,
      expiresAt: null,
      ...c,
    });
    await ctx.audit(tx, 'tier.create', name, details(c));
    return tierView(t);
  });
}

export async function listTiers(ctx: Ctx): Promise<TierView[]> {
  requireRead(ctx.principal, 'list tiers');
  return (await ctx.store.listTiers()).map(tierView);
}

export async function showTier(ctx: Ctx, name: string): Promise<TierView & { users: string[] }> {
  requireRead(ctx.principal, 'show tiers');
  const t = await ctx.tier(tierName(name));
  const users = (await ctx.store.listUsers()).filter((u) => u.tierId === t.id).map((u) => u.name);
  return { ...tierView(t), users };
}

export async function updateTier(ctx: Ctx, name: string, patch: TierUpdateInput): Promise<TierView> {
  requireAdmin(ctx.principal, 'change tiers');
  name = tierName(name);
  const c = columns(ctx, parseInput(tierUpdateSchema, patch, 'tier update'));
  return ctx.store.transaction(async (tx) => {
    const t = await ctx.tier(name, tx);
    const updated = await tx.updateTier(t.id, c);
    await ctx.audit(tx, 'tier.update', name, details(c));
    return tierView(updated);
  });
}

export async function removeTier(ctx: Ctx, name: string): Promise<void> {
  requireAdmin(ctx.principal, 'remove tiers');
  name = tierName(name);
  await ctx.store.transaction(async (tx) => {
    const t = await ctx.tier(name, tx);
    const users = (await tx.listUsers()).filter((u) => u.tierId === t.id).map((u) => u.name);
    if (users.length) {
      const some = users.slice(0, 5).join(', ') + (users.length > 5 ? ', ...' : '');
      throw new FerryError(
        'E_CONFLICT',
        `tier '${name}' is used by ${users.length} user(s) (${some}); move them to another tier first`,
      );
    }
    await tx.deleteTier(t.id);
    await ctx.audit(tx, 'tier.remove', name);
  });
}

// Usage reports: bytes in the current quota period of each user's tier (calendar month when the
// user has no tier), next to the quota.
import { periodStart } from '../quota.js';
import type { QuotaPeriod, Tier, User } from '../store/types.js';
import type { Ctx } from './context.js';
import { canSeeAll, requireRead, requireReadOf } from './principal.js';
import { userName } from './users.js';
import { iso, type UsageReport } from './views.js';

export async function usageReports(ctx: Ctx, users: User[]): Promise<UsageReport[]> {
  const now = ctx.now();
  const tiers = new Map<number, Tier>((await ctx.store.listTiers()).map((t) => [t.id, t]));
  // One grouped query per period kind, not one per user.
  const totals = new Map<QuotaPeriod, Map<number, { bytesUp: number; bytesDown: number }>>();
  for (const period of ['month', 'rolling30'] as const) {
    const rows = await ctx.store.usageTotals(periodStart(period, now));
    totals.set(period, new Map(rows.map((r) => [r.userId, r])));
  }
  return users.map((u) => {
    const tier = u.tierId === null ? null : (tiers.get(u.tierId) ?? null);
    const period = tier?.quotaPeriod ?? 'month';
    const t = totals.get(period)!.get(u.id) ?? { bytesUp: 0, bytesDown: 0 };
    const total = t.bytesUp + t.bytesDown;
    const quota = tier?.quotaBytes ?? null;
    return {
      user: u.name,
      tier: tier?.name ?? null,
      period,
      periodStart: iso(periodStart(period, now)),
      bytesUp: t.bytesUp,
      bytesDown: t.bytesDown,
      bytesTotal: total,
      quota,
      remaining: quota === null ? null : Math.max(0, quota - total),
    };
  });
}

export async function usage(ctx: Ctx, user?: string): Promise<UsageReport[]> {
  if (user === undefined && !canSeeAll(ctx.principal)) {
    if (ctx.principal.user === null) requireRead(ctx.principal, 'read usage');
    user = ctx.principal.user!;
  }
  if (user !== undefined) {
    const name = userName(user);
    requireReadOf(ctx.principal, name, "read this user's usage");
    return usageReports(ctx, [await ctx.user(name)]);
  }
  return usageReports(ctx, await ctx.store.listUsers());
}

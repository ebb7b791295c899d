// Quota periods. Usage is stored per user and UTC day, so a period is "the days since D": the first
// of the current UTC month, or the last 30 days including today (rolling30).
import type { QuotaPeriod } from './store/types.js';

export const DAY_MS = 86_400_000;

/** The UTC day (ms at 00:00) containing `ms`. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The first day counted in the period that contains `now`. */
export function periodStart(period: QuotaPeriod, now: number): number {
  if (period === 'month') {
    const d = new Date(now);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  return dayOf(now) - 29 * DAY_MS;
}

// Quota periods. Usage is stored in UTC-day buckets, so both periods are a sum over days:
//   rolling30: the last 30 days including today;
//   month:     since the first day of the current calendar month (UTC).
import type { QuotaPeriod } from '../store/types.js';

const DAY = 86_400_000;

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

export function periodStart(period: QuotaPeriod, now: number): number {
  if (period === 'rolling30') return dayOf(now) - 29 * DAY;
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

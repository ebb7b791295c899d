// Durations in config files: a number of seconds, or a string with a unit ("500ms", "10s", "5m", "1h", "30d").
export function parseDurationMs(v: number | string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new Error('must be a non-negative number of seconds');
    return Math.round(v * 1000);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) throw new Error(`'${v}' is not a duration (e.g. 30, "30s", "500ms", "5m", "1h", "30d")`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult =
    unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  return Math.round(n * mult);
}

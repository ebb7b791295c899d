// Port lists in rules: "443", "8000-8999", or numbers.
export interface PortRange {
  lo: number;
  hi: number;
}

export function parsePortRange(v: string | number): PortRange {
  const t = String(v).trim();
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(t);
  if (!m) throw new Error(`'${t}' is not a port or port range (e.g. 443 or 8000-8999)`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) throw new Error(`'${t}' is out of range (1-65535, low-high)`);
  return { lo, hi };
}

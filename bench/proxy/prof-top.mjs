// prof-top.mjs FILE.cpuprofile [N] : the top N frames of a V8 CPU profile (node --cpu-prof) by self
// time and by inclusive time, with file:line, as percentages of the sampled time. Idle time
// ("(idle)") is listed but excluded from the percentages of the busy frames' "busy%" column.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const [file, nArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: prof-top.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const top = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample weights: timeDeltas[i] is the time before sample i (µs).
const selfUs = new Map();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  total += dt;
  selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + dt);
}
const label = (n) => {
  const f = n.callFrame;
  const url = f.url ? relative(process.cwd(), f.url.replace(/^file:\/\//, '')) : '';
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
};
const self = new Map();
const incl = new Map();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  const key = label(n);
  self.set(key, (self.get(key) ?? 0) + us);
  // Inclusive: each distinct label on the stack once.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = label(byId.get(cur));
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + us);
  }
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
const busy = total - idle;
const pct = (v, of) => ((100 * v) / of).toFixed(1).padStart(5);
const show = (title, m) => {
  process.stdout.write(`\n${title}  (sampled ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s)\n  busy%  ms      frame\n`);
  for (const [k, v] of [...m].filter(([k]) => !k.startsWith('(idle)') && k !== '(root)').sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${pct(v, busy)}  ${String(Math.round(v / 1000)).padStart(6)}  ${k}\n`);
  }
};
show('self time', self);
show('inclusive time', incl);

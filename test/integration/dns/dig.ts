// Running dig (ISC BIND's resolver client) and reading its answer.
import { runAsync } from '../../helpers/proc.js';

export interface DigResult {
  status: string;
  flags: string[];
  /** RDATA of the answer section, in order (TXT strings keep dig's quotes). */
  answers: string[];
  /** TTLs of the answer section. */
  ttls: number[];
  raw: string;
}

export async function dig(
  server: { host: string; port: number },
  name: string,
  type = 'A',
  extra: string[] = [],
): Promise<DigResult> {
  const args = [
    `@${server.host}`,
    '-p',
    String(server.port),
    name,
    type,
    '+tries=1',
    '+time=5',
    '+nostats',
    ...extra,
  ];
  const r = await runAsync('dig', args, { timeoutMs: 20_000 });
  const raw = r.stdout + r.stderr;
  const status = /status: (\w+)/.exec(raw)?.[1] ?? `no answer (dig exit ${r.code})`;
  const flags = (/;; flags: ([^;]*);/.exec(raw)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const answers: string[] = [];
  const ttls: number[] = [];
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(raw)?.[1] ?? '';
  for (const line of section.split('\n')) {
    const m = /^\S+\s+(\d+)\s+IN\s+\S+\s+(.*)$/.exec(line.trim());
    if (m) {
      ttls.push(Number(m[1]));
      answers.push(m[2]!);
    }
  }
  return { status, flags, answers, ttls, raw };
}

// Running the system tools `ferry up`/`down` drive (ip, nft, sysctl, hooks), each echoed as
// `[#] command` the way wg-quick(8) does, so an administrator sees exactly what changed.
import { spawnSync } from 'node:child_process';

export type Echo = (line: string) => void;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    super(`${argv.join(' ')} failed (${result.code}): ${(result.stderr || result.stdout).trim()}`);
    this.name = 'CommandError';
  }
}

export class System {
  constructor(private readonly echo: Echo) {}

  /** Echoes a step that is not a command line (UAPI, DNS, a spawned daemon). */
  say(line: string): void {
    this.echo(line);
  }

  /** Runs argv; echoes it unless `quiet`; throws CommandError on failure unless `allowFail`. */
  run(argv: string[], opts: { input?: string; allowFail?: boolean; quiet?: boolean } = {}): RunResult {
    if (!opts.quiet) this.echo(`[#] ${argv.join(' ')}${opts.input !== undefined ? ' <<EOF' : ''}`);
    const r = spawnSync(argv[0]!, argv.slice(1), {
      input: opts.input,
      encoding: 'utf8',
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    const res: RunResult = {
      code: r.status ?? (r.error ? 127 : 1),
      stdout: r.stdout ?? '',
      stderr: (r.stderr ?? '') + (r.error ? String(r.error.message) : ''),
    };
    if (res.code !== 0 && !opts.allowFail) throw new CommandError(argv, res);
    return res;
  }

  /** A read-only query: not echoed, output returned ('' on failure). */
  query(argv: string[]): string {
    const r = this.run(argv, { allowFail: true, quiet: true });
    return r.code === 0 ? r.stdout : '';
  }

  /** A PreUp/PostUp/PreDown/PostDown hook: one shell command line (wg-quick runs them with eval). */
  hook(command: string): void {
    this.echo(`[#] ${command}`);
    const r = spawnSync('bash', ['-c', command], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 120_000,
    });
    const code = r.status ?? 1;
    if (code !== 0)
      throw new CommandError(['bash', '-c', command], { code, stdout: '', stderr: r.error?.message ?? '' });
  }
}

// A throwaway PostgreSQL cluster for the store tests: initdb in a temp directory as the postgres
// user, listening only on a unix socket in that directory (no TCP port to collide on), stopped and
// removed by stop(). Needs root (to run as postgres) and the Debian package `postgresql`.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The newest installed server's bin directory, or null. */
export function pgBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0]!, 'bin') : null;
}

export interface PgCluster {
  url: string;
  stop(): void;
}

function asPostgres(bin: string, args: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', bin, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

export function startPgCluster(): PgCluster {
  const bin = pgBinDir();
  if (!bin) throw new Error('no PostgreSQL server installed (Debian package postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  const { uid, gid } = pgIds();
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const port = 50_000 + (process.pid % 10_000); // names the socket file only; no TCP listener
  // fsync=off: a test cluster lives for seconds; durability is the SQLite crash test's subject.
  asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  asPostgres(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-w',
    '-l',
    join(dir, 'log'),
    '-o',
    `-k ${dir} -p ${port} -c listen_addresses='' -c fsync=off`,
    'start',
  ]);
  let stopped = false;
  return {
    url: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}&port=${port}`,
    stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(
        'runuser',
        ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'],
        {
          timeout: 30_000,
        },
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pgIds(): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0)
    throw new Error('no postgres system user (install the postgresql package)');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

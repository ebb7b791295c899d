// Opens the store the configuration names:
//
//   store: { backend: sqlite }                          # default: <data_dir>/ferry.db
//   store: { backend: sqlite, url: /var/lib/ferry/x.db } # a path (relative: to the data directory)
//   store: { backend: postgres, url: postgresql://ferry@db/ferry }
//
// Migrations run at open; a database from a newer Ferry is refused (E_CONFIG).
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { openSqliteStore } from './store/sqlite.js';
import type { Store } from './store/types.js';

export const storeConfigSchema = z
  .object({
    backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
    url: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => s.backend !== 'postgres' || s.url !== undefined, {
    message: 'backend postgres needs url: postgresql://user@host/db',
  });

export type StoreConfig = z.input<typeof storeConfigSchema>;

export const DB_FILE = 'ferry.db';

export async function openStore(opts: {
  dataDir: string;
  store?: StoreConfig;
  log?: Logger;
}): Promise<Store> {
  const r = storeConfigSchema.safeParse(opts.store ?? {});
  if (!r.success) throw new FerryError('E_CONFIG', `store: ${r.error.issues[0]!.message}`);
  const cfg = r.data;
  if (cfg.backend === 'postgres') {
    // Loaded on demand: most installations never need the pg driver.
    const { openPostgresStore } = await import('./store/postgres.js');
    return openPostgresStore(cfg.url!, opts.log ? { log: opts.log } : {});
  }
  const path =
    cfg.url === undefined
      ? join(opts.dataDir, DB_FILE)
      : isAbsolute(cfg.url)
        ? cfg.url
        : join(opts.dataDir, cfg.url);
  return openSqliteStore(path);
}

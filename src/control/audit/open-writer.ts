// Picks the connection-record writer for a store: a thread of its own for a SQLite file, the store's
// async driver on this thread otherwise (see connection-writer.ts).
import type { Logger } from '../../core/logger.js';
import type { Store } from '../store/types.js';
import { StoreConnectionWriter, type ConnectionWriter } from './connection-writer.js';
import { SqliteConnectionWriter } from './sqlite-writer.js';

export function openConnectionWriter(store: Store, log: Logger): ConnectionWriter {
  if (store.backend === 'sqlite' && store.file) return new SqliteConnectionWriter(store.file, store, log);
  return new StoreConnectionWriter(store, log);
}

// A Ferry logger (the production one, with its redaction) that keeps its JSON lines in memory, for
// tests that check what is — and is not — logged.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/core/logger.js';

export function memoryLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: createLogger({ level, destination: dest }), lines };
}

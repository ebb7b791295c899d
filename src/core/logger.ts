// The process logger (pino, JSON lines on stderr). Secrets never reach it: the redact list removes
// credential-shaped keys wherever they appear, and callers never pass raw headers or passwords.
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  '*.password',
  'password_hash',
  '*.password_hash',
  'authorization',
  '*.authorization',
  'proxyAuthorization',
  '*.proxyAuthorization',
  'privateKey',
  '*.privateKey',
  'token',
  '*.token',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.FERRY_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(2),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

// What the data plane reports bytes to: a Meter per session. It counts (for usage and quotas) and
// may ask the caller to slow down (rate limits). The gateway hands out real meters when a
// management store is configured; otherwise NO_METER, whose methods cost one call each.
import type { SessionSignal } from './kill-signal.js';

export interface Meter {
  /** Bytes from the client towards the destination; returns ms to wait before reading more. */
  up(n: number): number;
  /** Bytes from the destination towards the client; returns ms to wait before reading more. */
  down(n: number): number;
  /** Aborted when the session must end (quota spent, session killed, user disabled). */
  readonly signal: SessionSignal | undefined;
  /** Called once when the session ends. */
  close(): void;
}

export const NO_METER: Meter = {
  up: () => 0,
  down: () => 0,
  signal: undefined,
  close: () => undefined,
};

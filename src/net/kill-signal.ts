// The signal a session's meter raises to end it (quota spent, user disabled, operator's kill).
// Every proxied session (every HTTP request on a keep-alive connection) gets one, and relays and the
// HTTP connection subscribe to it; Node's AbortController/EventTarget costs microseconds per
// creation and per listener, which showed in the request rate. This keeps only what those users
// need: `aborted`, `reason`, and 'abort' listeners (functions or handleEvent objects) called once.
// An AbortSignal has the same shape, so code that watches either takes a SessionSignal.

export type AbortListener = (() => void) | { handleEvent(): void };

/** What relays and inbounds watch: an AbortSignal or a KillSignal. */
export interface SessionSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
}

export class KillSignal implements SessionSignal {
  aborted = false;
  reason: unknown = undefined;
  /** Usually none or one or two (the relay, the HTTP connection). */
  private listeners: AbortListener[] | null = null;

  /** Listeners always run once (`once` is implied), as every user of a session signal wants. */
  addEventListener(_type: 'abort', listener: AbortListener, _options?: { once?: boolean }): void {
    if (this.aborted) return; // as with AbortSignal: no event after the fact
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const l = this.listeners;
    if (l === null) return;
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
  }

  /** Raises the signal once; listeners run synchronously, each once. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const l = this.listeners;
    this.listeners = null;
    if (l === null) return;
    for (const f of l) {
      if (typeof f === 'function') f();
      else f.handleEvent();
    }
  }
}

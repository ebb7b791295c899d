// Whose fault is a failed dial through an exit? A pool needs to know: when the exit itself is broken
// (its proxy is down, refuses our credentials, speaks garbage) the member is counted unhealthy and
// the request is retried on another member; when the exit worked but the destination did not (the
// upstream reports "connection refused" or "host unreachable"), another member would fail the same
// way and the member is healthy, so the error goes to the client as it is.
const EXIT_FAULT = Symbol('ferry.exitFault');

/** Marks an error as the exit's fault and returns it. */
export function exitFault<E extends Error>(err: E): E {
  (err as E & { [EXIT_FAULT]?: boolean })[EXIT_FAULT] = true;
  return err;
}

export function isExitFault(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { [EXIT_FAULT]?: boolean })[EXIT_FAULT] === true;
}

// The gateway's open sessions as the admin API sees them. The API defines the interface; the
// gateway implements it (from its ConnTracker/session registry) and hands it to startApiServer.
// Without it the /sessions routes answer 501.
//
// Privacy: in logging mode `none` no record of a connection's addresses, destinations or times may
// exist anywhere an operator can read it back, and this listing is such a place. The implementation
// therefore leaves out `source`, `destination` and `startedAt` in that mode (they are optional here
// for that reason); user, inbound and byte counts stay, as the per-user counters do.

export interface SessionView {
  /** Opaque, unique among the open sessions (e.g. "1234", or "w2-1234" with several workers). */
  id: string;
  /** The authenticated user; null on an inbound without authentication. */
  user: string | null;
  /** The inbound's name from the configuration. */
  inbound: string;
  /** The chosen outbound (exit) name, when routed. */
  outbound?: string;
  /** Client address as "host:port" (absent in logging mode none). */
  source?: string;
  /** Destination as "host:port" (absent in logging mode none). */
  destination?: string;
  /** ISO 8601 time the session was accepted (absent in logging mode none). */
  startedAt?: string;
  /** Payload bytes so far, client to destination and back. */
  bytesUp: number;
  bytesDown: number;
}

/** Synchronous in one process; asynchronous when the sessions live in worker processes. */
export interface LiveSessions {
  list(): SessionView[] | Promise<SessionView[]>;
  /** Closes one session; false when no open session has this id. */
  kill(id: string): boolean | Promise<boolean>;
  /** Closes every open session of a user; returns how many were closed. */
  killUser(name: string): number | Promise<number>;
}

// Per-request session bookkeeping. A request on a fresh origin connection goes through openTcp,
// which routes, admits, dials and returns a lease. A request on a pooled connection skips the dial
// but is still a session of its own: routed by the caller and admitted with beginSession, so it is
// counted against the user's limits and written to the access log in audit mode like any other.
import type { Session } from '../../core/session.js';
import type { Decision } from '../../router/router.js';
import type { InboundContext } from '../context.js';
import { beginSession, type OpenedTcp, type SessionLease } from '../dispatch.js';

export type SessionRecord = SessionLease;

export function dialedRecord(opened: OpenedTcp): SessionRecord {
  return opened.lease;
}

/** Accounting for a request sent on a pooled connection. Throws E_LIMIT / E_QUOTA when refused. */
export function pooledRecord(ctx: InboundContext, session: Session, decision: Decision): SessionRecord {
  return beginSession(ctx, session, decision, true);
}

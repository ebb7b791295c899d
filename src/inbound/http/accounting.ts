// Per-request session bookkeeping. A request on a fresh origin connection goes through openTcp,
// which routes, takes the per-user slot, dials and returns done(). A request on a pooled connection
// skips the dial but is still a session of its own: routed by the caller, counted against the
// user's limit, and written to the access log in audit mode — the same record openTcp writes.
import { formatHostPort, type Session } from '../../core/session.js';
import type { RelayResult } from '../../net/relay.js';
import type { Decision } from '../../router/router.js';
import type { InboundContext } from '../context.js';
import type { OpenedTcp } from '../dispatch.js';

export interface SessionRecord {
  /** The session ended; write the audit record (if enabled) and release the user slot. */
  done(result: Partial<RelayResult>): void;
  /** The attempt is abandoned and will be retried as a new one: release without a record. */
  cancel(): void;
}

/** Wraps openTcp's done(): cancel is done() without bytes (openTcp has no silent release). */
export function dialedRecord(opened: OpenedTcp): SessionRecord {
  return {
    done: (r) => opened.done(r),
    cancel: () => opened.done({ reason: 'error' }),
  };
}

/** Accounting for a request sent on a pooled connection. Throws E_LIMIT over the per-user limit. */
export function pooledRecord(ctx: InboundContext, session: Session, decision: Decision): SessionRecord {
  const release =
    session.user !== null ? ctx.tracker.acquireUser(session.user, ctx.limits().maxConnectionsPerUser) : null;
  const started = Date.now();
  let finished = false;
  return {
    done(result) {
      if (finished) return;
      finished = true;
      release?.();
      if (ctx.accessLog() === 'audit') {
        ctx.log.info(
          {
            session: session.id,
            inbound: session.inbound,
            user: session.user,
            src: formatHostPort(session.source.address, session.source.port),
            dest: formatHostPort(session.dest.host, session.dest.port),
            cmd: session.command,
            outbound: decision.outbound.name,
            up: result.up ?? 0,
            down: result.down ?? 0,
            ms: Date.now() - started,
            end: result.reason,
            reused: true,
          },
          'session',
        );
      }
    },
    cancel() {
      if (finished) return;
      finished = true;
      release?.();
    },
  };
}

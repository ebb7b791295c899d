// The switch from HTTP to a raw byte tunnel, for CONNECT (RFC 9110 §9.3.6) and for an upgrade the
// origin accepted with 101 (RFC 9110 §7.8): write what each side already sent ahead of the switch,
// then relay with half-close and byte accounting until either side is done.
import type { Socket } from 'node:net';
import { relay } from '../../net/relay.js';
import type { SessionLease } from '../dispatch.js';

export interface TunnelStart {
  /** Sent to the client first: the 200 for CONNECT, the 101 head (and any bytes behind it) for an upgrade. */
  toClient: (Buffer | string)[];
  /** Client bytes that arrived behind the request head (a pipelined TLS ClientHello, early frames). */
  toOrigin: Buffer | null;
  /** Bytes already moved in this session before the switch, for the session record. */
  up: number;
  down: number;
  idleMs: number;
  record: SessionLease | null;
}

/** Starts the tunnel; the caller must have removed its own 'data'/'end'/'close' listeners. */
export function startTunnel(client: Socket, origin: Socket, t: TunnelStart): void {
  // Half-close passes through a tunnel (TLS close_notify, then FIN, in either order).
  client.allowHalfOpen = true;
  origin.allowHalfOpen = true;
  origin.setNoDelay(true);
  for (const b of t.toClient) {
    if (typeof b === 'string') client.write(b, 'latin1');
    else client.write(b);
  }
  let up = t.up;
  const record = t.record;
  if (t.toOrigin !== null) {
    origin.write(t.toOrigin);
    up += t.toOrigin.length;
    record?.meter.up(t.toOrigin.length);
  }
  const down = t.down;
  void relay(client, origin, { idleTimeoutMs: t.idleMs, ...(record ? { meter: record.meter } : {}) }).then(
    (r) => {
      r.up += up;
      r.down += down;
      record?.done(r);
    },
  );
}

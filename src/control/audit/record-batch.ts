// Connection records (audit mode) on their way to the store, as the data plane hands them over: one
// flat array of raw fields, RECORD_FIELDS per record. A busy proxy ends tens of thousands of sessions
// a second, and in audit mode each becomes a record; pushing primitives into an array costs no
// object per record, and such an array crosses to the writer thread (postMessage) several times
// cheaper than an array of objects. The strings the table holds ("host:port", "direct closed") are
// built from the raw fields by decodeRecords, in the writer thread where there is one.
import { formatHostPort } from '../../core/session.js';
import type { ConnectionRecord } from '../store/types.js';

export type RecordValue = string | number | null;

/**
 * Fields of one record, in this order: at, user, inbound, source address, source port, destination
 * host, destination port, bytes up, bytes down, duration (ms), outbound, end reason.
 */
export const RECORD_FIELDS = 12;

/**
 * Appends one record to `values`. `outbound` and `reason` make the decision column: "direct",
 * "direct closed", or for a refused session outbound "refused" and the error code.
 */
export function pushRecord(
  values: RecordValue[],
  at: number,
  user: string | null,
  inbound: string,
  sourceAddress: string,
  sourcePort: number,
  destHost: string,
  destPort: number,
  bytesUp: number,
  bytesDown: number,
  durationMs: number,
  outbound: string,
  reason: string | null,
): void {
  values.push(
    at,
    user,
    inbound,
    sourceAddress,
    sourcePort,
    destHost,
    destPort,
    bytesUp,
    bytesDown,
    durationMs,
    outbound,
    reason,
  );
}

/** The number of records in a flat array. */
export const recordCount = (values: readonly RecordValue[]): number => values.length / RECORD_FIELDS;

/** The decision column: the outbound, and how the session ended when known ("direct closed"). */
export const decisionText = (outbound: string, reason: string | null): string =>
  reason ? `${outbound} ${reason}` : outbound;

/** Record `i` of a flat array as the store takes it. */
export function decodeRecord(v: readonly RecordValue[], i: number): ConnectionRecord {
  const o = i * RECORD_FIELDS;
  const reason = v[o + 11] as string | null;
  return {
    at: v[o] as number,
    user: v[o + 1] as string | null,
    inbound: v[o + 2] as string,
    source: formatHostPort(v[o + 3] as string, v[o + 4] as number),
    destination: formatHostPort(v[o + 5] as string, v[o + 6] as number),
    bytesUp: v[o + 7] as number,
    bytesDown: v[o + 8] as number,
    durationMs: v[o + 9] as number,
    decision: decisionText(v[o + 10] as string, reason),
  };
}

/** Every record of a flat array. */
export function decodeRecords(values: readonly RecordValue[]): ConnectionRecord[] {
  const n = recordCount(values);
  const out: ConnectionRecord[] = new Array<ConnectionRecord>(n);
  for (let i = 0; i < n; i++) out[i] = decodeRecord(values, i);
  return out;
}

// Connection records (audit mode) on their way to the store, as the data plane hands them over. A
// busy proxy ends tens of thousands of sessions a second, and in audit mode each becomes a record, so
// a record costs the gateway's thread no object and no string: RecordBatch keeps RECORD_FIELDS
// numbers per record in a Float64Array, strings (user, inbound, addresses, outbound, end reason) as
// indexes into a per-batch string table — a session's strings are mostly the same objects as the
// previous session's, so the table stays small. The batch crosses to the writer thread with its
// array transferred, not copied (an array of objects cost about 3.5 µs a record to postMessage, a
// flat array of mixed values about 0.7 µs; this, about a tenth of that). The batch is stored as it
// is, one chunk per batch (record-chunk.ts); the strings a reader sees ("host:port", "direct
// closed") are built from the raw fields when records are read.
import { formatHostPort } from '../../core/session.js';
import type { ConnectionRecord } from '../store/types.js';

/**
 * Fields of one record, in this order: at, user, inbound, source address, source port, destination
 * host, destination port, bytes up, bytes down, duration (ms), outbound, end reason. String fields
 * hold an index into `strings`, or -1 for null.
 */
export const RECORD_FIELDS = 12;

/** What a batch is when handed over (and posted to the writer thread). */
export interface PackedRecords {
  rows: number;
  nums: Float64Array;
  strings: string[];
}

/** The strings of a batch: each kept once, records point at it by index (-1 for null). */
export class StringTable {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();

  id(s: string | null): number {
    if (s === null) return -1;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

export class RecordBatch {
  rows = 0;
  private nums: Float64Array;
  private table = new StringTable();
  /**
   * The newest row (+1; 0 for none) of each client port in this batch, for merging: see push. An
   * array indexed by port, not a map: no allocation and no hashing per record, and take() clears
   * only the entries its rows set.
   */
  private readonly lastRow = new Int32Array(65536);

  constructor(readonly capacity: number) {
    this.nums = new Float64Array(capacity * RECORD_FIELDS);
  }

  get full(): boolean {
    return this.rows >= this.capacity;
  }

  /**
   * The last string seen in each string field and its index: most records repeat the previous
   * record's user, inbound, source, destination and exit, and a comparison is cheaper than hashing
   * a new string object (a source address or host parsed anew for every connection) for the map.
   */
  private readonly memoStr: (string | null)[] = [null, null, null, null, null, null];
  private readonly memoIdx: number[] = [-1, -1, -1, -1, -1, -1];

  private field(slot: number, s: string | null): number {
    if (s === this.memoStr[slot]) return this.memoIdx[slot]!;
    const i = this.table.id(s);
    this.memoStr[slot] = s;
    this.memoIdx[slot] = i;
    return i;
  }

  /**
   * Appends one record (the caller checks `full` first). `outbound` and `reason` make the decision
   * column: "direct", "direct closed", or for a refused session "refused" and the error code.
   */
  push(
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
    const v = this.nums;
    const userI = this.field(0, user);
    const inboundI = this.field(1, inbound);
    const sourceI = this.field(2, sourceAddress);
    const destI = this.field(3, destHost);
    const outboundI = this.field(4, outbound);
    const reasonI = this.field(5, reason);
    // The record is of a connection: requests that one client connection sends to one destination
    // through one exit (HTTP keep-alive) are one connection's traffic, and become one record with
    // their bytes summed and the duration spanning them, instead of a row per request. That is what
    // the audit asks for (who, from where, to where, how much, how long) at a fraction of the rows.
    // Refusals are never merged: each one is an event of its own.
    const prev = outbound === 'refused' ? 0 : this.lastRow[sourcePort & 0xffff]!;
    if (prev !== 0) {
      const p = (prev - 1) * RECORD_FIELDS;
      if (
        v[p + 6] === destPort &&
        v[p + 1] === userI &&
        v[p + 2] === inboundI &&
        v[p + 3] === sourceI &&
        v[p + 5] === destI &&
        v[p + 10] === outboundI &&
        v[p + 11] === reasonI &&
        at >= v[p]!
      ) {
        v[p + 7] = v[p + 7]! + bytesUp;
        v[p + 8] = v[p + 8]! + bytesDown;
        v[p + 9] = Math.max(v[p + 9]!, at + durationMs - v[p]!);
        return;
      }
    }
    const row = this.rows++;
    const o = row * RECORD_FIELDS;
    this.lastRow[sourcePort & 0xffff] = row + 1;
    v[o] = at;
    v[o + 1] = userI;
    v[o + 2] = inboundI;
    v[o + 3] = sourceI;
    v[o + 4] = sourcePort;
    v[o + 5] = destI;
    v[o + 6] = destPort;
    v[o + 7] = bytesUp;
    v[o + 8] = bytesDown;
    v[o + 9] = durationMs;
    v[o + 10] = outboundI;
    v[o + 11] = reasonI;
  }

  /** The records so far, for handing over; the batch starts empty (with a new array) afterwards. */
  take(): PackedRecords {
    const v = this.nums;
    for (let i = 0; i < this.rows; i++) this.lastRow[v[i * RECORD_FIELDS + 4]! & 0xffff] = 0;
    const out: PackedRecords = { rows: this.rows, nums: this.nums, strings: this.table.strings };
    this.nums = new Float64Array(this.capacity * RECORD_FIELDS);
    this.table = new StringTable();
    this.memoStr.fill(null);
    this.memoIdx.fill(-1);
    this.rows = 0;
    return out;
  }
}

/** An address and port; a port of -1 marks an address stored whole (see packRecords). */
const hostPort = (host: string, port: number): string => (port < 0 ? host : formatHostPort(host, port));

/** Record `i` of a batch as the store gives it out: "host:port" and the decision text built here. */
export function recordOf(b: PackedRecords, i: number): ConnectionRecord {
  const v = b.nums;
  const o = i * RECORD_FIELDS;
  const str = (k: number): string | null => (v[o + k]! < 0 ? null : b.strings[v[o + k]!]!);
  const outbound = str(10)!;
  const reason = str(11);
  return {
    at: v[o]!,
    user: str(1),
    inbound: str(2)!,
    source: hostPort(str(3)!, v[o + 4]!),
    destination: hostPort(str(5)!, v[o + 6]!),
    bytesUp: v[o + 7]!,
    bytesDown: v[o + 8]!,
    durationMs: v[o + 9]!,
    // The outbound, and how the session ended when known ("direct closed").
    decision: reason ? `${outbound} ${reason}` : outbound,
  };
}

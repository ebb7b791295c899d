// Connection records at rest. Audit mode stores records in chunks: one row of `connection_chunks`
// holds a batch of up to a few hundred records as the gateway packed them (record-batch.ts): the
// numbers as little-endian float64s in a blob, the strings as a JSON array, plus the smallest and
// largest `at` and, in `connection_chunk_users`, which users the chunk has records of.
//
// Why not a row per record: a row costs SQLite an INSERT into the table and two indexes, and the
// writer thread builds its parameters and strings, about 3 µs of CPU per record that a busy gateway
// shares its cores with; a chunk costs one INSERT per few hundred records and no per-record work.
// Records are read rarely (the API's listing, a GDPR export) and those reads unpack the chunks they
// touch. Retention and `forget` delete whole chunks or rewrite the few that hold some of what goes.
import { endianness } from 'node:os';
import type { ConnectionRecord } from '../store/types.js';
import { RECORD_FIELDS, StringTable, type PackedRecords } from './record-batch.js';

/** A batch of records as one row stores it. */
export interface StoredChunk {
  minAt: number;
  maxAt: number;
  rows: number;
  /** JSON array: the strings the records' string fields index. */
  strings: string;
  /** rows × RECORD_FIELDS float64, little-endian. */
  nums: Buffer;
  /** The distinct named users of the records (records without a user are not listed). */
  users: string[];
}

/** Records per chunk that packRecords makes (the gateway's batches are HANDOFF_ROWS). */
export const CHUNK_ROWS = 256;

/** Offsets of the string fields within a record (see RECORD_FIELDS). */
const STRING_FIELDS = [1, 2, 3, 5, 10, 11] as const;
const USER = 1;
const LITTLE_ENDIAN = endianness() === 'LE';

export function toChunk(b: PackedRecords): StoredChunk {
  const v = b.nums;
  let minAt = Infinity;
  let maxAt = -Infinity;
  const seen = new Set<number>();
  for (let i = 0; i < b.rows; i++) {
    const o = i * RECORD_FIELDS;
    const at = v[o]!;
    if (at < minAt) minAt = at;
    if (at > maxAt) maxAt = at;
    if (v[o + USER]! >= 0) seen.add(v[o + USER]!);
  }
  const bytes = Buffer.from(v.buffer, v.byteOffset, b.rows * RECORD_FIELDS * 8);
  return {
    minAt,
    maxAt,
    rows: b.rows,
    strings: JSON.stringify(b.strings),
    // The array is the batch's own (a view, no copy) where the machine is little-endian already.
    nums: LITTLE_ENDIAN ? bytes : Buffer.from(bytes).swap64(),
    users: [...seen].map((k) => b.strings[k]!),
  };
}

/** The records of a stored chunk. */
export function fromChunk(rows: number, strings: string, nums: Uint8Array): PackedRecords {
  const need = rows * RECORD_FIELDS * 8;
  if (nums.byteLength !== need)
    throw new Error(`connection chunk: ${nums.byteLength} bytes of numbers for ${rows} records`);
  // Copied into an array of its own: the driver's buffer need not be aligned for a Float64Array.
  const copy = Buffer.alloc(need);
  copy.set(nums);
  if (!LITTLE_ENDIAN) copy.swap64();
  return {
    rows,
    nums: new Float64Array(copy.buffer, copy.byteOffset, rows * RECORD_FIELDS),
    strings: JSON.parse(strings) as string[],
  };
}

/** The user of record `i`, or null. */
export function recordUser(b: PackedRecords, i: number): string | null {
  const k = b.nums[i * RECORD_FIELDS + USER]!;
  return k < 0 ? null : b.strings[k]!;
}

export function recordAt(b: PackedRecords, i: number): number {
  return b.nums[i * RECORD_FIELDS]!;
}

/**
 * The records of `b` that `keep` accepts, packed anew with a string table of only the strings they
 * use: a string of a record left out (a forgotten user's name and addresses) is gone from the result.
 */
export function keepRecords(b: PackedRecords, keep: (i: number) => boolean): PackedRecords {
  const v = b.nums;
  const kept: number[] = [];
  for (let i = 0; i < b.rows; i++) if (keep(i)) kept.push(i);
  const out = new Float64Array(kept.length * RECORD_FIELDS);
  const table = new StringTable();
  kept.forEach((i, row) => {
    const from = i * RECORD_FIELDS;
    const to = row * RECORD_FIELDS;
    out.set(v.subarray(from, from + RECORD_FIELDS), to);
    for (const f of STRING_FIELDS) {
      const k = v[from + f]!;
      out[to + f] = table.id(k < 0 ? null : b.strings[k]!);
    }
  });
  return { rows: kept.length, nums: out, strings: table.strings };
}

/**
 * Records that exist only in their formatted shape (the rows of the table chunks replaced, or
 * records given to Store.addConnections), packed in chunks of CHUNK_ROWS. Source and destination
 * are kept whole with port -1, and the decision whole as the outbound with no reason: recordOf
 * gives them back unchanged.
 */
export function packRecords(records: readonly ConnectionRecord[]): PackedRecords[] {
  const out: PackedRecords[] = [];
  for (let start = 0; start < records.length; start += CHUNK_ROWS) {
    const part = records.slice(start, start + CHUNK_ROWS);
    const nums = new Float64Array(part.length * RECORD_FIELDS);
    const table = new StringTable();
    part.forEach((r, row) => {
      const o = row * RECORD_FIELDS;
      nums[o] = r.at;
      nums[o + 1] = table.id(r.user);
      nums[o + 2] = table.id(r.inbound);
      nums[o + 3] = table.id(r.source);
      nums[o + 4] = -1;
      nums[o + 5] = table.id(r.destination);
      nums[o + 6] = -1;
      nums[o + 7] = r.bytesUp;
      nums[o + 8] = r.bytesDown;
      nums[o + 9] = r.durationMs;
      nums[o + 10] = table.id(r.decision);
      nums[o + 11] = -1;
    });
    out.push({ rows: part.length, nums, strings: table.strings });
  }
  return out;
}

// Connection records move from a row each to chunks of records (control/audit/record-chunk.ts says
// why). The records already stored are carried over, in insertion order, and the old table goes.
import { packRecords, toChunk } from '../../audit/record-chunk.js';
import type { ConnectionRecord } from '../types.js';
import type { Migration } from './types.js';
import { idColumn, INT, notNull } from './types.js';

/** Old rows read per step of the conversion. */
const COPY_ROWS = 4096;

export const connectionChunks: Migration = {
  version: 3,
  name: 'connection-chunks',
  async up(db, dialect) {
    await idColumn(db.schema.createTable('connection_chunks'), dialect)
      .addColumn('min_at', INT, notNull)
      .addColumn('max_at', INT, notNull)
      .addColumn('rows', INT, notNull)
      .addColumn('strings', 'text', notNull)
      .addColumn('nums', dialect === 'sqlite' ? 'blob' : 'bytea', notNull)
      .execute();
    // Retention deletes by max_at and rewrites by min_at; a listing from a time on reads by max_at.
    await db.schema
      .createIndex('connection_chunks_min_at')
      .on('connection_chunks')
      .column('min_at')
      .execute();
    await db.schema
      .createIndex('connection_chunks_max_at')
      .on('connection_chunks')
      .column('max_at')
      .execute();
    // Which users a chunk has records of: a user's listing, export and `forget` read only theirs.
    await db.schema
      .createTable('connection_chunk_users')
      .addColumn('user_name', 'text', notNull)
      .addColumn('chunk_id', INT, (c) => c.notNull().references('connection_chunks.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('connection_chunk_users_pk', ['user_name', 'chunk_id'])
      .execute();
    await db.schema
      .createIndex('connection_chunk_users_chunk')
      .on('connection_chunk_users')
      .column('chunk_id')
      .execute();

    for (let after = 0; ;) {
      const old = await db
        .selectFrom('connections')
        .selectAll()
        .where('id', '>', after)
        .orderBy('id')
        .limit(COPY_ROWS)
        .execute();
      if (old.length === 0) break;
      after = Number(old[old.length - 1].id);
      const records: ConnectionRecord[] = old.map((r) => ({
        at: Number(r.at),
        user: r.user_name,
        inbound: r.inbound,
        source: r.source,
        destination: r.destination,
        bytesUp: Number(r.bytes_up),
        bytesDown: Number(r.bytes_down),
        durationMs: Number(r.duration_ms),
        decision: r.decision,
      }));
      for (const b of packRecords(records)) {
        const c = toChunk(b);
        const { id } = await db
          .insertInto('connection_chunks')
          .values({ min_at: c.minAt, max_at: c.maxAt, rows: c.rows, strings: c.strings, nums: c.nums })
          .returning('id')
          .executeTakeFirstOrThrow();
        if (c.users.length > 0)
          await db
            .insertInto('connection_chunk_users')
            .values(c.users.map((u) => ({ user_name: u, chunk_id: id })))
            .execute();
      }
    }
    await db.schema.dropTable('connections').execute();
  },
};

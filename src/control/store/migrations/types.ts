// A migration is written once for both dialects with Kysely's schema builder; the few places where
// SQLite and PostgreSQL differ (auto-increment keys, 64-bit integers) go through the helpers below.
import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from 'kysely';
import type { Dialect } from '../db-schema.js';

export interface Migration {
  /** Strictly increasing, starting at 1; the database records the highest one applied. */
  version: number;
  name: string;
  // Migrations see the database as untyped: the typed schema describes the latest version only.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  up(db: Kysely<any>, dialect: Dialect): Promise<void>;
}

/** A surrogate key: `integer primary key autoincrement` (ids never reused) / a bigint identity. */
export function idColumn<T extends string>(
  t: CreateTableBuilder<T, never>,
  dialect: Dialect,
): CreateTableBuilder<T, 'id'> {
  return dialect === 'sqlite'
    ? t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : t.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
}

/** SQLite integers are already 64-bit; PostgreSQL's `integer` is 32-bit, so say bigint everywhere. */
export const INT = 'bigint' as const;

export const notNull = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => c.notNull();

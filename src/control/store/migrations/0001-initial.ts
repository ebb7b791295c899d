// The first schema: users and their credentials, tokens, tiers, WireGuard peers, usage, audit.
import type { Migration } from './types.js';
import { idColumn, INT, notNull } from './types.js';

export const initial: Migration = {
  version: 1,
  name: 'initial',
  async up(db, dialect) {
    await idColumn(db.schema.createTable('tiers'), dialect)
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('up_bps', INT)
      .addColumn('down_bps', INT)
      .addColumn('quota_bytes', INT)
      .addColumn('quota_period', 'text', notNull)
      .addColumn('max_devices', INT)
      .addColumn('max_connections', INT)
      .addColumn('inbounds', 'text')
      .addColumn('exits', 'text')
      .addColumn('expires_at', INT)
      .addColumn('created_at', INT, notNull)
      .addColumn('updated_at', INT, notNull)
      .execute();

    // A tier in use cannot be deleted (restrict): silently turning its users unlimited would be
    // the wrong failure. The service says which users to move first.
    await idColumn(db.schema.createTable('users'), dialect)
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('role', 'text', notNull)
      .addColumn('enabled', INT, notNull)
      .addColumn('expires_at', INT)
      .addColumn('tier_id', INT, (c) => c.references('tiers.id').onDelete('restrict'))
      .addColumn('login_hash', 'text')
      .addColumn('created_at', INT, notNull)
      .addColumn('updated_at', INT, notNull)
      .execute();

    await idColumn(db.schema.createTable('proxy_credentials'), dialect)
      .addColumn('user_id', INT, (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', notNull)
      .addColumn('created_at', INT, notNull)
      .execute();
    await db.schema.createIndex('proxy_credentials_user').on('proxy_credentials').column('user_id').execute();

    await idColumn(db.schema.createTable('api_tokens'), dialect)
      .addColumn('user_id', INT, (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', notNull)
      .addColumn('scopes', 'text', notNull)
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('expires_at', INT)
      .addColumn('created_at', INT, notNull)
      .addColumn('last_used_at', INT)
      .execute();
    await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();

    await idColumn(db.schema.createTable('peers'), dialect)
      .addColumn('user_id', INT, (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', notNull)
      .addColumn('public_key', 'text', (c) => c.notNull().unique())
      .addColumn('preshared_key', 'text')
      .addColumn('address_v4', 'text', (c) => c.unique())
      .addColumn('address_v6', 'text', (c) => c.unique())
      .addColumn('created_at', INT, notNull)
      .addUniqueConstraint('peers_user_name', ['user_id', 'name'])
      .execute();

    // One row per user and UTC day: quotas sum a period's rows, and a batch upserts into them.
    await db.schema
      .createTable('usage')
      .addColumn('user_id', INT, (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('day', INT, notNull)
      .addColumn('bytes_up', INT, notNull)
      .addColumn('bytes_down', INT, notNull)
      .addPrimaryKeyConstraint('usage_pk', ['user_id', 'day'])
      .execute();

    // Audit events name users by text, not by key: they must outlive the user they describe.
    await idColumn(db.schema.createTable('audit_events'), dialect)
      .addColumn('at', INT, notNull)
      .addColumn('actor', 'text', notNull)
      .addColumn('action', 'text', notNull)
      .addColumn('target', 'text')
      .addColumn('details', 'text')
      .execute();
    await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();

    // Connection records exist only in `audit` logging mode and are pruned by retention.
    await idColumn(db.schema.createTable('connections'), dialect)
      .addColumn('at', INT, notNull)
      .addColumn('user_name', 'text')
      .addColumn('inbound', 'text', notNull)
      .addColumn('source', 'text', notNull)
      .addColumn('destination', 'text', notNull)
      .addColumn('bytes_up', INT, notNull)
      .addColumn('bytes_down', INT, notNull)
      .addColumn('duration_ms', INT, notNull)
      .addColumn('decision', 'text', notNull)
      .execute();
    await db.schema.createIndex('connections_at').on('connections').column('at').execute();
    await db.schema.createIndex('connections_user').on('connections').column('user_name').execute();
  },
};

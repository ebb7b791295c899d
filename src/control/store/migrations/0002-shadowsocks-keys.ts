// Per-user Shadowsocks keys. Unlike proxy passwords they cannot be hashed: a Shadowsocks server
// needs the key itself to derive each session's subkey (SIP004, SIP022 §2.2). One row per user (the
// user's key is rotated in place); users created before this migration simply have none until
// `ferry user ss-key NAME` makes one.
import type { Migration } from './types.js';
import { INT, notNull } from './types.js';

export const shadowsocksKeys: Migration = {
  version: 2,
  name: 'shadowsocks-keys',
  async up(db) {
    await db.schema
      .createTable('shadowsocks_keys')
      .addColumn('user_id', INT, (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('secret', 'text', notNull)
      .addColumn('created_at', INT, notNull)
      .execute();
  },
};

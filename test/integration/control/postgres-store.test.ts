// The store contract on PostgreSQL, in a throwaway cluster. Skipped locally without the postgresql
// package; fails under CI (.ci/run installs it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPostgresStore } from '../../../src/control/store/postgres.js';
import type { Store } from '../../../src/control/store/types.js';
import { FerryError } from '../../../src/core/errors.js';
import { requirePrereqs, skipReason } from '../../helpers/prereq.js';
import { pgBinDir, startPgCluster, type PgCluster } from './pg-cluster.js';
import { storeSuite } from './store-suite.js';

const inCI = process.env.CI === 'true' || process.env.CI === '1';
const needs = { root: true, tools: ['runuser'] };
const noServer = 'missing prerequisite: /usr/lib/postgresql/*/bin/initdb (Debian package postgresql)';
const skip = skipReason(needs) || (!inCI && pgBinDir() === null ? noServer : false);

describe('PostgreSQL store', { skip }, () => {
  let cluster: PgCluster | undefined;
  let store: Store;
  before(async () => {
    requirePrereqs(undefined, needs); // throws when missing (only reached under CI: see skip)
    if (pgBinDir() === null) throw new Error(noServer);
    cluster = startPgCluster();
    store = await openPostgresStore(cluster.url);
  });
  after(async () => {
    await store?.close();
    cluster?.stop();
  });

  storeSuite(() => store);

  it("a second store on the same database sees the first one's writes and does not re-migrate", async () => {
    const other = await openPostgresStore(cluster!.url);
    try {
      await store.createUser({ name: 'pg-shared' });
      assert.ok(await other.getUser('pg-shared'));
      assert.equal(await other.revision(), await store.revision());
    } finally {
      await other.close();
    }
  });

  it('never puts the URL password in an error', async () => {
    await assert.rejects(
      openPostgresStore('postgresql://ferry:hunter2secret@127.0.0.1:1/none?connect_timeout=2'),
      (e: unknown) =>
        e instanceof FerryError && e.code === 'E_CONFIG' && !e.message.includes('hunter2secret'),
    );
  });
});

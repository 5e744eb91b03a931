import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { pick } from '../../src/db/repositories/index.js';
import type { Store } from '../../src/db/store.js';
import { closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';

/*
 * PostgreSQL runs the event INSERT every write runs as a named prepared statement, once per
 * connection (db/sql.ts compiledOnce, db/postgres-store.ts), unless ARBOR_DB_PREPARED_STATEMENTS
 * is false (a pooler in transaction mode that does not keep them). PostgreSQL only: SQLite
 * prepares every statement anyway (sqlite-store.ts) and has no pg_prepared_statements.
 */

describe.skipIf(!isPostgresPass)('named prepared statements on PostgreSQL', () => {
  let store: Store | undefined;

  afterEach(async () => {
    if (store) await closeTestStore(store);
    store = undefined;
  });

  /** Appends one event, then lists the connection's named statements, in one transaction (one connection). */
  async function namedStatementsAfterAnAppend(preparedStatements: boolean | undefined): Promise<string[]> {
    store = await openTestStore(preparedStatements === undefined ? {} : { store: { preparedStatements } });
    await migrateToLatest(store.db);
    return store.transaction(async (trx) => {
      await pick(trx, ['events']).events.append('tnt_prepared', [
        {
          tenant_id: 'tnt_prepared',
          id: 'evt_prepared',
          type: 'ou.created',
          occurred_at: new Date().toISOString(),
          actor: '{}',
          request_id: null,
          correlation_id: null,
          resource_type: 'ou',
          resource_id: 'ou_prepared',
          data: '{}',
          ou_paths: null,
          trace_id: null,
        },
      ]);
      const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(trx);
      return rows.map((row) => row.name);
    });
  }

  it('prepares the event INSERT by name by default', async () => {
    expect(await namedStatementsAfterAnAppend(undefined)).toEqual([expect.stringMatching(/^arbor_[0-9a-f]{16}$/)]);
  });

  it('prepares nothing by name with preparedStatements false', async () => {
    expect(await namedStatementsAfterAnAppend(false)).toEqual([]);
  });
});

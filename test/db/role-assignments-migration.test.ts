import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migratorFor } from '../../src/db/migrator.js';
import type { Store } from '../../src/db/store.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * Migration 0007-role-assignments on a store that already holds clients: rights now come only
 * from role assignments, so every existing tenant client must come out of the migration with a
 * tenant-wide tenant_admin (what its scopes allowed before, it still may), a platform client with
 * none (platform tokens are not subject to assignments), and every tenant with external_default
 * 'tenant'. On SQLite and, with TEST_DATABASE_URL, on PostgreSQL.
 */

const NOW = '2026-01-01T00:00:00.000Z';
let store: Store | undefined;

afterEach(async () => {
  if (store) await closeTestStore(store);
  store = undefined;
});

describe('migration 0007-role-assignments', () => {
  it('gives every existing tenant client a tenant-wide tenant_admin, the platform client none, every tenant external_default tenant', async () => {
    store = await openTestStore();
    const db = store.db;
    const { error } = await (await migratorFor(db)).migrateTo('0006-events-and-idempotency');
    if (error) throw error;
    for (const id of ['tnt_a', 'tnt_b']) {
      await sql`insert into tenants (id, name, slug, created_at, updated_at) values (${id}, ${id}, ${id}, ${NOW}, ${NOW})`.execute(db);
    }
    const clients = [
      ['cli_a1', 'tnt_a'],
      ['cli_a2', 'tnt_a'],
      ['cli_b1', 'tnt_b'],
      ['cli_platform', null],
    ] as const;
    for (const [id, tenant] of clients) {
      await sql`insert into api_clients (id, tenant_id, name, secret_hash, scopes, created_at) values (${id}, ${tenant}, ${id}, 'scrypt$x', 'ous:read', ${NOW})`.execute(db);
    }

    await migrateToLatest(db);

    const rows = await db.selectFrom('role_assignments').selectAll().orderBy('principal_id').execute();
    expect(rows.map((r) => [r.tenant_id, r.principal_type, r.principal_id, r.role, r.ou_id, r.expires_at])).toEqual([
      ['tnt_a', 'client', 'cli_a1', 'tenant_admin', null, null],
      ['tnt_a', 'client', 'cli_a2', 'tenant_admin', null, null],
      ['tnt_b', 'client', 'cli_b1', 'tenant_admin', null, null],
    ]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(3);
    expect(JSON.parse(rows[0].created_by)).toEqual({ type: 'system', id: 'migration 0007', client_id: null });
    const tenants = await db.selectFrom('tenants').select(['id', 'external_default']).orderBy('id').execute();
    expect(tenants).toEqual([
      { id: 'tnt_a', external_default: 'tenant' },
      { id: 'tnt_b', external_default: 'tenant' },
    ]);
  });
});

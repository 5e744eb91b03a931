import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migratorFor } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import type { Store } from '../../src/db/store.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * Migration 0012-tenant-name-key on a store that already holds tenants: migrated to 0011, filled,
 * then migrated to latest. SQLite and, with TEST_DATABASE_URL, PostgreSQL.
 */

const NOW = '2026-01-01T00:00:00.000Z';

async function migrateTo(db: Kysely<Database>, name: string): Promise<void> {
  const { error } = await (await migratorFor(db)).migrateTo(name);
  if (error) throw error instanceof Error ? error : new Error(String(error));
}

describe('migration 0012-tenant-name-key on existing tenants', () => {
  let store: Store;

  beforeEach(async () => {
    store = await openTestStore();
  });

  afterEach(async () => {
    await closeTestStore(store);
  });

  it('backfills each name_key as the name NFC-normalized and lowercased, which SQLite\'s lower() would not do', async () => {
    await migrateTo(store.db, '0011-imports');
    // "Ärzte" written decomposed (A + combining diaeresis): NFC composes it before lowercasing.
    for (const [id, name] of [
      ['tnt_a', 'ACME Corp'],
      ['tnt_b', 'A\u0308rzte Nord'],
      ['tnt_c', 'ΣΟΦΙΑ'],
    ]) {
      await sql`insert into tenants (id, name, slug, created_at, updated_at) values (${id}, ${name}, ${id.replace('_', '-')}, ${NOW}, ${NOW})`.execute(store.db);
    }
    const { applied } = await migrateToLatest(store.db);
    expect(applied).toContain('0012-tenant-name-key');
    const rows = await store.db.selectFrom('tenants').select(['id', 'name_key']).orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'tnt_a', name_key: 'acme corp' },
      { id: 'tnt_b', name_key: '\u00e4rzte nord' },
      { id: 'tnt_c', name_key: 'σοφια' },
    ]);
  });

  it('is checked by the invariants (arbor check): a tenant an older instance wrote without it is reported', async () => {
    await migrateToLatest(store.db);
    await sql`insert into tenants (id, name, slug, created_at, updated_at) values ('tnt_old', 'Written Before', 'old', ${NOW}, ${NOW})`.execute(store.db);
    expect(await findInvariantViolations(store.db, 'tnt_old', 10)).toEqual(['tenant tnt_old: name_key is stale']);
    await sql`update tenants set name_key = 'written before' where id = 'tnt_old'`.execute(store.db);
    expect(await findInvariantViolations(store.db, 'tnt_old', 10)).toEqual([]);
  });
});

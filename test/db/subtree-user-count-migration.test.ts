import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Store } from '../../src/db/store.js';
import { migrateToLatest, migratorFor } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * Migration 0003-subtree-user-count on a store that already holds data: a store is migrated to
 * 0002-api-clients only, filled the way the service of that version left it (direct counts
 * maintained, no subtree counts), then migrated to latest. Runs on SQLite and, with
 * TEST_DATABASE_URL, on PostgreSQL in a schema of its own.
 */

const MAX_DEPTH = loadConfig({}).maxOuDepth;
const NOW = '2024-01-01T00:00:00.000Z';

async function migrateTo(db: Kysely<Database>, name: string): Promise<string[]> {
  const { error, results = [] } = await (await migratorFor(db)).migrateTo(name);
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

interface OuSpec {
  id: string;
  name: string;
  parent?: string;
  /** Direct users to create in the OU. */
  users: number;
}

/**
 * Inserts a tenant, its OUs (parents before children) with correct path, id_path, depth,
 * child_ou_count and user_count, `users` users in each, and `looseUsers` users in no OU.
 * Returns the number of users of each OU's subtree, computed here from the specs.
 */
async function seed(db: Kysely<Database>, tenantId: string, ous: OuSpec[], looseUsers: number): Promise<Map<string, number>> {
  await db.insertInto('tenants').values({ id: tenantId, name: tenantId, slug: tenantId, created_at: NOW, updated_at: NOW }).execute();
  const rows = new Map<string, { path: string; id_path: string; depth: number }>();
  for (const ou of ous) {
    const parent = ou.parent === undefined ? undefined : rows.get(ou.parent);
    if (ou.parent !== undefined && !parent) throw new Error(`seed: parent ${ou.parent} must come before ${ou.id}`);
    const row = {
      path: `${parent?.path ?? ''}/${ou.name}`,
      id_path: `${parent?.id_path ?? '/'}${ou.id}/`,
      depth: (parent?.depth ?? 0) + 1,
    };
    rows.set(ou.id, row);
    await db
      .insertInto('org_units')
      .values({
        tenant_id: tenantId,
        id: ou.id,
        parent_id: ou.parent ?? null,
        name: ou.name,
        name_key: ou.name.toLowerCase(),
        description: null,
        custom_attributes: null,
        ...row,
        child_ou_count: ous.filter((child) => child.parent === ou.id).length,
        user_count: ou.users,
        created_at: NOW,
        updated_at: NOW,
      })
      .execute();
  }
  let n = 0;
  const addUser = async (ouId: string | null) => {
    n++;
    const email = `user${n}@${tenantId}.example.com`;
    await db
      .insertInto('users')
      .values({
        tenant_id: tenantId,
        id: `usr_${n}`,
        email,
        email_key: email,
        display_name: null,
        display_name_key: null,
        ou_id: ouId,
        status: 'active',
        custom_attributes: null,
        created_at: NOW,
        updated_at: NOW,
      })
      .execute();
  };
  for (const ou of ous) for (let i = 0; i < ou.users; i++) await addUser(ou.id);
  for (let i = 0; i < looseUsers; i++) await addUser(null);

  const expected = new Map<string, number>();
  for (const ou of ous) {
    for (const id of rows.get(ou.id)!.id_path.split('/').filter(Boolean)) expected.set(id, (expected.get(id) ?? 0) + ou.users);
  }
  for (const ou of ous) if (!expected.has(ou.id)) expected.set(ou.id, 0);
  return expected;
}

async function subtreeCounts(db: Kysely<Database>, tenantId: string): Promise<Map<string, number>> {
  const rows = await db.selectFrom('org_units').select(['id', 'subtree_user_count']).where('tenant_id', '=', tenantId).execute();
  return new Map(rows.map((r) => [r.id, Number(r.subtree_user_count)]));
}

/**
 * Roots whose ids are prefixes of each other or sort right around a subtree's id_path range
 * (`/ou_a/` .. `/ou_a0`): 'ou_a-b' sorts before it, 'ou_a0' and 'ou_ab' after it. A backfill
 * that matched ids by prefix, or a range off by one character, would count their users into ou_a.
 *
 *   /Alpha  ou_a      (2) ├ Beta ou_b (1) │ ├ Gamma ou_c (3) │ │ └ Delta ou_d (1) │ └ Empty ou_e (0)
 *                          └ Zeta ou_z (0) └ Eta ou_h (4)
 *   /Dash   ou_a-b    (5)
 *   /Zero   ou_a0     (7) └ Under ou_a0x (1)
 *   /Ab     ou_ab     (6)
 *   /Lonely ou_l      (0)
 */
const TREE: OuSpec[] = [
  { id: 'ou_a', name: 'Alpha', users: 2 },
  { id: 'ou_b', name: 'Beta', parent: 'ou_a', users: 1 },
  { id: 'ou_c', name: 'Gamma', parent: 'ou_b', users: 3 },
  { id: 'ou_d', name: 'Delta', parent: 'ou_c', users: 1 },
  { id: 'ou_e', name: 'Empty', parent: 'ou_b', users: 0 },
  { id: 'ou_z', name: 'Zeta', parent: 'ou_a', users: 0 },
  { id: 'ou_h', name: 'Eta', parent: 'ou_z', users: 4 },
  { id: 'ou_a-b', name: 'Dash', users: 5 },
  { id: 'ou_a0', name: 'Zero', users: 7 },
  { id: 'ou_a0x', name: 'Under', parent: 'ou_a0', users: 1 },
  { id: 'ou_ab', name: 'Ab', users: 6 },
  { id: 'ou_l', name: 'Lonely', users: 0 },
];

describe('migration 0003-subtree-user-count on existing data', () => {
  let store: Store;

  beforeEach(async () => {
    store = await openTestStore();
  });

  afterEach(async () => {
    await closeTestStore(store);
  });

  it('applies only 0003-subtree-user-count to a store at 0002-api-clients', async () => {
    expect(await migrateTo(store.db, '0002-api-clients')).toEqual(['0001-initial', '0002-api-clients']);
    const { applied } = await migrateToLatest(store.db);
    expect(applied[0]).toBe('0003-subtree-user-count');
    expect((await migrateToLatest(store.db)).applied).toEqual([]);
  });

  it("backfills every OU's subtree_user_count with the users of its subtree", async () => {
    await migrateTo(store.db, '0002-api-clients');
    const expected = await seed(store.db, 'tnt_one', TREE, 3);
    // Counted by hand from TREE, so that seed() cannot agree with a wrong backfill by mistake.
    expect(Object.fromEntries(expected)).toEqual({
      ou_a: 11,
      ou_b: 5,
      ou_c: 4,
      ou_d: 1,
      ou_e: 0,
      ou_z: 4,
      ou_h: 4,
      'ou_a-b': 5,
      ou_a0: 8,
      ou_a0x: 1,
      ou_ab: 6,
      ou_l: 0,
    });

    await migrateToLatest(store.db);
    expect(Object.fromEntries(await subtreeCounts(store.db, 'tnt_one'))).toEqual(Object.fromEntries(expected));
    expect(await findInvariantViolations(store.db, 'tnt_one', MAX_DEPTH)).toEqual([]);
  });

  it('backfills each tenant from its own users only, also when two tenants use the same OU ids', async () => {
    await migrateTo(store.db, '0002-api-clients');
    const one = await seed(store.db, 'tnt_one', TREE, 0);
    // The same ids in another tenant, with other users per OU (and a different shape below ou_a).
    const other: OuSpec[] = [
      { id: 'ou_a', name: 'Alpha', users: 10 },
      { id: 'ou_b', name: 'Beta', parent: 'ou_a', users: 20 },
      { id: 'ou_c', name: 'Gamma', users: 30 },
      { id: 'ou_d', name: 'Delta', parent: 'ou_c', users: 0 },
    ];
    const two = await seed(store.db, 'tnt_two', other, 2);
    expect(Object.fromEntries(two)).toEqual({ ou_a: 30, ou_b: 20, ou_c: 30, ou_d: 0 });

    await migrateToLatest(store.db);
    expect(Object.fromEntries(await subtreeCounts(store.db, 'tnt_one'))).toEqual(Object.fromEntries(one));
    expect(Object.fromEntries(await subtreeCounts(store.db, 'tnt_two'))).toEqual(Object.fromEntries(two));
    expect(await findInvariantViolations(store.db, 'tnt_one', MAX_DEPTH)).toEqual([]);
    expect(await findInvariantViolations(store.db, 'tnt_two', MAX_DEPTH)).toEqual([]);
  });

  it('gives 0 to every OU of a tenant without users, and leaves a tenant without OUs valid', async () => {
    await migrateTo(store.db, '0002-api-clients');
    await seed(store.db, 'tnt_empty', TREE.map((ou) => ({ ...ou, users: 0 })), 0);
    await seed(store.db, 'tnt_bare', [], 4);

    await migrateToLatest(store.db);
    const counts = await subtreeCounts(store.db, 'tnt_empty');
    expect(counts.size).toBe(TREE.length);
    expect([...counts.values()].every((count) => count === 0)).toBe(true);
    expect(await findInvariantViolations(store.db, 'tnt_empty', MAX_DEPTH)).toEqual([]);
    expect(await findInvariantViolations(store.db, 'tnt_bare', MAX_DEPTH)).toEqual([]);
  });

  it('adds subtree_user_count as a NOT NULL column defaulting to 0 for OUs inserted afterwards', async () => {
    await migrateTo(store.db, '0002-api-clients');
    await migrateToLatest(store.db);
    await seed(store.db, 'tnt_after', [{ id: 'ou_new', name: 'New', users: 0 }], 0);
    expect(Object.fromEntries(await subtreeCounts(store.db, 'tnt_after'))).toEqual({ ou_new: 0 });
    await expect(
      store.db.updateTable('org_units').set({ subtree_user_count: sql<number>`null` }).where('id', '=', 'ou_new').execute(),
    ).rejects.toThrow();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { repositories } from '../../src/db/repositories/index.js';
import type { UserTable } from '../../src/db/schema.js';
import type { Store } from '../../src/db/store.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * The users-first read of a subtree that holds every placed user (users.listInSubtree with
 * holdsEveryPlacedUser) lists the tenant's placed users in id order. On PostgreSQL it reads the
 * rows directly up to a skip of 1,000 and takes the ids from the covering index first beyond:
 * pages on both sides of that skip, both ways, on the store of the pass.
 */

const PLACED = 1_100;
const W = systemWrite();
let store: Store;
let tenantId: string;
let idPath: string;
let placed: string[];

beforeAll(async () => {
  store = await openTestStore();
  await migrateToLatest(store.db);
  tenantId = (await createTenantService({ store }).create(W, { name: 'Users first' })).id;
  const ou = await createOrgUnitService({ store, maxDepth: 8 }).create(W, ALL, tenantId, { name: 'All' });
  idPath = (await repositories(store.db).orgUnits.getById(tenantId, ou.id))!.id_path;
  // Written directly: the read under test is the repository's, not the counters'. Every third
  // user has no OU, and must never be listed.
  const now = new Date().toISOString();
  const rows: UserTable[] = Array.from({ length: PLACED * 1.5 }, (_, i) => ({
    tenant_id: tenantId,
    id: `usr_${String(i).padStart(6, '0')}`,
    email: `u${i}@x.io`,
    email_key: `u${i}@x.io`,
    display_name: null,
    display_name_key: null,
    ou_id: i % 3 === 2 ? null : ou.id,
    status: 'active',
    custom_attributes: null,
    external_id: null,
    created_at: now,
    updated_at: now,
  }));
  await store.transaction((trx) => store.insertMany(trx, 'users', Object.keys(rows[0]) as (keyof UserTable)[], rows));
  placed = rows.filter((row) => row.ou_id !== null).map((row) => row.id);
  expect(placed).toHaveLength(PLACED);
}, 60_000);

afterAll(async () => {
  await closeTestStore(store);
});

describe('users-first read of a subtree that holds every placed user', () => {
  it('gives the placed users in id order at skips either side of 1,000, both ways, and forwards after a key', async () => {
    const users = repositories(store.db).users;
    for (const offset of [0, 37, 999, 1_000, 1_001, 1_050]) {
      for (const descending of [false, true]) {
        const ordered = descending ? [...placed].reverse() : placed;
        const page = await users.listInSubtree(tenantId, idPath, { limit: 20, offset, descending }, true);
        expect(page.map((row) => row.id), `offset ${offset}${descending ? ', descending' : ''}`).toEqual(ordered.slice(offset, offset + 20));
      }
      // A key to start after (a rank index's anchor, a cursor) comes only with forward reads.
      const fromKey = await users.listInSubtree(tenantId, idPath, { after: placed[9], limit: 20, offset, descending: false }, true);
      expect(fromKey.map((row) => row.id), `after a key, offset ${offset}`).toEqual(placed.slice(10 + offset, 30 + offset));
    }
  });
});

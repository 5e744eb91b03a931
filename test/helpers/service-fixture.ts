import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { expect } from 'vitest';
import type { Store } from '../../src/db/store.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { type OrgUnitService, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { type UserService, createUserService } from '../../src/services/user-service.js';
import { closeTestStore, openTestStore } from './test-store.js';
import { systemWrite } from '../../src/services/write-context.js';

/** Writes of these tests are Arbor's own (no request): their events say actor system. */
const W = systemWrite();

/** Services on a fresh migrated test store, with one tenant: for tests below HTTP. */
export interface ServiceFixture {
  store: Store;
  ous: OrgUnitService;
  users: UserService;
  tenantId: string;
}

export async function openServiceFixture(maxDepth: number, tenantName: string): Promise<ServiceFixture> {
  const store = await openTestStore();
  await migrateToLatest(store.db);
  return {
    store,
    ous: createOrgUnitService({ store, maxDepth }),
    users: createUserService({ store }),
    tenantId: (await createTenantService({ store }).create(W, { name: tenantName })).id,
  };
}

/** Checks the tenant's invariants, then closes the store whatever the check found. */
export async function closeServiceFixture({ store, tenantId }: Pick<ServiceFixture, 'store' | 'tenantId'>, maxDepth: number): Promise<void> {
  try {
    expect(await findInvariantViolations(store.db, tenantId, maxDepth)).toEqual([]);
  } finally {
    await closeTestStore(store);
  }
}

/** /A (2 users) -> /A/B (1 user) -> /A/B/C (1 user) -> /A/B/C/D ; /Z */
export async function chainTree({ ous, users, tenantId }: Omit<ServiceFixture, 'store'>) {
  const a = await ous.create(W, ALL, tenantId, { name: 'A' });
  const b = await ous.create(W, ALL, tenantId, { name: 'B', parent_id: a.id });
  const c = await ous.create(W, ALL, tenantId, { name: 'C', parent_id: b.id });
  const d = await ous.create(W, ALL, tenantId, { name: 'D', parent_id: c.id });
  const z = await ous.create(W, ALL, tenantId, { name: 'Z' });
  const ua1 = await users.create(W, ALL, tenantId, { email: 'a1@x.io', ou_id: a.id });
  const ua2 = await users.create(W, ALL, tenantId, { email: 'a2@x.io', ou_id: a.id });
  const ub = await users.create(W, ALL, tenantId, { email: 'b@x.io', ou_id: b.id });
  const uc = await users.create(W, ALL, tenantId, { email: 'c@x.io', ou_id: c.id });
  return { a, b, c, d, z, ua1, ua2, ub, uc };
}

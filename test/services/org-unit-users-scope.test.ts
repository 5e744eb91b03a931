import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FULL_ACCESS as ALL, type Access } from '../../src/services/access.js';
import { createOrgUnitUserService } from '../../src/services/org-unit-user-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/*
 * The nested users of an OU whose subtree holds every placed user are read from the placed users
 * alone, without the OU range: the counts of the page's snapshot say the two are the same. For a
 * principal scoped to subtrees that read is not taken: its scope stays in the query, whatever a
 * counter says.
 */

const MAX_DEPTH = 8;
const W = systemWrite();

describe('nested users of an OU for a principal scoped to its subtree', () => {
  let fixture: ServiceFixture;

  beforeEach(async () => {
    fixture = await openServiceFixture(MAX_DEPTH, 'Scoped users');
  });

  afterEach(async () => {
    await closeServiceFixture(fixture, MAX_DEPTH);
  });

  it('never lists a user outside its scope, even when a wrong counter says its OU holds every placed user', async () => {
    const { ous, users, store, tenantId } = fixture;
    const mine = await ous.create(W, ALL, tenantId, { name: 'Mine' });
    const other = await ous.create(W, ALL, tenantId, { name: 'Other' });
    const own = [];
    for (let i = 0; i < 3; i++) own.push((await users.create(W, ALL, tenantId, { email: `mine${i}@x.io`, ou_id: mine.id })).id);
    await users.create(W, ALL, tenantId, { email: 'other@x.io', ou_id: other.id });
    const scope: Access = { principal: null, reach: () => [mine.id] };
    const listed = async (access: Access) =>
      (await createOrgUnitUserService({ store }).listUsers(access, tenantId, mine.id, true, { page: 1, per_page: 20 })).items.map((u) => u.id).sort();

    // Counters gone wrong: Mine's subtree count holds Other's user, and Other's none, so Mine
    // appears to hold every placed user of the tenant (the sum over the top OUs).
    const setCount = (id: string, n: number) => store.db.updateTable('org_units').set({ subtree_user_count: n }).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    await setCount(mine.id, 4);
    await setCount(other.id, 0);
    try {
      // The tenant-wide read trusts the counts (and lists Other's user: what the scope must not).
      expect(await listed(ALL)).toHaveLength(4);
      expect(await listed(scope)).toEqual([...own].sort());
    } finally {
      await setCount(mine.id, 3);
      await setCount(other.id, 1);
    }
  });
});

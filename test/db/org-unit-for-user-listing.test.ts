import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pick } from '../../src/db/repositories/index.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/*
 * The users of an OU are paged with the OU's row, the tenant's last event seq (the version of
 * their rank indexes and id lists) and, for nested users, the tenant's count of placed users
 * (whether the subtree holds them all): one statement on both stores.
 */

const W = systemWrite();
const MAX_DEPTH = 4;
let fixture: ServiceFixture;

beforeEach(async () => {
  fixture = await openServiceFixture(MAX_DEPTH, 'User listing');
});

afterEach(() => closeServiceFixture(fixture, MAX_DEPTH));

describe('orgUnits.getForUserListing', () => {
  it('returns the OU row with the tenant’s last event seq and, when asked, its placed users over every top OU', async () => {
    const { ous, users, tenantId, store } = fixture;
    const a = await ous.create(W, ALL, tenantId, { name: 'A' });
    const b = await ous.create(W, ALL, tenantId, { name: 'B', parent_id: a.id });
    const z = await ous.create(W, ALL, tenantId, { name: 'Z' });
    for (const [i, ou] of [a, b, b, z].entries()) await users.create(W, ALL, tenantId, { email: `u${i}@x.io`, ou_id: ou.id });
    await users.create(W, ALL, tenantId, { email: 'nowhere@x.io' });
    const repos = pick(store.db, ['orgUnits', 'events']);

    const nested = await repos.orgUnits.getForUserListing(tenantId, b.id, true);
    const direct = await repos.orgUnits.getForUserListing(tenantId, b.id, false);

    const { event_seq, placed_user_count, ...row } = nested!;
    expect(row).toEqual(await repos.orgUnits.getById(tenantId, b.id));
    expect(event_seq).toBe(await repos.events.lastSeq(tenantId));
    expect(event_seq).toBeGreaterThan(0);
    expect(placed_user_count).toBe(4);
    expect(direct).toMatchObject({ id: b.id, event_seq, placed_user_count: null });
  });

  it('finds nothing for a missing OU or another tenant’s OU', async () => {
    const { ous, tenantId, store } = fixture;
    const other = await createTenantService({ store }).create(W, { name: 'Other' });
    const theirs = await ous.create(W, ALL, other.id, { name: 'Theirs' });
    const repos = pick(store.db, ['orgUnits']);

    expect(await repos.orgUnits.getForUserListing(tenantId, theirs.id, true)).toBeUndefined();
    expect(await repos.orgUnits.getForUserListing(tenantId, 'ou_missing', false)).toBeUndefined();
  });
});

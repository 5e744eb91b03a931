import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Page, PageRequest } from '../../src/lib/pagination.js';
import { RankIndexes } from '../../src/lib/rank-index.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createOrgUnitUserService } from '../../src/services/org-unit-user-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/**
 * Deep page numbers are read through a rank index (every step-th key of a listing, kept per
 * version) and small subtrees' users through a kept, sorted id list. Both must give exactly the
 * page an OFFSET gives at the same version, on random listings, and after writes (a kept index
 * of an older version is never used). Here an index holds at most 8 keys and every page past the
 * first uses one, so short listings exercise it; the reference services never use one.
 */

const W = systemWrite();
const MAX_DEPTH = 5;

let fixture: ServiceFixture;

beforeEach(async () => {
  fixture = await openServiceFixture(MAX_DEPTH, 'Ranks');
});

afterEach(() => closeServiceFixture(fixture, MAX_DEPTH));

function services() {
  const { store } = fixture;
  // At most 8 keys per index: steps of 1 to 7 on these listings.
  const ranked = () => new RankIndexes(8, 0);
  const never = () => new RankIndexes(8, Number.POSITIVE_INFINITY);
  return {
    ous: { ranked: createOrgUnitService({ store, maxDepth: MAX_DEPTH, rankIndexes: ranked() }), offset: createOrgUnitService({ store, maxDepth: MAX_DEPTH, rankIndexes: never() }) },
    users: {
      ranked: createOrgUnitUserService({ store, subtreeIdsMax: 0, rankIndexes: ranked() }),
      idList: createOrgUnitUserService({ store, subtreeIdsMax: 1_000_000, rankIndexes: never() }),
      offset: createOrgUnitUserService({ store, subtreeIdsMax: 0, rankIndexes: never() }),
    },
  };
}

type Read<T> = (request: PageRequest) => Promise<Page<T>>;

/** Every page (and one past the end) at per_page 1..4, and a walk by cursor: all equal the reference's. */
async function expectSamePages<T>(label: string, reference: Read<T>, others: Read<T>[]) {
  for (let per_page = 1; per_page <= 4; per_page++) {
    const first = await reference({ page: 1, per_page });
    const pages = first.pagination.total_pages;
    const walked: T[] = [];
    for (let page = 1; page <= pages + 1; page++) {
      const expected = await reference({ page, per_page });
      walked.push(...expected.items);
      for (const read of others) {
        const actual = await read({ page, per_page });
        expect(actual.items, `${label}, page ${page} of ${pages} at per_page ${per_page}`).toEqual(expected.items);
        expect(actual.pagination).toEqual(expected.pagination);
      }
    }
    expect(walked).toHaveLength(first.pagination.total_items);
    // A cursor walk of each service lists the same rows, and its page numbers follow.
    for (const read of [reference, ...others]) {
      const byCursor: T[] = [];
      let cursor: string | null = null;
      let page = 1;
      do {
        const current: Page<T> = await read({ page: 1, per_page, cursor });
        expect(current.pagination.page, `${label}, cursor page at per_page ${per_page}`).toBe(page);
        byCursor.push(...current.items);
        cursor = current.nextCursor;
        page++;
      } while (cursor !== null);
      expect(byCursor, `${label}, cursor walk at per_page ${per_page}`).toEqual(walked);
    }
  }
}

/** A random tree: each new OU under a random earlier one (or a root), names from a small alphabet. */
const treeArb = fc.array(fc.tuple(fc.nat(), fc.constantFrom('alpha', 'beta', 'gamma', 'Delta', 'ép', 'z'), fc.nat({ max: 3 })), { minLength: 3, maxLength: 24 });

describe('rank-indexed and id-list pages equal OFFSET pages', () => {
  it('for the OU list, a search, a parent’s children and OU users (direct and nested), over random trees, before and after writes', async () => {
    const { ous, users } = services();
    const { tenantId } = fixture;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(treeArb, async (plan) => {
        run++;
        const ids: string[] = [];
        for (const [i, [parentPick, name, userCount]] of plan.entries()) {
          const parent = ids.length === 0 || parentPick % 4 === 0 ? undefined : ids[parentPick % ids.length];
          const depthOk = parent === undefined || (await ous.offset.get(ALL, tenantId, parent)).path.split('/').length <= MAX_DEPTH;
          const ou = await ous.offset.create(W, ALL, tenantId, { name: `${name} ${run}.${i}`, ...(parent && depthOk ? { parent_id: parent } : {}) });
          ids.push(ou.id);
          for (let u = 0; u < userCount; u++) await fixture.users.create(W, ALL, tenantId, { email: `u${run}.${i}.${u}@x.io`, ou_id: ou.id });
        }
        const check = async (when: string) => {
          await expectSamePages(`${when}: list`, (r) => ous.offset.list(ALL, tenantId, {}, r), [(r) => ous.ranked.list(ALL, tenantId, {}, r)]);
          await expectSamePages(`${when}: search`, (r) => ous.offset.list(ALL, tenantId, { search: 'a' }, r), [(r) => ous.ranked.list(ALL, tenantId, { search: 'a' }, r)]);
          const parent = ids[0];
          await expectSamePages(`${when}: children`, (r) => ous.offset.list(ALL, tenantId, { parent_id: parent }, r), [(r) => ous.ranked.list(ALL, tenantId, { parent_id: parent }, r)]);
          for (const ou of [ids[0], ids[ids.length - 1]]) {
            for (const nested of [false, true]) {
              await expectSamePages(`${when}: users of ${ou}, nested ${nested}`, (r) => users.offset.listUsers(ALL, tenantId, ou, nested, r), [
                (r) => users.ranked.listUsers(ALL, tenantId, ou, nested, r),
                (r) => users.idList.listUsers(ALL, tenantId, ou, nested, r),
              ]);
            }
          }
        };
        await check('built');
        // Writes change what each listing holds: the kept indexes are of an older version now.
        const moved = await ous.offset.create(W, ALL, tenantId, { name: `aaa first ${run}` });
        await ous.offset.update(W, ALL, tenantId, ids[ids.length - 1], { parent_id: moved.id });
        await fixture.users.create(W, ALL, tenantId, { email: `late${run}@x.io`, ou_id: ids[0] });
        await check('after writes');
      }),
      { numRuns: 3, seed: 20261203 },
    );
  });
});

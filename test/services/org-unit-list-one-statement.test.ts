import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RankIndexes } from '../../src/lib/rank-index.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { type OrgUnitService, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { apply, opArb } from '../helpers/ou-operations.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/*
 * A page of the whole OU list is read, once an instance has seen the tenant, as one statement
 * that also returns the tenant's OU count and version; the page counts only when they are those
 * it was planned from. Writes go through one service, as another instance's would; a second,
 * warm one (a rank index of 2-row steps, so that deep pages seek) must answer every page as a
 * third that never saw the tenant answers it from its snapshot.
 */

const MAX_DEPTH = 4;
const PER_PAGE = 2;

let fixture: ServiceFixture;
let warm: OrgUnitService;

beforeEach(async () => {
  fixture = await openServiceFixture(MAX_DEPTH, 'List in one statement');
  // On for both stores here; by default PostgreSQL's only.
  warm = createOrgUnitService({ store: fixture.store, maxDepth: MAX_DEPTH, rankIndexes: new RankIndexes(2, 0), listInOneStatement: true });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await closeServiceFixture(fixture, MAX_DEPTH);
});

/**
 * Every page (and one past the end) through the warm service equals the same page read afresh;
 * returns how many of the warm service's pages were read without a snapshot.
 */
async function expectEveryPageFresh(step: string, snapshot: { mock: { calls: unknown[] } }): Promise<number> {
  const fresh = createOrgUnitService({ store: fixture.store, maxDepth: MAX_DEPTH, rankIndexes: new RankIndexes(2, Number.POSITIVE_INFINITY) });
  const first = await fresh.list(ALL, fixture.tenantId, {}, { page: 1, per_page: PER_PAGE });
  let withoutSnapshot = 0;
  for (let page = 1; page <= first.pagination.total_pages + 1; page++) {
    const expected = await fresh.list(ALL, fixture.tenantId, {}, { page, per_page: PER_PAGE });
    const snapshots = snapshot.mock.calls.length;
    expect(await warm.list(ALL, fixture.tenantId, {}, { page, per_page: PER_PAGE }), `${step}: page ${page}`).toEqual(expected);
    if (snapshot.mock.calls.length === snapshots) withoutSnapshot++;
  }
  return withoutSnapshot;
}

describe('pages of the whole OU list read as one statement', () => {
  it('are never of another version: after every OU and user write, each page equals the page read in a snapshot', async () => {
    const snapshot = vi.spyOn(fixture.store, 'snapshot');
    let n = 0;
    let oneStatementPages = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 40 }), async (ops) => {
        for (const op of ops) {
          n++;
          await apply(fixture, op, n);
          oneStatementPages += await expectEveryPageFresh(`after ${JSON.stringify(op)}`, snapshot);
        }
      }),
      { numRuns: 4, seed: 20261204 },
    );
    // Most pages after the first of each round are read in one statement: the property is about them.
    expect(oneStatementPages).toBeGreaterThan(100);
  });

  it('read no snapshot once the tenant and its rank index were seen and no OU changed; each page agrees with the event seq it returns', async () => {
    const { ous, tenantId } = fixture;
    for (const name of ['a', 'b', 'c', 'd', 'e']) await ous.create(systemWrite(), ALL, tenantId, { name });
    // The first read of the tenant, and the first of a page that seeks (the rank index), take a snapshot.
    for (let page = 1; page <= 3; page++) await warm.list(ALL, tenantId, {}, { page, per_page: PER_PAGE });
    const snapshot = vi.spyOn(fixture.store, 'snapshot');

    const pages = [];
    for (let page = 1; page <= 3; page++) pages.push(await warm.list(ALL, tenantId, {}, { page, per_page: PER_PAGE }));

    expect(snapshot).not.toHaveBeenCalled();
    expect(pages.map((p) => p.items.map((item) => item.name))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    const lastSeq = (await fixture.store.db.selectFrom('events').select((eb) => eb.fn.max('seq').as('seq')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow()).seq;
    expect(pages.every((p) => p.eventSeq === Number(lastSeq))).toBe(true);
  });

  it('is on by default on PostgreSQL only: SQLite reads every page in its snapshot', async () => {
    const { ous, tenantId, store } = fixture;
    await ous.create(systemWrite(), ALL, tenantId, { name: 'a' });
    const byDefault = createOrgUnitService({ store, maxDepth: MAX_DEPTH });
    await byDefault.list(ALL, tenantId, {}, { page: 1, per_page: PER_PAGE });
    const snapshot = vi.spyOn(store, 'snapshot');

    await byDefault.list(ALL, tenantId, {}, { page: 1, per_page: PER_PAGE });

    expect(snapshot).toHaveBeenCalledTimes(store.dialect === 'postgres' ? 0 : 1);
  });
});

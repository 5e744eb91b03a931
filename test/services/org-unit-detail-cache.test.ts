import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { repositories } from '../../src/db/repositories/index.js';
import { etagOf } from '../../src/lib/etag.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { OrgUnitDetailCache } from '../../src/services/org-unit-detail-cache.js';
import { type OrgUnitService, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { allOuIds, apply, opArb } from '../helpers/ou-operations.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/**
 * GET of an OU is answered from rendered bodies kept per instance while the OU's row (read for
 * every request) shows the same own fields and children_version. These tests write through one
 * service, as another instance would, and read through a second one whose cache is warm for every
 * OU before each write: after any write, every answer it gives must be the answer computed afresh.
 */

const W = systemWrite();
const MAX_DEPTH = 4;

let fixture: ServiceFixture;
let cached: OrgUnitService;

beforeEach(async () => {
  fixture = await openServiceFixture(MAX_DEPTH, 'Detail cache');
  cached = createOrgUnitService({ store: fixture.store, maxDepth: MAX_DEPTH, detailCache: new OrgUnitDetailCache() });
});

afterEach(() => closeServiceFixture(fixture, MAX_DEPTH));

/** Every OU through the cached service equals a fresh read (body and ETag); warms the cache. */
async function expectEveryAnswerFresh(step: string): Promise<void> {
  for (const id of await allOuIds(fixture)) {
    const fresh = await fixture.ous.get(ALL, fixture.tenantId, id);
    const answer = await cached.getRendered(ALL, fixture.tenantId, id);
    expect(JSON.parse(answer.json.toString()), `${step}: GET ${id}`).toEqual(fresh);
    expect(answer.etag, `${step}: ETag of ${id}`).toBe(etagOf(fresh));
  }
}

describe('kept OU answers', () => {
  it('are never served stale: after every create, rename, move, edit, delete (each strategy) and user write, each OU reads as computed afresh', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 30, maxLength: 60 }), async (ops) => {
        for (const op of ops) {
          n++;
          await apply(fixture, op, n);
          await expectEveryAnswerFresh(`after ${JSON.stringify(op)}`);
        }
      }),
      { numRuns: 5, seed: 20261203 },
    );
  });

  it('are read from the cache when nothing changed: the second GET of a wide OU reads no child row', async () => {
    const { ous, tenantId } = fixture;
    const parent = await ous.create(W, ALL, tenantId, { name: 'Wide' });
    for (let i = 0; i < 5; i++) await ous.create(W, ALL, tenantId, { name: `c${i}`, parent_id: parent.id });
    const first = await cached.getRendered(ALL, tenantId, parent.id);
    const renamedBehindItsBack = await repositories(fixture.store.db).orgUnits.getById(tenantId, parent.id);
    // A child renamed outside the services (no version raised) stays invisible to the kept answer:
    // proof that the second read did not read the children again.
    const child = (await ous.list(ALL, tenantId, { parent_id: parent.id }, { page: 1, per_page: 1 })).items[0];
    await repositories(fixture.store.db).orgUnits.update(tenantId, child.id, { name: 'zz-unseen', name_key: 'zz-unseen' });
    expect(renamedBehindItsBack?.children_version).toBeGreaterThan(0);
    expect((await cached.getRendered(ALL, tenantId, parent.id)).json.toString()).toBe(first.json.toString());
    // Put it back so the invariant check after the test sees consistent paths.
    await repositories(fixture.store.db).orgUnits.update(tenantId, child.id, { name: child.name, name_key: child.name.toLowerCase() });
  });

  it('are read and rendered once for requests that miss them at once, and a request joins only a rendering of the row it read', async () => {
    const { ous, tenantId, store } = fixture;
    const parent = await ous.create(W, ALL, tenantId, { name: 'Wide' });
    for (let i = 0; i < 5; i++) await ous.create(W, ALL, tenantId, { name: `c${i}`, parent_id: parent.id });
    const cold = createOrgUnitService({ store, maxDepth: MAX_DEPTH, detailCache: new OrgUnitDetailCache() });
    const snapshot = vi.spyOn(store, 'snapshot');

    const answers = await Promise.all(Array.from({ length: 8 }, () => cold.getRendered(ALL, tenantId, parent.id)));

    expect(snapshot).toHaveBeenCalledTimes(1);
    expect(new Set(answers.map((answer) => answer.json.toString())).size).toBe(1);
    expect(JSON.parse(answers[0].json.toString())).toEqual(await ous.get(ALL, tenantId, parent.id));

    // A request joins a rendering only under the key of the row it read: a write to the OU's
    // children, or to its own fields, gives the row another key.
    const cache = new OrgUnitDetailCache();
    const row = async () => (await repositories(store.db).orgUnits.getById(tenantId, parent.id))!;
    const first = await row();
    expect(cache.answerKey(await row())).toBe(cache.answerKey(first));
    await ous.create(W, ALL, tenantId, { name: 'c5', parent_id: parent.id });
    const afterChild = await row();
    expect(cache.answerKey(afterChild)).not.toBe(cache.answerKey(first));
    await ous.update(W, ALL, tenantId, parent.id, { description: 'edited' });
    expect(cache.answerKey(await row())).not.toBe(cache.answerKey(afterChild));
    vi.restoreAllMocks();
  });
});

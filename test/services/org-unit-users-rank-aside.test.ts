import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { repositories } from '../../src/db/repositories/index.js';
import { type Store, openStore } from '../../src/db/store.js';
import type { PageRequest } from '../../src/lib/pagination.js';
import { RankIndexes } from '../../src/lib/rank-index.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { type OrgUnitService, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createOrgUnitUserService } from '../../src/services/org-unit-user-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { type UserService, createUserService } from '../../src/services/user-service.js';
import { systemWrite } from '../../src/services/write-context.js';

/**
 * On a SQLite file an OU's users' rank indexes are built aside (a worker's connection, its own
 * snapshot) and a page that finds none is read by OFFSET meanwhile. The index is kept under the
 * version its own snapshot read: a page at any other version must never seek through it. These
 * run on a SQLite file on either pass: only SQLite files read aside.
 */

const W = systemWrite();
const MAX_DEPTH = 5;

let dir: string;
let store: Store;
let ous: OrgUnitService;
let users: UserService;
let tenantId: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arbor-rank-aside-'));
  store = openStore(`sqlite:${join(dir, 'arbor.sqlite')}`);
  await migrateToLatest(store.db);
  ous = createOrgUnitService({ store, maxDepth: MAX_DEPTH });
  users = createUserService({ store });
  tenantId = (await createTenantService({ store }).create(W, { name: 'Aside' })).id;
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A root with two children; users spread over the three. */
async function tree(userCount: number) {
  const root = await ous.create(W, ALL, tenantId, { name: 'Root' });
  const left = await ous.create(W, ALL, tenantId, { name: 'Left', parent_id: root.id });
  const right = await ous.create(W, ALL, tenantId, { name: 'Right', parent_id: root.id });
  const placed = [root.id, left.id, right.id];
  const userIds: string[] = [];
  for (let i = 0; i < userCount; i++) userIds.push((await users.create(W, ALL, tenantId, { email: `u${i}@x.io`, ou_id: placed[i % 3] })).id);
  return { root, left, right, placed, userIds };
}

function services() {
  // At most 4 keys an index, used from the second page on; no kept id lists.
  const rankIndexes = new RankIndexes(4, 0);
  return {
    rankIndexes,
    ranked: createOrgUnitUserService({ store, subtreeIdsMax: 0, rankIndexes }),
    offset: createOrgUnitUserService({ store, subtreeIdsMax: 0, rankIndexes: new RankIndexes(4, Number.POSITIVE_INFINITY) }),
  };
}

/**
 * A service whose builds aside wait at a gate until `open()`: before they read ('before'), or
 * once they have read ('after', and `hasRead` settles then).
 */
function gatedService(rankIndexes: RankIndexes, when: 'before' | 'after' = 'before') {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let read!: () => void;
  const hasRead = new Promise<void>((resolve) => (read = resolve));
  const gated: Pick<Store, 'db' | 'snapshot' | 'readAside'> = {
    db: store.db,
    snapshot: store.snapshot,
    readAside: async (queries) => {
      if (when === 'before') await gate;
      const rows = await store.readAside!(queries);
      read();
      if (when === 'after') await gate;
      return rows;
    },
  };
  return { ranked: createOrgUnitUserService({ store: gated, subtreeIdsMax: 0, rankIndexes }), open, hasRead };
}

const ids = (page: { items: { id: string }[] }) => page.items.map((user) => user.id);

describe('OU users’ rank indexes built aside on a SQLite file', () => {
  it('waits for a missing index outside its snapshot, so the store serves other reads meanwhile, and reads the page through it', async () => {
    const { root } = await tree(24);
    const { rankIndexes, offset } = services();
    // The build cannot start before the gate opens.
    const { ranked, open } = gatedService(rankIndexes);
    const request: PageRequest = { page: 4, per_page: 3 };
    const expected = ids(await offset.listUsers(ALL, tenantId, root.id, true, request));
    expect(expected).toHaveLength(3);
    const pending = ranked.listUsers(ALL, tenantId, root.id, true, request);
    // Were the waiting request holding SQLite's one connection, this read would never be answered.
    expect((await store.snapshot((db) => repositories(db).events.lastSeq(tenantId))) > 0).toBe(true);
    open();
    expect(ids(await pending)).toEqual(expected);
    // 24 users, at most 4 keys: a key every 6 users, kept under the version the build read.
    const listing = JSON.stringify(['ou_users', tenantId, root.id, true, 'placed']);
    expect(rankIndexes.keptAt(listing, await repositories(store.db).events.lastSeq(tenantId), 6)).toHaveLength(4);
  });

  it('reads the page without the index when a write came between the build and the read again', async () => {
    const { root, userIds } = await tree(24);
    const { rankIndexes, offset } = services();
    // The build reads at once, then waits at the gate before it is kept.
    const { ranked, open, hasRead: builtBeforeWrite } = gatedService(rankIndexes, 'after');
    const request: PageRequest = { page: 5, per_page: 3 };
    const pending = ranked.listUsers(ALL, tenantId, root.id, true, request);
    await builtBeforeWrite;
    // Every key after the first user's moves down one rank: the index being built is wrong now.
    await users.delete(W, ALL, tenantId, [...userIds].sort()[0]);
    open();
    expect(ids(await pending)).toEqual(ids(await offset.listUsers(ALL, tenantId, root.id, true, request)));
  });

  it('never seeks a subtree’s users through an index of all placed users built aside at the same version', async () => {
    const { root, userIds } = await tree(24);
    const other = await ous.create(W, ALL, tenantId, { name: 'Other' });
    const { rankIndexes, offset } = services();
    // The build starts reading only once the gate opens: after the move below.
    const { ranked, open } = gatedService(rankIndexes);
    const request: PageRequest = { page: 5, per_page: 3 };
    // The root holds every placed user: its page is read from all placed users.
    const pending = ranked.listUsers(ALL, tenantId, root.id, true, request);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The first user by id leaves the root's subtree but stays placed: all placed users' keys
    // no longer rank the root's users.
    await users.update(W, ALL, tenantId, [...userIds].sort()[0], { ou_id: other.id });
    open();
    const expected = ids(await offset.listUsers(ALL, tenantId, root.id, true, request));
    expect(ids(await pending)).toEqual(expected);
    await rankIndexes.settled();
    expect(ids(await ranked.listUsers(ALL, tenantId, root.id, true, request))).toEqual(expected);
  });

  it('does not wait for a build started for an older version: a page after a write is read at once, without it', async () => {
    const { root, userIds } = await tree(24);
    const { rankIndexes, offset } = services();
    const { ranked, open } = gatedService(rankIndexes);
    const request: PageRequest = { page: 5, per_page: 3 };
    // A build for this version, held at the gate; a write makes the next request's version newer.
    const first = ranked.listUsers(ALL, tenantId, root.id, true, request);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await users.delete(W, ALL, tenantId, [...userIds].sort()[0]);
    // Were it to wait for the build at the gate, this would never be answered.
    expect(ids(await ranked.listUsers(ALL, tenantId, root.id, true, request))).toEqual(ids(await offset.listUsers(ALL, tenantId, root.id, true, request)));
    open();
    await first;
    await rankIndexes.settled();
  });

  it('never seeks through an index of an older version: after a user before the page is deleted, the page is the OFFSET page', async () => {
    const { root, userIds } = await tree(24);
    const { rankIndexes, ranked, offset } = services();
    const request: PageRequest = { page: 5, per_page: 3 };
    await ranked.listUsers(ALL, tenantId, root.id, true, request);
    await rankIndexes.settled();
    // Every key after the first user's moves down one rank: the kept index is wrong now.
    await users.delete(W, ALL, tenantId, [...userIds].sort()[0]);
    const expected = ids(await offset.listUsers(ALL, tenantId, root.id, true, request));
    expect(ids(await ranked.listUsers(ALL, tenantId, root.id, true, request))).toEqual(expected);
    await rankIndexes.settled();
    expect(ids(await ranked.listUsers(ALL, tenantId, root.id, true, request))).toEqual(expected);
  });

  it('gives the OFFSET page for an OU’s direct users, a subtree’s and the whole tenant’s, at every page, over random writes with builds finishing or not in between', async () => {
    const { root, left, placed, userIds } = await tree(15);
    const { rankIndexes, ranked, offset } = services();
    let created = 0;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), ou: fc.nat({ max: 2 }) }),
      fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), ou: fc.nat({ max: 2 }) }),
      fc.record({ kind: fc.constant('settle' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
        for (const step of ops) {
          if (step.kind === 'settle') await rankIndexes.settled();
          else if (step.kind === 'create') userIds.push((await users.create(W, ALL, tenantId, { email: `new${created++}@x.io`, ou_id: placed[step.ou] })).id);
          else if (userIds.length > 0) {
            const [id] = step.kind === 'delete' ? userIds.splice(step.pick % userIds.length, 1) : [userIds[step.pick % userIds.length]];
            if (step.kind === 'delete') await users.delete(W, ALL, tenantId, id);
            else await users.update(W, ALL, tenantId, id, { ou_id: placed[step.ou] });
          }
          for (const [ou, nested] of [[root.id, true], [left.id, true], [left.id, false]] as const) {
            const first = await offset.listUsers(ALL, tenantId, ou, nested, { page: 1, per_page: 2 });
            for (let page = 1; page <= first.pagination.total_pages + 1; page++) {
              const request = { page, per_page: 2 };
              expect(ids(await ranked.listUsers(ALL, tenantId, ou, nested, request)), `${ou} nested ${nested}, page ${page}`).toEqual(ids(await offset.listUsers(ALL, tenantId, ou, nested, request)));
            }
          }
        }
      }),
      { numRuns: 15, seed: 20261204 },
    );
    await rankIndexes.settled();
  });
});

import { describe, expect, it, vi } from 'vitest';
import type { PageWindow } from '../../src/lib/pagination.js';
import type { PageReadOptions } from '../../src/db/repositories/user-repository.js';
import { expectData, expectError, expectNoContent, expectPage } from '../helpers/assertions.js';
import { type OuData, type UserData, createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

/*
 * Paging of GET /api/v1/tenants/{t}/ous and GET .../ous/{ou}/users[?include_nested=true].
 *
 * Pages past the middle are read backwards from the end (services/pagination.ts) with the
 * offset computed from total_items, which now comes from maintained counts (tenants.ou_count,
 * org_units.child_ou_count, user_count, subtree_user_count). A wrong count or a wrong window
 * shows as a page that overlaps, skips or misorders rows: so every test walks every page at
 * several page sizes and compares each one with the slice of the expected listing.
 *
 * The nested user list has two reads: from the index of all the tenant's placed users when the
 * OU's subtree holds every one of them ("users first"), else joined from the OU range. The
 * user repository is wrapped (behaviour unchanged) to record which read each request used, so
 * the tests can state that they exercise the path they name.
 */

const subtreeReads = vi.hoisted(() => [] as boolean[]);

vi.mock('../../src/db/repositories/user-repository.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/db/repositories/user-repository.js')>();
  return {
    ...original,
    createUserRepository: (...args: Parameters<typeof original.createUserRepository>) => {
      const repo = original.createUserRepository(...args);
      return {
        ...repo,
        listInSubtree(tenantId: string, idPath: string, window: PageWindow, holdsEveryPlacedUser: boolean, options?: PageReadOptions) {
          subtreeReads.push(holdsEveryPlacedUser);
          // With its options: a page read without a snapshot is stamped through them (without them, none here would be).
          return repo.listInSubtree(tenantId, idPath, window, holdsEveryPlacedUser, options);
        },
      };
    },
  };
});

// The reads above are the paths for subtrees too large for the kept id lists; these tests
// exercise them on small ones. The id lists have their own tests (test/routes/cursor-paging.test.ts).
vi.mock('../../src/services/org-unit-user-service.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/services/org-unit-user-service.js')>();
  return {
    ...original,
    createOrgUnitUserService: (deps: Parameters<typeof original.createOrgUnitUserService>[0]) => original.createOrgUnitUserService({ ...deps, subtreeIdsMax: 0 }),
  };
});

const tenantUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}`;
const ousUrl = (tenantId: string) => `${tenantUrl(tenantId)}/ous`;
const usersOfUrl = (tenantId: string, ouId: string) => `${ousUrl(tenantId)}/${ouId}/users`;

function send(ctx: TestContext, method: 'GET' | 'PATCH' | 'DELETE', url: string, options: { payload?: object; query?: Record<string, string> } = {}) {
  return ctx.app.inject({
    method,
    url,
    headers: ctx.platformHeaders,
    ...(options.query ? { query: options.query } : {}),
    ...(options.payload !== undefined ? { payload: options.payload } : {}),
  });
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Walks pages 1 .. last + 1 of `url` at `per_page` and states that each one is exactly
 * `expected.slice(offset, offset + per_page)` (compared through `key`), with total_items =
 * expected.length and total_pages = ceil(total_items / per_page), and that the page after the
 * last is empty. Returns the concatenated items.
 */
async function walkPages<T>(
  ctx: TestContext,
  url: string,
  query: Record<string, string>,
  per_page: number,
  expected: T[],
  key: (item: Record<string, unknown>) => T,
): Promise<T[]> {
  const total_pages = Math.ceil(expected.length / per_page);
  const all: T[] = [];
  for (let page = 1; page <= total_pages + 1; page++) {
    const label = `${url} ${JSON.stringify(query)} per_page ${per_page} page ${page}`;
    const body = expectPage(await send(ctx, 'GET', url, { query: { ...query, per_page: String(per_page), page: String(page) } }));
    expect(body.pagination, label).toEqual({ page, per_page, total_items: expected.length, total_pages });
    const items = body.data.map(key);
    const offset = (page - 1) * per_page;
    expect(items, label).toEqual(expected.slice(offset, offset + per_page));
    all.push(...items);
  }
  return all;
}

/** The single page of up to 100 items. */
async function onePage(ctx: TestContext, url: string, query: Record<string, string> = {}) {
  return expectPage(await send(ctx, 'GET', url, { query: { ...query, per_page: '100' } }));
}

// =====================================================================================
// OU list
// =====================================================================================

/*
 * 23 OUs over three levels, created in this order (parents first, otherwise scattered). The
 * names make the byte order of paths differ from creation order, from a case-insensitive order
 * (upper case sorts before lower case), from tree pre-order (' ' and '-' sort before '/', so
 * '/Alpha Team' and '/Alpha-2' come between '/Alpha' and '/Alpha/…') and from JavaScript's
 * UTF-16 order ('🌲' is a surrogate pair, below 'Ｆ' in UTF-16, above it in UTF-8).
 */
const TREE_PATHS = [
  '/zeta',
  '/Alpha',
  '/Alpha/delta',
  '/beta',
  '/Alpha/Charlie',
  '/Alpha/Charlie/x-ray',
  '/Gamma',
  '/Alpha/Ｆull',
  '/Alpha/🌲 Tree',
  '/zeta/Zulu',
  '/Alpha Team',
  '/Alpha/echo',
  '/Alpha/Bravo',
  '/zeta/Zulu/mike',
  '/Alpha/bravo 2',
  '/Alpha-2',
  '/Alpha/Charlie/Bravo',
  '/beta/two',
  '/Alpha/\u00c4rger',
  '/beta/One',
  '/Alpha/9lives',
  '/zeta/eagle',
  '/Alpha/_under',
];

interface ListItem {
  id: string;
  name: string;
  path: string;
  parent_id: string | null;
  user_count: number;
  child_ou_count: number;
  nested_user_count: number;
}

/** `items` (a whole tree) each with its child_ou_count: how many of them name it as parent. */
const withChildCounts = (items: ListItem[]): ListItem[] => items.map((item) => ({ ...item, child_ou_count: items.filter((other) => other.parent_id === item.id).length }));

/** The tree above in a new tenant: the OUs as list items by path, in creation order. */
async function pagingTree(ctx: TestContext) {
  const tenantId = (await createTenant(ctx)).id;
  const byPath = new Map<string, ListItem>();
  for (const path of TREE_PATHS) {
    const slash = path.lastIndexOf('/');
    const parent = slash === 0 ? null : byPath.get(path.slice(0, slash))!;
    const ou = await createOu(ctx, tenantId, { name: path.slice(slash + 1), parent_id: parent?.id ?? null });
    expect(ou.path).toBe(path);
    byPath.set(path, { id: ou.id, name: ou.path.slice(slash + 1), path: ou.path, parent_id: ou.parent_id, user_count: 0, child_ou_count: 0, nested_user_count: 0 });
  }
  for (const item of withChildCounts([...byPath.values()])) byPath.set(item.path, item);
  return { tenantId, byPath, created: [...byPath.values()] };
}

const inPathOrder = (items: ListItem[]) => [...items].sort((a, b) => byBytes(a.path, b.path));
const asListItem = (item: Record<string, unknown>) => item as unknown as ListItem;

/** Every page at per_page 1, 2, 5, 7, 10 is its slice of `expected`; their concatenation is the single page of 100. */
async function expectOuPaging(ctx: TestContext, tenantId: string, query: Record<string, string>, expected: ListItem[]) {
  const single = await onePage(ctx, ousUrl(tenantId), query);
  expect(single.pagination).toEqual({ page: 1, per_page: 100, total_items: expected.length, total_pages: Math.ceil(expected.length / 100) });
  expect(single.data).toEqual(expected);
  const paths: string[] = single.data.map((item: ListItem) => item.path);
  for (let i = 1; i < paths.length; i++) expect(byBytes(paths[i - 1], paths[i]), `${paths[i - 1]} < ${paths[i]}`).toBeLessThan(0);
  for (const per_page of [1, 2, 5, 7, 10]) {
    expect(await walkPages(ctx, ousUrl(tenantId), query, per_page, expected, asListItem)).toEqual(single.data);
  }
  const far = expectPage(await send(ctx, 'GET', ousUrl(tenantId), { query: { ...query, per_page: '5', page: '1000' } }));
  expect(far.data).toEqual([]);
  expect(far.pagination).toEqual({ page: 1000, per_page: 5, total_items: expected.length, total_pages: Math.ceil(expected.length / 5) });
}

describe('the OU paging test tree', () => {
  it('the test tree orders differently by bytes than by creation, case-insensitively, by tree pre-order and by UTF-16', async () => {
    // Guards the data of the tests below: each alternative order would fail them.
    const bytes = [...TREE_PATHS].sort(byBytes);
    expect(bytes).not.toEqual(TREE_PATHS);
    expect(bytes).not.toEqual([...TREE_PATHS].sort((a, b) => byBytes(a.toLowerCase(), b.toLowerCase())));
    expect(bytes).not.toEqual([...TREE_PATHS].sort());
    expect(bytes.indexOf('/Alpha Team')).toBeLessThan(bytes.indexOf('/Alpha/delta'));
    expect(bytes.indexOf('/Alpha/Ｆull')).toBeLessThan(bytes.indexOf('/Alpha/🌲 Tree'));
    expect(TREE_PATHS).toHaveLength(23);
  });
});

describe('GET /api/v1/tenants/{tenant_id}/ous paging (ordered by path, bytewise)', () => {
  const t = useTestApp();

  it('every page of the unfiltered list at per_page 1, 2, 5, 7, 10 is its slice of the single page, sorted by path bytes', async () => {
    const { tenantId, created } = await pagingTree(t.ctx);
    await expectOuPaging(t.ctx, tenantId, {}, inPathOrder(created));
  });

  it('every page of parent_id= (the direct children of one OU) is its slice, with total_items = the child count', async () => {
    const { tenantId, byPath, created } = await pagingTree(t.ctx);
    for (const parentPath of ['/Alpha', '/zeta', '/Alpha/Charlie', '/zeta/Zulu']) {
      const parent = byPath.get(parentPath)!;
      const children = inPathOrder(created.filter((ou) => ou.parent_id === parent.id));
      expect(children.length).toBeGreaterThan(0);
      await expectOuPaging(t.ctx, tenantId, { parent_id: parent.id }, children);
    }
    expect(created.filter((ou) => ou.parent_id === byPath.get('/Alpha')!.id)).toHaveLength(10);
  });

  it('parent_id= of a leaf lists nothing, with total_items 0 and total_pages 0', async () => {
    const { tenantId, byPath } = await pagingTree(t.ctx);
    for (const page of ['1', '2']) {
      const body = expectPage(await send(t.ctx, 'GET', ousUrl(tenantId), { query: { parent_id: byPath.get('/zeta/Zulu/mike')!.id, page } }));
      expect(body.data).toEqual([]);
      expect(body.pagination).toEqual({ page: Number(page), per_page: 20, total_items: 0, total_pages: 0 });
    }
  });

  it('every page of search= (in any case, alone or with parent_id=) is its slice of the matches in path order', async () => {
    const { tenantId, byPath, created } = await pagingTree(t.ctx);
    const matching = (needle: string) => created.filter((ou) => ou.name.normalize('NFC').toLowerCase().includes(needle));
    const matchesA = inPathOrder(matching('a'));
    expect(matchesA).toHaveLength(13);
    await expectOuPaging(t.ctx, tenantId, { search: 'a' }, matchesA);
    await expectOuPaging(t.ctx, tenantId, { search: 'A' }, matchesA);
    await expectOuPaging(t.ctx, tenantId, { search: 'bravo' }, inPathOrder(matching('bravo')));
    const alpha = byPath.get('/Alpha')!;
    const alphaChildrenA = inPathOrder(matching('a').filter((ou) => ou.parent_id === alpha.id));
    expect(alphaChildrenA.map((ou) => ou.path)).toEqual(['/Alpha/Bravo', '/Alpha/Charlie', '/Alpha/bravo 2', '/Alpha/delta']);
    await expectOuPaging(t.ctx, tenantId, { search: 'a', parent_id: alpha.id }, alphaChildrenA);
    await expectOuPaging(t.ctx, tenantId, { search: 'no such name' }, []);
  });

  it('a page past the end is empty with the right totals, for each filter', async () => {
    const { tenantId, byPath } = await pagingTree(t.ctx);
    const cases: [Record<string, string>, number][] = [
      [{}, 23],
      [{ parent_id: byPath.get('/Alpha')!.id }, 10],
      [{ search: 'a' }, 13],
    ];
    for (const [query, total] of cases) {
      for (const [per_page, page] of [[1, total + 1], [7, Math.ceil(total / 7) + 1], [100, 2]]) {
        const body = expectPage(await send(t.ctx, 'GET', ousUrl(tenantId), { query: { ...query, per_page: String(per_page), page: String(page) } }));
        expect(body.data, JSON.stringify(query)).toEqual([]);
        expect(body.pagination).toEqual({ page, per_page, total_items: total, total_pages: Math.ceil(total / per_page) });
      }
    }
  });

  it('after a rename and a move, every page follows the new path order', async () => {
    const { tenantId, byPath } = await pagingTree(t.ctx);
    // Rename '/Alpha/Charlie' (and so its subtree) to sort first; move '/zeta/Zulu' under '/beta'.
    const charlie = byPath.get('/Alpha/Charlie')!;
    expectData(await send(t.ctx, 'PATCH', `${ousUrl(tenantId)}/${charlie.id}`, { payload: { name: 'AAA' } }));
    const zulu = byPath.get('/zeta/Zulu')!;
    expectData(await send(t.ctx, 'PATCH', `${ousUrl(tenantId)}/${zulu.id}`, { payload: { parent_id: byPath.get('/beta')!.id } }));
    const renamed = (path: string) =>
      path.replace(/^\/Alpha\/Charlie(?=\/|$)/, '/Alpha/AAA').replace(/^\/zeta\/Zulu(?=\/|$)/, '/beta/Zulu');
    const expected = inPathOrder(
      withChildCounts(
        [...byPath.values()].map((ou) => {
          const path = renamed(ou.path);
          const parentPath = path.slice(0, path.lastIndexOf('/'));
          const parent = [...byPath.values()].find((p) => renamed(p.path) === parentPath);
          return { ...ou, name: path.slice(path.lastIndexOf('/') + 1), path, parent_id: parent?.id ?? null };
        }),
      ),
    );
    expect(expected.map((ou) => ou.path)).toContain('/beta/Zulu/mike');
    await expectOuPaging(t.ctx, tenantId, {}, expected);
  });
});

// =====================================================================================
// total_items of the unfiltered OU list (tenants.ou_count)
// =====================================================================================

async function totalOus(ctx: TestContext, tenantId: string): Promise<number> {
  const body = expectPage(await send(ctx, 'GET', ousUrl(tenantId), { query: { per_page: '1' } }));
  expect(body.pagination.total_pages).toBe(body.pagination.total_items);
  return body.pagination.total_items;
}

/** total_items is `expected`, the single page lists that many, and paging at 3 agrees with it. */
async function expectOuTotal(ctx: TestContext, tenantId: string, expected: number, label: string) {
  expect(await totalOus(ctx, tenantId), label).toBe(expected);
  const single = await onePage(ctx, ousUrl(tenantId));
  expect(single.data, label).toHaveLength(expected);
  expect(await walkPages(ctx, ousUrl(tenantId), {}, 3, single.data, asListItem)).toEqual(single.data);
}

const deleteOu = (ctx: TestContext, tenantId: string, ouId: string, strategy: string) =>
  send(ctx, 'DELETE', `${ousUrl(tenantId)}/${ouId}`, { query: { strategy } });

describe('total_items of GET /api/v1/tenants/{tenant_id}/ous (maintained per tenant)', () => {
  const t = useTestApp();

  it('is 0 for a new tenant, with no items and total_pages 0', async () => {
    const tenant = await createTenant(t.ctx);
    const body = expectPage(await send(t.ctx, 'GET', ousUrl(tenant.id)));
    expect(body.data).toEqual([]);
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 0, total_pages: 0 });
  });

  it('follows creates and each delete strategy, and counts only the tenant’s own OUs', async () => {
    const a = (await createTenant(t.ctx)).id;
    const b = (await createTenant(t.ctx)).id;
    // Tenant b gets OUs named like a's, created between a's.
    const bRoot = await createOu(t.ctx, b, { name: 'R' });
    const r = await createOu(t.ctx, a, { name: 'R' });
    await createOu(t.ctx, b, { name: 'C1', parent_id: bRoot.id });
    const c1 = await createOu(t.ctx, a, { name: 'C1', parent_id: r.id });
    const c2 = await createOu(t.ctx, a, { name: 'C2', parent_id: r.id });
    const g1 = await createOu(t.ctx, a, { name: 'G1', parent_id: c1.id });
    await createOu(t.ctx, a, { name: 'G2', parent_id: c1.id });
    const h = await createOu(t.ctx, a, { name: 'H', parent_id: g1.id });
    const leaf = await createOu(t.ctx, a, { name: 'Leaf' });
    const s = await createOu(t.ctx, a, { name: 'S' });
    const s1 = await createOu(t.ctx, a, { name: 'S1', parent_id: s.id });
    await createOu(t.ctx, a, { name: 'S2', parent_id: s.id });
    await createOu(t.ctx, b, { name: 'Leaf' });
    await createUser(t.ctx, a, { ou_id: h.id });
    await createUser(t.ctx, a, { ou_id: s1.id });
    await expectOuTotal(t.ctx, a, 10, 'a after creates');
    await expectOuTotal(t.ctx, b, 3, 'b after creates');

    // A move changes no count.
    expectData(await send(t.ctx, 'PATCH', `${ousUrl(a)}/${c2.id}`, { payload: { parent_id: s.id } }));
    await expectOuTotal(t.ctx, a, 10, 'a after a move');

    expectNoContent(await deleteOu(t.ctx, a, leaf.id, 'BLOCK'));
    await expectOuTotal(t.ctx, a, 9, 'a after BLOCK');
    // A refused delete changes nothing.
    expectError(await deleteOu(t.ctx, a, s.id, 'BLOCK'), 409, 'ou.not_empty');
    await expectOuTotal(t.ctx, a, 9, 'a after a refused BLOCK');

    // MOVE_UP of S (children S1, S2, C2 and no users): only S goes.
    expectNoContent(await deleteOu(t.ctx, a, s.id, 'MOVE_UP'));
    await expectOuTotal(t.ctx, a, 8, 'a after MOVE_UP');

    // CASCADE of C1's subtree: C1, G1, G2, H.
    expectNoContent(await deleteOu(t.ctx, a, c1.id, 'CASCADE'));
    await expectOuTotal(t.ctx, a, 4, 'a after CASCADE');
    const remaining = (await onePage(t.ctx, ousUrl(a))).data.map((ou: ListItem) => ou.path);
    expect(remaining).toEqual(['/C2', '/R', '/S1', '/S2']);

    // CASCADE of a leaf removes one.
    expectNoContent(await deleteOu(t.ctx, a, s1.id, 'CASCADE'));
    await expectOuTotal(t.ctx, a, 3, 'a after CASCADE of a leaf');
    await expectOuTotal(t.ctx, b, 3, 'b after all of a’s writes');

    // Creating after deletes counts again.
    await createOu(t.ctx, a, { name: 'New', parent_id: r.id });
    await expectOuTotal(t.ctx, a, 4, 'a after a create following deletes');
  });

  it('is unaffected by deleting another tenant with OUs, whose list is then 404', async () => {
    const a = (await createTenant(t.ctx)).id;
    const b = (await createTenant(t.ctx)).id;
    const ra = await createOu(t.ctx, a, { name: 'R' });
    const rb = await createOu(t.ctx, b, { name: 'R' });
    await createOu(t.ctx, a, { name: 'X', parent_id: ra.id });
    await createOu(t.ctx, b, { name: 'X', parent_id: rb.id });
    await createOu(t.ctx, b, { name: 'Y', parent_id: rb.id });
    await createUser(t.ctx, b, { ou_id: rb.id });
    expectNoContent(await send(t.ctx, 'DELETE', tenantUrl(b)));
    expectError(await send(t.ctx, 'GET', ousUrl(b)), 404, 'tenant.not_found');
    await expectOuTotal(t.ctx, a, 2, 'a after deleting b');
    // A new tenant starts at 0 whatever was deleted before.
    const c = (await createTenant(t.ctx)).id;
    await expectOuTotal(t.ctx, c, 0, 'a new tenant');
  });
});

// =====================================================================================
// Users of an OU
// =====================================================================================

const sortedIds = (users: UserData[]) => users.map((user) => user.id).sort();
const userId = (item: Record<string, unknown>) => item.id as string;

/**
 * Every page at per_page 1..6 (and one past the end) of the OU's users is its slice of
 * `expected` sorted by id; returns which subtree reads (users first: true) the nested walk used.
 */
async function expectUserPaging(ctx: TestContext, tenantId: string, ou: OuData, nested: boolean, users: UserData[]): Promise<boolean[]> {
  const expected = sortedIds(users);
  const query: Record<string, string> = nested ? { include_nested: 'true' } : {};
  // The first read after a write may be planned from the OU as the service read it before the
  // write, try that version's path and throw its rows away (org-unit-user-service.ts,
  // readWithoutSnapshot): the paths counted are those of the reads after one of this version.
  await onePage(ctx, usersOfUrl(tenantId, ou.id), query);
  subtreeReads.length = 0;
  const single = await onePage(ctx, usersOfUrl(tenantId, ou.id), query);
  expect(single.pagination.total_items, ou.path).toBe(expected.length);
  expect(single.data.map(userId), ou.path).toEqual(expected);
  for (let per_page = 1; per_page <= 6; per_page++) {
    expect(await walkPages(ctx, usersOfUrl(tenantId, ou.id), query, per_page, expected, userId)).toEqual(expected);
  }
  return [...new Set(subtreeReads)];
}

/** Creates users round-robin over `ous` (so id order is not grouped by OU): `counts[i]` in `ous[i]`. */
async function usersIn(ctx: TestContext, tenantId: string, ous: (OuData | null)[], counts: number[]): Promise<UserData[][]> {
  const result: UserData[][] = ous.map(() => []);
  for (let round = 0; round < Math.max(...counts); round++) {
    for (let i = 0; i < ous.length; i++) {
      if (round < counts[i]) result[i].push(await createUser(ctx, tenantId, { ou_id: ous[i]?.id ?? null }));
    }
  }
  return result;
}

async function moveUser(ctx: TestContext, tenantId: string, user: UserData, ouId: string | null): Promise<UserData> {
  const data = expectData(await send(ctx, 'PATCH', `${tenantUrl(tenantId)}/users/${user.id}`, { payload: { ou_id: ouId } }));
  expect(data.ou_id).toBe(ouId);
  return { ...user, ou_id: ouId };
}

describe('GET /api/v1/tenants/{tenant_id}/ous/{ou_id}/users paging (ordered by id)', () => {
  const t = useTestApp();

  it('every page of 13 direct users at per_page 1..6 is its slice of the sorted ids; nested and other users stay out', async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    const team = await createOu(t.ctx, tenantId, { name: 'Team' });
    const sub = await createOu(t.ctx, tenantId, { name: 'Sub', parent_id: team.id });
    const other = await createOu(t.ctx, tenantId, { name: 'Other' });
    const [direct, inSub, inOther] = await usersIn(t.ctx, tenantId, [team, sub, other, null], [13, 3, 2, 2]);
    expect(await expectUserPaging(t.ctx, tenantId, team, false, direct)).toEqual([]);
    expect(await expectUserPaging(t.ctx, tenantId, sub, false, inSub)).toEqual([]);
    // Nested at Team: Other holds users too, so the join from Team's OU range.
    expect(await expectUserPaging(t.ctx, tenantId, team, true, [...direct, ...inSub])).toEqual([false]);
    expect(await expectUserPaging(t.ctx, tenantId, other, true, inOther)).toEqual([false]);
  });

  it('nested at a single root holding every placed user: every page is its slice, users in no OU never appear (users-first read)', async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    const root = await createOu(t.ctx, tenantId, { name: 'Root' });
    const a = await createOu(t.ctx, tenantId, { name: 'A', parent_id: root.id });
    const a1 = await createOu(t.ctx, tenantId, { name: 'A1', parent_id: a.id });
    const b = await createOu(t.ctx, tenantId, { name: 'B', parent_id: root.id });
    const emptyChild = await createOu(t.ctx, tenantId, { name: 'Empty', parent_id: b.id });
    // A second root without users does not stop Root from holding every placed user.
    const emptyRoot = await createOu(t.ctx, tenantId, { name: 'Empty root' });
    const [inRoot, inA, inA1, inB, nowhere] = await usersIn(t.ctx, tenantId, [root, a, a1, b, null], [2, 4, 3, 4, 3]);
    // Another tenant's users, placed and not, are never listed.
    const otherTenant = (await createTenant(t.ctx)).id;
    const otherRoot = await createOu(t.ctx, otherTenant, { name: 'Root' });
    await usersIn(t.ctx, otherTenant, [otherRoot, null], [3, 2]);

    const all = [...inRoot, ...inA, ...inA1, ...inB];
    expect(all).toHaveLength(13);
    expect(nowhere).toHaveLength(3);
    expect(await expectUserPaging(t.ctx, tenantId, root, true, all)).toEqual([true]);
    // (c) mid-level OUs: the join.
    expect(await expectUserPaging(t.ctx, tenantId, a, true, [...inA, ...inA1])).toEqual([false]);
    expect(await expectUserPaging(t.ctx, tenantId, b, true, inB)).toEqual([false]);
    expect(await expectUserPaging(t.ctx, tenantId, a1, true, inA1)).toEqual([false]);
    // Empty subtrees: total 0, nothing read.
    expect(await expectUserPaging(t.ctx, tenantId, emptyChild, true, [])).toEqual([]);
    expect(await expectUserPaging(t.ctx, tenantId, emptyRoot, true, [])).toEqual([]);
    // The direct users of the root alone.
    expect(await expectUserPaging(t.ctx, tenantId, root, false, inRoot)).toEqual([]);
  });

  it('nested at one of two roots that both hold users: every page is its slice of that root’s subtree (join read)', async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    const east = await createOu(t.ctx, tenantId, { name: 'East' });
    const west = await createOu(t.ctx, tenantId, { name: 'West' });
    const eastTeam = await createOu(t.ctx, tenantId, { name: 'Team', parent_id: east.id });
    const eastDeep = await createOu(t.ctx, tenantId, { name: 'Deep', parent_id: eastTeam.id });
    const westTeam = await createOu(t.ctx, tenantId, { name: 'Team', parent_id: west.id });
    const [inEast, inEastTeam, inEastDeep, inWest, inWestTeam] = await usersIn(
      t.ctx,
      tenantId,
      [east, eastTeam, eastDeep, west, westTeam, null],
      [3, 5, 5, 2, 3, 2],
    );
    expect(await expectUserPaging(t.ctx, tenantId, east, true, [...inEast, ...inEastTeam, ...inEastDeep])).toEqual([false]);
    expect(await expectUserPaging(t.ctx, tenantId, west, true, [...inWest, ...inWestTeam])).toEqual([false]);
    // (c) a mid-level OU of a two-root tenant.
    expect(await expectUserPaging(t.ctx, tenantId, eastTeam, true, [...inEastTeam, ...inEastDeep])).toEqual([false]);
    expect(await expectUserPaging(t.ctx, tenantId, eastTeam, false, inEastTeam)).toEqual([]);
  });

  it('after users move and a second root takes users, a root’s nested pages list exactly its subtree; users-first only while it holds every placed user', async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    const root = await createOu(t.ctx, tenantId, { name: 'Root' });
    const a = await createOu(t.ctx, tenantId, { name: 'A', parent_id: root.id });
    const b = await createOu(t.ctx, tenantId, { name: 'B', parent_id: root.id });
    const [inRoot, inA, inB, nowhere] = await usersIn(t.ctx, tenantId, [root, a, b, null], [3, 5, 4, 2]);
    let users = [...inRoot, ...inA, ...inB, ...nowhere];
    const inSubtree = (...ous: OuData[]) => users.filter((user) => ous.some((ou) => ou.id === user.ou_id));
    const replace = (moved: UserData) => {
      users = users.map((user) => (user.id === moved.id ? moved : user));
    };

    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b))).toEqual([true]);

    // Within the root: still every placed user.
    replace(await moveUser(t.ctx, tenantId, inA[0], b.id));
    replace(await moveUser(t.ctx, tenantId, inB[0], root.id));
    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b))).toEqual([true]);
    expect(await expectUserPaging(t.ctx, tenantId, b, true, inSubtree(b))).toEqual([false]);

    // A second root takes three of Root's users and two new ones: Root no longer holds them all.
    const second = await createOu(t.ctx, tenantId, { name: 'Second' });
    const secondChild = await createOu(t.ctx, tenantId, { name: 'Child', parent_id: second.id });
    replace(await moveUser(t.ctx, tenantId, inA[1], second.id));
    replace(await moveUser(t.ctx, tenantId, inRoot[0], secondChild.id));
    replace(await moveUser(t.ctx, tenantId, inB[1], second.id));
    users.push(...(await usersIn(t.ctx, tenantId, [second, secondChild], [1, 1])).flat());
    expect(inSubtree(second, secondChild)).toHaveLength(5);
    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b))).toEqual([false]);
    expect(await expectUserPaging(t.ctx, tenantId, second, true, inSubtree(second, secondChild))).toEqual([false]);

    // A user with no OU joins Root; one of Root's leaves every OU.
    replace(await moveUser(t.ctx, tenantId, nowhere[0], a.id));
    replace(await moveUser(t.ctx, tenantId, inA[2], null));
    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b))).toEqual([false]);

    // The second root's users all leave it (two to no OU, three to Root's subtree): Root holds every placed user again.
    const leaving = inSubtree(second, secondChild);
    for (const [i, user] of leaving.entries()) replace(await moveUser(t.ctx, tenantId, user, [null, a.id, b.id][i % 3]));
    expect(await expectUserPaging(t.ctx, tenantId, second, true, [])).toEqual([]);
    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b))).toEqual([true]);

    // The second root takes users again, then moves (with them) under A: Root holds them all again.
    users.push(...(await usersIn(t.ctx, tenantId, [secondChild, second], [2, 1])).flat());
    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b))).toEqual([false]);
    expectData(await send(t.ctx, 'PATCH', `${ousUrl(tenantId)}/${second.id}`, { payload: { parent_id: a.id } }));
    expect(await expectUserPaging(t.ctx, tenantId, root, true, inSubtree(root, a, b, second, secondChild))).toEqual([true]);
    expect(await expectUserPaging(t.ctx, tenantId, a, true, inSubtree(a, second, secondChild))).toEqual([false]);
  });
});

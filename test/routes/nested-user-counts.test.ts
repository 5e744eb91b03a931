import { describe, expect, it } from 'vitest';
import { expectData, expectError, expectNoContent, expectPage } from '../helpers/assertions.js';
import { type OuData, type UserData, createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

/*
 * `pagination.total_items` of GET .../ous/{ou_id}/users?include_nested=true comes from the
 * maintained org_units.subtree_user_count. Every write that places, removes or moves users or
 * OUs must keep it equal to the users of the OU's whole subtree: each test states, for several
 * OUs (the one written, its old and new ancestors, unrelated branches), the exact total and the
 * exact users listed, counted by hand from what the test created.
 *
 * Most tests start from this tree (one tenant each):
 *   /A (a1) └ /A/B (b1) └ /A/B/C (c1) └ /A/B/C/D (d1, d2)
 *   /X (x1) └ /X/Y (y1)
 *   /Z
 *   and `nowhere`, a user in no OU.
 */

const tenantUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}`;

function send(
  ctx: TestContext,
  method: 'GET' | 'PATCH' | 'DELETE',
  url: string,
  options: { payload?: object; query?: Record<string, string> } = {},
) {
  return ctx.app.inject({
    method,
    url,
    headers: ctx.platformHeaders,
    ...(options.query ? { query: options.query } : {}),
    ...(options.payload !== undefined ? { payload: options.payload } : {}),
  });
}

const patchUser = (ctx: TestContext, tenantId: string, userId: string, payload: object) =>
  send(ctx, 'PATCH', `${tenantUrl(tenantId)}/users/${userId}`, { payload });
const patchOu = (ctx: TestContext, tenantId: string, ouId: string, payload: object) =>
  send(ctx, 'PATCH', `${tenantUrl(tenantId)}/ous/${ouId}`, { payload });
const deleteOu = (ctx: TestContext, tenantId: string, ouId: string, strategy: string) =>
  send(ctx, 'DELETE', `${tenantUrl(tenantId)}/ous/${ouId}`, { query: { strategy } });

/** The sorted ids of `users`: the order the API lists them in. */
const idsOf = (...users: UserData[]) => users.map((user) => user.id).sort();

interface Nested {
  total: number;
  ids: string[];
}

/** total_items and listed ids of include_nested=true for each named OU (one page of 100). */
async function nested(ctx: TestContext, tenantId: string, ous: Record<string, OuData>): Promise<Record<string, Nested>> {
  const result: Record<string, Nested> = {};
  for (const [label, ou] of Object.entries(ous)) {
    const response = await send(ctx, 'GET', `${tenantUrl(tenantId)}/ous/${ou.id}/users`, {
      query: { include_nested: 'true', per_page: '100' },
    });
    const body = expectPage(response);
    expect(body.pagination.total_pages, label).toBe(Math.ceil(body.pagination.total_items / 100));
    result[label] = { total: body.pagination.total_items, ids: body.data.map((user: { id: string }) => user.id) };
  }
  return result;
}

/** The direct users of an OU (include_nested omitted), as total and ids. */
async function direct(ctx: TestContext, tenantId: string, ou: OuData): Promise<Nested> {
  const body = expectPage(await send(ctx, 'GET', `${tenantUrl(tenantId)}/ous/${ou.id}/users`, { query: { per_page: '100' } }));
  return { total: body.pagination.total_items, ids: body.data.map((user: { id: string }) => user.id) };
}

async function ouIdOfUser(ctx: TestContext, tenantId: string, userId: string): Promise<string | null> {
  return expectData(await send(ctx, 'GET', `${tenantUrl(tenantId)}/users/${userId}`)).ou_id;
}

/** The tree of the header comment, in a new tenant. */
async function chainTree(ctx: TestContext) {
  const tenantId = (await createTenant(ctx)).id;
  const A = await createOu(ctx, tenantId, { name: 'A' });
  const B = await createOu(ctx, tenantId, { name: 'B', parent_id: A.id });
  const C = await createOu(ctx, tenantId, { name: 'C', parent_id: B.id });
  const D = await createOu(ctx, tenantId, { name: 'D', parent_id: C.id });
  const X = await createOu(ctx, tenantId, { name: 'X' });
  const Y = await createOu(ctx, tenantId, { name: 'Y', parent_id: X.id });
  const Z = await createOu(ctx, tenantId, { name: 'Z' });
  const users = {
    a1: await createUser(ctx, tenantId, { ou_id: A.id }),
    b1: await createUser(ctx, tenantId, { ou_id: B.id }),
    c1: await createUser(ctx, tenantId, { ou_id: C.id }),
    d1: await createUser(ctx, tenantId, { ou_id: D.id }),
    d2: await createUser(ctx, tenantId, { ou_id: D.id }),
    x1: await createUser(ctx, tenantId, { ou_id: X.id }),
    y1: await createUser(ctx, tenantId, { ou_id: Y.id }),
    nowhere: await createUser(ctx, tenantId),
  };
  return { tenantId, ous: { A, B, C, D, X, Y, Z }, users };
}

// =====================================================================================

describe('nested user totals after user writes', () => {
  const t = useTestApp();

  it('the chain tree starts with every OU counting the users of its whole subtree', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2) },
      B: { total: 4, ids: idsOf(u.b1, u.c1, u.d1, u.d2) },
      C: { total: 3, ids: idsOf(u.c1, u.d1, u.d2) },
      D: { total: 2, ids: idsOf(u.d1, u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });
  });

  it("creating users in a deep OU grows the nested total of that OU and of every ancestor, and of no other OU", async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    const A = await createOu(t.ctx, tenantId, { name: 'A' });
    const B = await createOu(t.ctx, tenantId, { name: 'B', parent_id: A.id });
    const C = await createOu(t.ctx, tenantId, { name: 'C', parent_id: B.id });
    const D = await createOu(t.ctx, tenantId, { name: 'D', parent_id: C.id });
    const sibling = await createOu(t.ctx, tenantId, { name: 'Sibling', parent_id: B.id });
    const X = await createOu(t.ctx, tenantId, { name: 'X' });
    const ous = { A, B, C, D, sibling, X };
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 0, ids: [] },
      B: { total: 0, ids: [] },
      C: { total: 0, ids: [] },
      D: { total: 0, ids: [] },
      sibling: { total: 0, ids: [] },
      X: { total: 0, ids: [] },
    });

    const d1 = await createUser(t.ctx, tenantId, { ou_id: D.id });
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 1, ids: idsOf(d1) },
      B: { total: 1, ids: idsOf(d1) },
      C: { total: 1, ids: idsOf(d1) },
      D: { total: 1, ids: idsOf(d1) },
      sibling: { total: 0, ids: [] },
      X: { total: 0, ids: [] },
    });

    const d2 = await createUser(t.ctx, tenantId, { ou_id: D.id });
    const b1 = await createUser(t.ctx, tenantId, { ou_id: B.id });
    const s1 = await createUser(t.ctx, tenantId, { ou_id: sibling.id });
    await createUser(t.ctx, tenantId); // in no OU: counted nowhere
    await createUser(t.ctx, tenantId, { ou_id: null });
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 4, ids: idsOf(d1, d2, b1, s1) },
      B: { total: 4, ids: idsOf(d1, d2, b1, s1) },
      C: { total: 2, ids: idsOf(d1, d2) },
      D: { total: 2, ids: idsOf(d1, d2) },
      sibling: { total: 1, ids: idsOf(s1) },
      X: { total: 0, ids: [] },
    });
  });

  it('creating users in one tenant leaves the nested totals of the same-shaped tree of another tenant unchanged', async () => {
    const first = await chainTree(t.ctx);
    const second = await chainTree(t.ctx);
    const before = await nested(t.ctx, second.tenantId, second.ous);
    await createUser(t.ctx, first.tenantId, { ou_id: first.ous.D.id });
    await createUser(t.ctx, first.tenantId, { ou_id: first.ous.Y.id });
    expect(await nested(t.ctx, second.tenantId, second.ous)).toEqual(before);
    const after = await nested(t.ctx, first.tenantId, { A: first.ous.A, X: first.ous.X });
    expect([after.A.total, after.X.total]).toEqual([6, 3]);
    expect(before).toMatchObject({ A: { total: 5 }, X: { total: 2 } });
  });

  it("moving a user to another branch with PATCH ou_id takes it out of the old ancestors' nested totals and into the new ones'", async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expectData(await patchUser(t.ctx, tenantId, u.d1.id, { ou_id: ous.Y.id }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 4, ids: idsOf(u.a1, u.b1, u.c1, u.d2) },
      B: { total: 3, ids: idsOf(u.b1, u.c1, u.d2) },
      C: { total: 2, ids: idsOf(u.c1, u.d2) },
      D: { total: 1, ids: idsOf(u.d2) },
      X: { total: 3, ids: idsOf(u.x1, u.y1, u.d1) },
      Y: { total: 2, ids: idsOf(u.y1, u.d1) },
      Z: { total: 0, ids: [] },
    });

    // Into a root without children: only that root grows.
    expectData(await patchUser(t.ctx, tenantId, u.y1.id, { ou_id: ous.Z.id }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 4, ids: idsOf(u.a1, u.b1, u.c1, u.d2) },
      B: { total: 3, ids: idsOf(u.b1, u.c1, u.d2) },
      C: { total: 2, ids: idsOf(u.c1, u.d2) },
      D: { total: 1, ids: idsOf(u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.d1) },
      Y: { total: 1, ids: idsOf(u.d1) },
      Z: { total: 1, ids: idsOf(u.y1) },
    });
  });

  it('moving a user up its own branch changes only the OUs between the old and the new OU', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expectData(await patchUser(t.ctx, tenantId, u.d1.id, { ou_id: ous.B.id }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2) },
      B: { total: 4, ids: idsOf(u.b1, u.c1, u.d1, u.d2) },
      C: { total: 2, ids: idsOf(u.c1, u.d2) },
      D: { total: 1, ids: idsOf(u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });
    // And back down, deeper than it was.
    expectData(await patchUser(t.ctx, tenantId, u.a1.id, { ou_id: ous.D.id }));
    expect(await nested(t.ctx, tenantId, { A: ous.A, B: ous.B, C: ous.C, D: ous.D })).toEqual({
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2) },
      B: { total: 5, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2) },
      C: { total: 3, ids: idsOf(u.a1, u.c1, u.d2) },
      D: { total: 2, ids: idsOf(u.a1, u.d2) },
    });
  });

  it('a PATCH of a user that keeps its ou_id (same ou_id, or other fields only) leaves every nested total unchanged', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    const before = await nested(t.ctx, tenantId, ous);
    expectData(await patchUser(t.ctx, tenantId, u.d1.id, { ou_id: ous.D.id }));
    expectData(await patchUser(t.ctx, tenantId, u.d2.id, { display_name: 'Renamed', status: 'disabled' }));
    expectData(await patchUser(t.ctx, tenantId, u.nowhere.id, { ou_id: null }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual(before);
    expect(before.A.total).toBe(5);
  });

  it('moving a user to no OU with ou_id null takes it out of every nested total, and placing it again puts it back', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expectData(await patchUser(t.ctx, tenantId, u.c1.id, { ou_id: null }));
    expect(await ouIdOfUser(t.ctx, tenantId, u.c1.id)).toBeNull();
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 4, ids: idsOf(u.a1, u.b1, u.d1, u.d2) },
      B: { total: 3, ids: idsOf(u.b1, u.d1, u.d2) },
      C: { total: 2, ids: idsOf(u.d1, u.d2) },
      D: { total: 2, ids: idsOf(u.d1, u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });

    expectData(await patchUser(t.ctx, tenantId, u.c1.id, { ou_id: ous.Y.id }));
    expectData(await patchUser(t.ctx, tenantId, u.nowhere.id, { ou_id: ous.D.id }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.d1, u.d2, u.nowhere) },
      B: { total: 4, ids: idsOf(u.b1, u.d1, u.d2, u.nowhere) },
      C: { total: 3, ids: idsOf(u.d1, u.d2, u.nowhere) },
      D: { total: 3, ids: idsOf(u.d1, u.d2, u.nowhere) },
      X: { total: 3, ids: idsOf(u.x1, u.y1, u.c1) },
      Y: { total: 2, ids: idsOf(u.y1, u.c1) },
      Z: { total: 0, ids: [] },
    });
  });

  it('deleting a user takes it out of the nested total of its OU and every ancestor; deleting a user in no OU changes none', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expectNoContent(await send(t.ctx, 'DELETE', `${tenantUrl(tenantId)}/users/${u.d2.id}`));
    expectNoContent(await send(t.ctx, 'DELETE', `${tenantUrl(tenantId)}/users/${u.nowhere.id}`));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 4, ids: idsOf(u.a1, u.b1, u.c1, u.d1) },
      B: { total: 3, ids: idsOf(u.b1, u.c1, u.d1) },
      C: { total: 2, ids: idsOf(u.c1, u.d1) },
      D: { total: 1, ids: idsOf(u.d1) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });

    expectNoContent(await send(t.ctx, 'DELETE', `${tenantUrl(tenantId)}/users/${u.b1.id}`));
    expectNoContent(await send(t.ctx, 'DELETE', `${tenantUrl(tenantId)}/users/${u.y1.id}`));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 3, ids: idsOf(u.a1, u.c1, u.d1) },
      B: { total: 2, ids: idsOf(u.c1, u.d1) },
      C: { total: 2, ids: idsOf(u.c1, u.d1) },
      D: { total: 1, ids: idsOf(u.d1) },
      X: { total: 1, ids: idsOf(u.x1) },
      Y: { total: 0, ids: [] },
      Z: { total: 0, ids: [] },
    });
  });
});

// =====================================================================================

describe('nested user totals after OU moves (PATCH parent_id)', () => {
  const t = useTestApp();

  it("moving a subtree with users under another branch moves its users from the old ancestors' totals to the new ones'", async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    const moved = expectData(await patchOu(t.ctx, tenantId, ous.C.id, { parent_id: ous.Y.id }));
    expect(moved).toMatchObject({ path: '/X/Y/C', parent_id: ous.Y.id });
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 2, ids: idsOf(u.a1, u.b1) },
      B: { total: 1, ids: idsOf(u.b1) },
      C: { total: 3, ids: idsOf(u.c1, u.d1, u.d2) },
      D: { total: 2, ids: idsOf(u.d1, u.d2) },
      X: { total: 5, ids: idsOf(u.x1, u.y1, u.c1, u.d1, u.d2) },
      Y: { total: 4, ids: idsOf(u.y1, u.c1, u.d1, u.d2) },
      Z: { total: 0, ids: [] },
    });

    // Back into the first branch one level higher (under A): B is no longer on its path.
    expectData(await patchOu(t.ctx, tenantId, ous.C.id, { parent_id: ous.A.id }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2) },
      B: { total: 1, ids: idsOf(u.b1) },
      C: { total: 3, ids: idsOf(u.c1, u.d1, u.d2) },
      D: { total: 2, ids: idsOf(u.d1, u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });
  });

  it('moving a leaf with users down into its former sibling subtree changes only the OUs that gain it', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    const E = await createOu(t.ctx, tenantId, { name: 'E', parent_id: ous.A.id });
    const e1 = await createUser(t.ctx, tenantId, { ou_id: E.id });
    expectData(await patchOu(t.ctx, tenantId, E.id, { parent_id: ous.D.id }));
    expect(await nested(t.ctx, tenantId, { ...ous, E })).toEqual({
      A: { total: 6, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2, e1) },
      B: { total: 5, ids: idsOf(u.b1, u.c1, u.d1, u.d2, e1) },
      C: { total: 4, ids: idsOf(u.c1, u.d1, u.d2, e1) },
      D: { total: 3, ids: idsOf(u.d1, u.d2, e1) },
      E: { total: 1, ids: idsOf(e1) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });
  });

  it('making an OU a root with parent_id null takes its users out of every former ancestor and keeps its own total', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expect(expectData(await patchOu(t.ctx, tenantId, ous.C.id, { parent_id: null }))).toMatchObject({ path: '/C', parent_id: null });
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 2, ids: idsOf(u.a1, u.b1) },
      B: { total: 1, ids: idsOf(u.b1) },
      C: { total: 3, ids: idsOf(u.c1, u.d1, u.d2) },
      D: { total: 2, ids: idsOf(u.d1, u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });
    // A user created in the new root's subtree counts there, not in its former ancestors.
    const d3 = await createUser(t.ctx, tenantId, { ou_id: ous.D.id });
    expect(await nested(t.ctx, tenantId, { A: ous.A, B: ous.B, C: ous.C, D: ous.D })).toEqual({
      A: { total: 2, ids: idsOf(u.a1, u.b1) },
      B: { total: 1, ids: idsOf(u.b1) },
      C: { total: 4, ids: idsOf(u.c1, u.d1, u.d2, d3) },
      D: { total: 3, ids: idsOf(u.d1, u.d2, d3) },
    });
  });

  it('moving a root with users under a deep OU adds its users to every new ancestor', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    expectData(await patchOu(t.ctx, tenantId, ous.X.id, { parent_id: ous.C.id }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual({
      A: { total: 7, ids: idsOf(u.a1, u.b1, u.c1, u.d1, u.d2, u.x1, u.y1) },
      B: { total: 6, ids: idsOf(u.b1, u.c1, u.d1, u.d2, u.x1, u.y1) },
      C: { total: 5, ids: idsOf(u.c1, u.d1, u.d2, u.x1, u.y1) },
      D: { total: 2, ids: idsOf(u.d1, u.d2) },
      X: { total: 2, ids: idsOf(u.x1, u.y1) },
      Y: { total: 1, ids: idsOf(u.y1) },
      Z: { total: 0, ids: [] },
    });
  });

  it('a move of an OU without users, and a rename, leave every nested total unchanged', async () => {
    const { tenantId, ous } = await chainTree(t.ctx);
    const before = await nested(t.ctx, tenantId, ous);
    expectData(await patchOu(t.ctx, tenantId, ous.Z.id, { parent_id: ous.D.id }));
    expectData(await patchOu(t.ctx, tenantId, ous.B.id, { name: 'Renamed' }));
    expectData(await patchOu(t.ctx, tenantId, ous.C.id, { parent_id: ous.B.id, description: 'same parent' }));
    expect(await nested(t.ctx, tenantId, ous)).toEqual(before);
    expect([before.A.total, before.B.total, before.C.total, before.D.total, before.Z.total]).toEqual([5, 4, 3, 2, 0]);
  });

  it('a refused move (409 cycle, 409 name conflict, 404 parent) leaves every nested total unchanged', async () => {
    const { tenantId, ous } = await chainTree(t.ctx);
    await createOu(t.ctx, tenantId, { name: 'c', parent_id: ous.Y.id }); // takes C's name (another case) under Y
    const before = await nested(t.ctx, tenantId, ous);
    expect(before.X.total).toBe(2);

    expectError(await patchOu(t.ctx, tenantId, ous.B.id, { parent_id: ous.D.id }), 409, 'ou.cycle');
    expectError(await patchOu(t.ctx, tenantId, ous.A.id, { parent_id: ous.A.id }), 409, 'ou.cycle');
    expectError(await patchOu(t.ctx, tenantId, ous.C.id, { parent_id: ous.Y.id }), 409, 'ou.name_conflict');
    expectError(await patchOu(t.ctx, tenantId, ous.D.id, { parent_id: ous.X.id, name: 'Y' }), 409, 'ou.name_conflict');
    expectError(await patchOu(t.ctx, tenantId, ous.C.id, { parent_id: 'ou_doesnotexist' }), 404);
    expect(await nested(t.ctx, tenantId, ous)).toEqual(before);
    expect(before).toMatchObject({ A: { total: 5 }, B: { total: 4 }, C: { total: 3 }, D: { total: 2 }, Y: { total: 1 }, Z: { total: 0 } });
  });

  it('a refused user move (404 OU) and a refused user create leave every nested total unchanged', async () => {
    const { tenantId, ous, users: u } = await chainTree(t.ctx);
    const before = await nested(t.ctx, tenantId, ous);
    expectError(await patchUser(t.ctx, tenantId, u.d1.id, { ou_id: 'ou_doesnotexist' }), 404);
    const conflict = await t.ctx.app.inject({
      method: 'POST',
      url: `${tenantUrl(tenantId)}/users`,
      headers: t.ctx.platformHeaders,
      payload: { email: u.d1.email, ou_id: ous.Y.id },
    });
    expectError(conflict, 409);
    expect(await nested(t.ctx, tenantId, ous)).toEqual(before);
    expect(before.D.total).toBe(2);
    expect(before.Y.total).toBe(1);
  });
});

describe('nested user totals with a small depth limit (maxOuDepth 4)', () => {
  const t = useTestApp({ maxOuDepth: 4 });

  it("a move refused with 409 'ou.depth_exceeded' leaves every nested total unchanged", async () => {
    const { tenantId, ous } = await chainTree(t.ctx);
    const before = await nested(t.ctx, tenantId, ous);
    // B's subtree is 3 levels deep: under /X/Y its leaf would be at depth 5.
    expectError(await patchOu(t.ctx, tenantId, ous.B.id, { parent_id: ous.Y.id }), 409, 'ou.depth_exceeded');
    expect(await nested(t.ctx, tenantId, ous)).toEqual(before);
    expect(before).toMatchObject({ A: { total: 5 }, B: { total: 4 }, X: { total: 2 }, Y: { total: 1 } });
  });
});

// =====================================================================================

describe('nested user totals after OU deletes', () => {
  const t = useTestApp();

  /** /R (r1) └ /R/A (a1) └ /R/A/B (b1, b2) ├ /R/A/B/C (c1) │ └ /R/A/B/C/D (d1) └ /R/A/B/E;  /X (x1). */
  async function deepTree(ctx: TestContext) {
    const tenantId = (await createTenant(ctx)).id;
    const R = await createOu(ctx, tenantId, { name: 'R' });
    const A = await createOu(ctx, tenantId, { name: 'A', parent_id: R.id });
    const B = await createOu(ctx, tenantId, { name: 'B', parent_id: A.id });
    const C = await createOu(ctx, tenantId, { name: 'C', parent_id: B.id });
    const D = await createOu(ctx, tenantId, { name: 'D', parent_id: C.id });
    const E = await createOu(ctx, tenantId, { name: 'E', parent_id: B.id });
    const X = await createOu(ctx, tenantId, { name: 'X' });
    const users = {
      r1: await createUser(ctx, tenantId, { ou_id: R.id }),
      a1: await createUser(ctx, tenantId, { ou_id: A.id }),
      b1: await createUser(ctx, tenantId, { ou_id: B.id }),
      b2: await createUser(ctx, tenantId, { ou_id: B.id }),
      c1: await createUser(ctx, tenantId, { ou_id: C.id }),
      d1: await createUser(ctx, tenantId, { ou_id: D.id }),
      x1: await createUser(ctx, tenantId, { ou_id: X.id }),
    };
    return { tenantId, R, A, B, C, D, E, X, users };
  }

  it("MOVE_UP of a middle OU moves its users to the parent: the parent's and grandparent's nested totals are unchanged", async () => {
    const s = await deepTree(t.ctx);
    const u = s.users;
    const before = await nested(t.ctx, s.tenantId, { R: s.R, A: s.A, C: s.C, D: s.D, E: s.E, X: s.X });
    expect(before).toEqual({
      R: { total: 6, ids: idsOf(u.r1, u.a1, u.b1, u.b2, u.c1, u.d1) },
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1) },
      C: { total: 2, ids: idsOf(u.c1, u.d1) },
      D: { total: 1, ids: idsOf(u.d1) },
      E: { total: 0, ids: [] },
      X: { total: 1, ids: idsOf(u.x1) },
    });

    expectNoContent(await deleteOu(t.ctx, s.tenantId, s.B.id, 'MOVE_UP'));
    expect(await ouIdOfUser(t.ctx, s.tenantId, u.b1.id)).toBe(s.A.id);
    expect(await direct(t.ctx, s.tenantId, s.A)).toEqual({ total: 3, ids: idsOf(u.a1, u.b1, u.b2) });
    expect(await nested(t.ctx, s.tenantId, { R: s.R, A: s.A, C: s.C, D: s.D, E: s.E, X: s.X })).toEqual(before);

    // The lifted children now sit directly under A and count into it as before.
    const c2 = await createUser(t.ctx, s.tenantId, { ou_id: s.C.id });
    expect(await nested(t.ctx, s.tenantId, { R: s.R, A: s.A, C: s.C })).toEqual({
      R: { total: 7, ids: idsOf(u.r1, u.a1, u.b1, u.b2, u.c1, u.d1, c2) },
      A: { total: 6, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1, c2) },
      C: { total: 3, ids: idsOf(u.c1, u.d1, c2) },
    });
  });

  it('MOVE_UP of a root leaves its users in no OU and its children, now roots, with their own totals', async () => {
    const s = await deepTree(t.ctx);
    const u = s.users;
    expectNoContent(await deleteOu(t.ctx, s.tenantId, s.R.id, 'MOVE_UP'));
    expect(await ouIdOfUser(t.ctx, s.tenantId, u.r1.id)).toBeNull();
    expect(await nested(t.ctx, s.tenantId, { A: s.A, B: s.B, C: s.C, X: s.X })).toEqual({
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1) },
      B: { total: 4, ids: idsOf(u.b1, u.b2, u.c1, u.d1) },
      C: { total: 2, ids: idsOf(u.c1, u.d1) },
      X: { total: 1, ids: idsOf(u.x1) },
    });
  });

  it("MOVE_UP refused with 409 'ou.name_conflict' leaves every nested total unchanged", async () => {
    const s = await deepTree(t.ctx);
    await createOu(t.ctx, s.tenantId, { name: 'c', parent_id: s.A.id }); // B's child C would clash under A
    const all = { R: s.R, A: s.A, B: s.B, C: s.C, D: s.D, E: s.E, X: s.X };
    const before = await nested(t.ctx, s.tenantId, all);
    expectError(await deleteOu(t.ctx, s.tenantId, s.B.id, 'MOVE_UP'), 409, 'ou.name_conflict');
    expectError(await deleteOu(t.ctx, s.tenantId, s.B.id, 'BLOCK'), 409, 'ou.not_empty');
    expect(await nested(t.ctx, s.tenantId, all)).toEqual(before);
    expect(before).toMatchObject({ R: { total: 6 }, A: { total: 5 }, B: { total: 4 } });
  });

  it('CASCADE of a subtree with users moves them all to the parent: the nested totals of every ancestor are unchanged', async () => {
    const s = await deepTree(t.ctx);
    const u = s.users;
    expectNoContent(await deleteOu(t.ctx, s.tenantId, s.B.id, 'CASCADE'));
    for (const user of [u.b1, u.b2, u.c1, u.d1]) expect(await ouIdOfUser(t.ctx, s.tenantId, user.id)).toBe(s.A.id);
    expect(await direct(t.ctx, s.tenantId, s.A)).toEqual({ total: 5, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1) });
    expect(await nested(t.ctx, s.tenantId, { R: s.R, A: s.A, X: s.X })).toEqual({
      R: { total: 6, ids: idsOf(u.r1, u.a1, u.b1, u.b2, u.c1, u.d1) },
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1) },
      X: { total: 1, ids: idsOf(u.x1) },
    });

    // A new OU of the same name under A starts empty, and A's users moving into it keep A's total.
    const again = await createOu(t.ctx, s.tenantId, { name: 'B', parent_id: s.A.id });
    expect(await nested(t.ctx, s.tenantId, { again })).toEqual({ again: { total: 0, ids: [] } });
    expectData(await patchUser(t.ctx, s.tenantId, u.d1.id, { ou_id: again.id }));
    expect(await nested(t.ctx, s.tenantId, { R: s.R, A: s.A, again })).toEqual({
      R: { total: 6, ids: idsOf(u.r1, u.a1, u.b1, u.b2, u.c1, u.d1) },
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1) },
      again: { total: 1, ids: idsOf(u.d1) },
    });
  });

  it('CASCADE of a leaf with users moves them to the parent: the totals of the parent and its ancestors are unchanged', async () => {
    const s = await deepTree(t.ctx);
    const u = s.users;
    expectNoContent(await deleteOu(t.ctx, s.tenantId, s.D.id, 'CASCADE'));
    expect(await ouIdOfUser(t.ctx, s.tenantId, u.d1.id)).toBe(s.C.id);
    expect(await nested(t.ctx, s.tenantId, { R: s.R, A: s.A, B: s.B, C: s.C, E: s.E })).toEqual({
      R: { total: 6, ids: idsOf(u.r1, u.a1, u.b1, u.b2, u.c1, u.d1) },
      A: { total: 5, ids: idsOf(u.a1, u.b1, u.b2, u.c1, u.d1) },
      B: { total: 4, ids: idsOf(u.b1, u.b2, u.c1, u.d1) },
      C: { total: 2, ids: idsOf(u.c1, u.d1) },
      E: { total: 0, ids: [] },
    });
  });

  it('CASCADE of a root leaves all its users in no OU and the other roots unchanged', async () => {
    const s = await deepTree(t.ctx);
    const u = s.users;
    expectNoContent(await deleteOu(t.ctx, s.tenantId, s.R.id, 'CASCADE'));
    for (const user of [u.r1, u.a1, u.b1, u.b2, u.c1, u.d1]) expect(await ouIdOfUser(t.ctx, s.tenantId, user.id)).toBeNull();
    expect(await ouIdOfUser(t.ctx, s.tenantId, u.x1.id)).toBe(s.X.id);
    expect(await nested(t.ctx, s.tenantId, { X: s.X })).toEqual({ X: { total: 1, ids: idsOf(u.x1) } });

    // The users left in no OU count again wherever they are placed next.
    const fresh = await createOu(t.ctx, s.tenantId, { name: 'R' });
    expectData(await patchUser(t.ctx, s.tenantId, u.b1.id, { ou_id: fresh.id }));
    expectData(await patchUser(t.ctx, s.tenantId, u.d1.id, { ou_id: s.X.id }));
    expect(await nested(t.ctx, s.tenantId, { fresh, X: s.X })).toEqual({
      fresh: { total: 1, ids: idsOf(u.b1) },
      X: { total: 2, ids: idsOf(u.x1, u.d1) },
    });
  });

  it('BLOCK of an empty leaf leaves the nested totals of its ancestors unchanged', async () => {
    const s = await deepTree(t.ctx);
    const all = { R: s.R, A: s.A, B: s.B, C: s.C, X: s.X };
    const before = await nested(t.ctx, s.tenantId, all);
    expectNoContent(await deleteOu(t.ctx, s.tenantId, s.E.id, 'BLOCK'));
    expect(await nested(t.ctx, s.tenantId, all)).toEqual(before);
    expect(before).toMatchObject({ R: { total: 6 }, A: { total: 5 }, B: { total: 4 }, C: { total: 2 }, X: { total: 1 } });
  });
});

import { describe, expect, it } from 'vitest';
import { expectData, expectError, expectNoContent, expectPageData, expectValidation } from '../helpers/assertions.js';
import { createOu, createSampleTree, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

/*
 * DELETE /api/v1/tenants/{tenant_id}/ous/{ou_id}?strategy=BLOCK|MOVE_UP|CASCADE
 *
 * Sample tree (factories.createSampleTree):
 *   /Eng (eng1, eng2) ├ /Eng/Backend (backend1) │ └ /Eng/Backend/Db (db1) └ /Eng/Frontend
 *   /Sales            and `nowhere`, a user in no OU.
 */

const ous = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous`;
const ouUrl = (tenantId: string, ouId: string) => `${ous(tenantId)}/${ouId}`;

function remove(ctx: TestContext, tenantId: string, ouId: string, strategy?: string, headers = ctx.platformHeaders) {
  return ctx.app.inject({
    method: 'DELETE',
    url: ouUrl(tenantId, ouId),
    headers,
    ...(strategy !== undefined ? { query: { strategy } } : {}),
  });
}

async function getOu(ctx: TestContext, tenantId: string, ouId: string) {
  return expectData(await ctx.app.inject({ method: 'GET', url: ouUrl(tenantId, ouId), headers: ctx.platformHeaders }));
}

async function expectOuGone(ctx: TestContext, tenantId: string, ouId: string) {
  const response = await ctx.app.inject({ method: 'GET', url: ouUrl(tenantId, ouId), headers: ctx.platformHeaders });
  expectError(response, 404, 'ou.not_found');
}

async function ouIdOfUser(ctx: TestContext, tenantId: string, userId: string): Promise<string | null> {
  const response = await ctx.app.inject({
    method: 'GET',
    url: `/api/v1/tenants/${tenantId}/users/${userId}`,
    headers: ctx.platformHeaders,
  });
  return expectData(response).ou_id;
}

async function getTree(ctx: TestContext, tenantId: string) {
  return expectData(await ctx.app.inject({ method: 'GET', url: `${ous(tenantId)}/tree`, headers: ctx.platformHeaders }));
}

/** Everything observable about a tenant's hierarchy: tree, every OU's detail, every user's placement. */
async function snapshot(ctx: TestContext, tenantId: string) {
  const tree = await getTree(ctx, tenantId);
  const list = expectPageData(
    await ctx.app.inject({ method: 'GET', url: ous(tenantId), query: { per_page: '100' }, headers: ctx.platformHeaders }),
  );
  const details = [];
  for (const item of list) details.push(await getOu(ctx, tenantId, item.id));
  const users = expectPageData(
    await ctx.app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${tenantId}/users`,
      query: { per_page: '100' },
      headers: ctx.platformHeaders,
    }),
  );
  return { tree, details, users };
}

async function sample(ctx: TestContext) {
  const tenant = await createTenant(ctx);
  return { tenantId: tenant.id, ...(await createSampleTree(ctx, tenant.id)) };
}

// =====================================================================================

describe('DELETE strategy BLOCK (the default)', () => {
  const t = useTestApp();

  it("returns 409 'ou.not_empty' for an OU with a child OU, and changes nothing", async () => {
    const s = await sample(t.ctx);
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(await remove(t.ctx, s.tenantId, s.backend.id), 409, 'ou.not_empty');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it("returns 409 'ou.not_empty' for an OU with a child OU but no users, and changes nothing", async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    await createOu(t.ctx, tenant.id, { name: 'Child', parent_id: parent.id });
    const before = await snapshot(t.ctx, tenant.id);
    expectError(await remove(t.ctx, tenant.id, parent.id), 409, 'ou.not_empty');
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
  });

  it("returns 409 'ou.not_empty' for a leaf OU that only has a user, and changes nothing", async () => {
    const s = await sample(t.ctx);
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(await remove(t.ctx, s.tenantId, s.db.id), 409, 'ou.not_empty');
    expectError(await remove(t.ctx, s.tenantId, s.db.id, 'BLOCK'), 409, 'ou.not_empty');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it("deletes a leaf without users with 204 and an empty body, decrementing the parent's child_ou_count", async () => {
    const s = await sample(t.ctx);
    expect((await getOu(t.ctx, s.tenantId, s.eng.id)).child_ou_count).toBe(2);
    expectNoContent(await remove(t.ctx, s.tenantId, s.frontend.id));
    await expectOuGone(t.ctx, s.tenantId, s.frontend.id);
    const eng = await getOu(t.ctx, s.tenantId, s.eng.id);
    expect(eng.child_ou_count).toBe(1);
    expect(eng.user_count).toBe(2);
    expect(eng.children.map((c: { ou_id: string }) => c.ou_id)).toEqual([s.backend.id]);
  });

  it('deletes an empty root with explicit strategy=BLOCK', async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.sales.id, 'BLOCK'));
    await expectOuGone(t.ctx, s.tenantId, s.sales.id);
    expect((await getTree(t.ctx, s.tenantId)).map((n: { name: string }) => n.name)).toEqual(['Eng']);
  });

  it("rejects strategy=NOPE with 422 at loc ['query','strategy'], and changes nothing", async () => {
    const s = await sample(t.ctx);
    const before = await snapshot(t.ctx, s.tenantId);
    expectValidation(await remove(t.ctx, s.tenantId, s.frontend.id, 'NOPE'), ['query', 'strategy']);
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });
});

// =====================================================================================

describe('DELETE strategy MOVE_UP', () => {
  const t = useTestApp();

  it('deleting a root moves its children to the root level (subtree paths rewritten) and its users to no OU', async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.eng.id, 'MOVE_UP'));
    await expectOuGone(t.ctx, s.tenantId, s.eng.id);

    expect(await getOu(t.ctx, s.tenantId, s.backend.id)).toMatchObject({
      path: '/Backend',
      parent_id: null,
      child_ou_count: 1,
      user_count: 1,
    });
    expect(await getOu(t.ctx, s.tenantId, s.db.id)).toMatchObject({ path: '/Backend/Db', parent_id: s.backend.id, user_count: 1 });
    expect(await getOu(t.ctx, s.tenantId, s.frontend.id)).toMatchObject({ path: '/Frontend', parent_id: null });

    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.eng1.id)).toBeNull();
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.eng2.id)).toBeNull();
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.backend1.id)).toBe(s.backend.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.db1.id)).toBe(s.db.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.nowhere.id)).toBeNull();

    expect(await getTree(t.ctx, s.tenantId)).toEqual([
      {
        id: s.backend.id,
        name: 'Backend',
        path: '/Backend',
        children: [{ id: s.db.id, name: 'Db', path: '/Backend/Db', children: [] }],
      },
      { id: s.frontend.id, name: 'Frontend', path: '/Frontend', children: [] },
      { id: s.sales.id, name: 'Sales', path: '/Sales', children: [] },
    ]);
  });

  it("deleting a non-root moves its children and users to its parent and updates the parent's counts", async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.backend.id, 'MOVE_UP'));
    await expectOuGone(t.ctx, s.tenantId, s.backend.id);

    expect(await getOu(t.ctx, s.tenantId, s.db.id)).toMatchObject({ path: '/Eng/Db', parent_id: s.eng.id, user_count: 1 });
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.backend1.id)).toBe(s.eng.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.db1.id)).toBe(s.db.id);

    const eng = await getOu(t.ctx, s.tenantId, s.eng.id);
    expect(eng).toMatchObject({ path: '/Eng', user_count: 3, child_ou_count: 2 });
    expect(eng.children).toEqual([
      { ou_id: s.db.id, name: 'Db', path: '/Eng/Db', user_count: 1 },
      { ou_id: s.frontend.id, name: 'Frontend', path: '/Eng/Frontend', user_count: 0 },
    ]);
  });

  it('deleting a leaf with users moves the users to its parent', async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.db.id, 'MOVE_UP'));
    await expectOuGone(t.ctx, s.tenantId, s.db.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.db1.id)).toBe(s.backend.id);
    expect(await getOu(t.ctx, s.tenantId, s.backend.id)).toMatchObject({ user_count: 2, child_ou_count: 0, children: [] });
  });

  it('returns 409 naming the clashing name when a child has the name of a root sibling (other case), and changes nothing', async () => {
    const s = await sample(t.ctx);
    await createOu(t.ctx, s.tenantId, { name: 'sales', parent_id: s.eng.id });
    const before = await snapshot(t.ctx, s.tenantId);
    const detail = expectError(await remove(t.ctx, s.tenantId, s.eng.id, 'MOVE_UP'), 409, 'ou.name_conflict');
    expect(detail).toContain("'sales'");
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('returns 409 naming every clashing name at a non-root level, and changes nothing', async () => {
    const s = await sample(t.ctx);
    await createOu(t.ctx, s.tenantId, { name: 'FRONTEND', parent_id: s.backend.id });
    await createOu(t.ctx, s.tenantId, { name: 'Ops', parent_id: s.eng.id });
    await createOu(t.ctx, s.tenantId, { name: 'ops', parent_id: s.backend.id });
    await createOu(t.ctx, s.tenantId, { name: 'Unique', parent_id: s.backend.id });
    const before = await snapshot(t.ctx, s.tenantId);
    const detail = expectError(await remove(t.ctx, s.tenantId, s.backend.id, 'MOVE_UP'), 409, 'ou.name_conflict');
    expect(detail).toContain("'FRONTEND'");
    expect(detail).toContain("'ops'");
    expect(detail).not.toContain('Unique');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('rewrites descendant paths correctly when the deleted OU has characters outside the BMP in its name', async () => {
    const tenant = await createTenant(t.ctx);
    const rocket = await createOu(t.ctx, tenant.id, { name: 'Rocket 🚀' });
    const crew = await createOu(t.ctx, tenant.id, { name: 'Crew', parent_id: rocket.id });
    const pilot = await createOu(t.ctx, tenant.id, { name: 'Pilot', parent_id: crew.id });
    expectNoContent(await remove(t.ctx, tenant.id, rocket.id, 'MOVE_UP'));
    expect((await getOu(t.ctx, tenant.id, crew.id)).path).toBe('/Crew');
    expect((await getOu(t.ctx, tenant.id, pilot.id)).path).toBe('/Crew/Pilot');
  });

  it("lifts a child that has the deleted OU's own name (the deleted OU frees the name)", async () => {
    const tenant = await createTenant(t.ctx);
    const eng = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const inner = await createOu(t.ctx, tenant.id, { name: 'eng', parent_id: eng.id });
    expectNoContent(await remove(t.ctx, tenant.id, eng.id, 'MOVE_UP'));
    await expectOuGone(t.ctx, tenant.id, eng.id);
    expect(await getOu(t.ctx, tenant.id, inner.id)).toMatchObject({ name: 'eng', path: '/eng', parent_id: null });
  });
});

// =====================================================================================

describe('DELETE strategy CASCADE', () => {
  const t = useTestApp();

  it("deletes the whole subtree, moves every user of it to the parent and updates the parent's counts", async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.backend.id, 'CASCADE'));
    await expectOuGone(t.ctx, s.tenantId, s.backend.id);
    await expectOuGone(t.ctx, s.tenantId, s.db.id);

    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.backend1.id)).toBe(s.eng.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.db1.id)).toBe(s.eng.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.eng1.id)).toBe(s.eng.id);

    const eng = await getOu(t.ctx, s.tenantId, s.eng.id);
    expect(eng).toMatchObject({ user_count: 4, child_ou_count: 1 });
    expect(eng.children).toEqual([{ ou_id: s.frontend.id, name: 'Frontend', path: '/Eng/Frontend', user_count: 0 }]);
  });

  it('deleting a root removes every descendant and leaves all its users in no OU', async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.eng.id, 'CASCADE'));
    for (const ou of [s.eng, s.backend, s.db, s.frontend]) await expectOuGone(t.ctx, s.tenantId, ou.id);
    for (const user of [s.users.eng1, s.users.eng2, s.users.backend1, s.users.db1, s.users.nowhere]) {
      expect(await ouIdOfUser(t.ctx, s.tenantId, user.id)).toBeNull();
    }
    expect(await getTree(t.ctx, s.tenantId)).toEqual([{ id: s.sales.id, name: 'Sales', path: '/Sales', children: [] }]);
  });

  it('deletes a leaf and moves its users to the parent', async () => {
    const s = await sample(t.ctx);
    expectNoContent(await remove(t.ctx, s.tenantId, s.db.id, 'CASCADE'));
    await expectOuGone(t.ctx, s.tenantId, s.db.id);
    expect(await ouIdOfUser(t.ctx, s.tenantId, s.users.db1.id)).toBe(s.backend.id);
    expect(await getOu(t.ctx, s.tenantId, s.backend.id)).toMatchObject({ user_count: 2, child_ou_count: 0 });
  });

  it('leaves other subtrees and other tenants untouched', async () => {
    const s = await sample(t.ctx);
    const other = await createTenant(t.ctx);
    const otherTree = await createSampleTree(t.ctx, other.id);
    const otherBefore = await snapshot(t.ctx, other.id);
    const salesUser = await createUser(t.ctx, s.tenantId, { ou_id: s.sales.id });
    expectNoContent(await remove(t.ctx, s.tenantId, s.eng.id, 'CASCADE'));
    expect(await ouIdOfUser(t.ctx, s.tenantId, salesUser.id)).toBe(s.sales.id);
    expect(await getOu(t.ctx, s.tenantId, s.sales.id)).toMatchObject({ user_count: 1 });
    expect(await snapshot(t.ctx, other.id)).toEqual(otherBefore);
    expect((await getOu(t.ctx, other.id, otherTree.db.id)).path).toBe('/Eng/Backend/Db');
  });
});

// =====================================================================================

describe('DELETE of an OU that is not there', () => {
  const t = useTestApp();

  it("returns 404 'ou.not_found' for an unknown OU with every strategy", async () => {
    const s = await sample(t.ctx);
    const before = await snapshot(t.ctx, s.tenantId);
    for (const strategy of [undefined, 'BLOCK', 'MOVE_UP', 'CASCADE']) {
      expectError(await remove(t.ctx, s.tenantId, 'ou_doesnotexist', strategy), 404, 'ou.not_found');
    }
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('returns 404 for an OU of another tenant with every strategy, and the OU still exists', async () => {
    const owner = await sample(t.ctx);
    const other = await createTenant(t.ctx);
    const before = await snapshot(t.ctx, owner.tenantId);
    for (const strategy of [undefined, 'BLOCK', 'MOVE_UP', 'CASCADE']) {
      expectError(await remove(t.ctx, other.id, owner.eng.id, strategy), 404, 'ou.not_found');
      expectError(await remove(t.ctx, other.id, owner.frontend.id, strategy), 404, 'ou.not_found');
    }
    expect(await snapshot(t.ctx, owner.tenantId)).toEqual(before);
  });

  it("returns 404 'tenant.not_found' for an unknown tenant", async () => {
    const s = await sample(t.ctx);
    expectError(await remove(t.ctx, 'tnt_doesnotexist', s.frontend.id), 404, 'tenant.not_found');
    await getOu(t.ctx, s.tenantId, s.frontend.id);
  });
});

describe('auth on DELETE', () => {
  const t = useTestApp();

  it('returns 401 with a Bearer challenge without a token, and deletes nothing', async () => {
    const s = await sample(t.ctx);
    const response = await t.ctx.app.inject({ method: 'DELETE', url: ouUrl(s.tenantId, s.frontend.id) });
    expectError(response, 401, 'auth.missing_token');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    await getOu(t.ctx, s.tenantId, s.frontend.id);
  });

  it("returns 403 'auth.wrong_tenant' for a token of another tenant, and deletes nothing", async () => {
    const s = await sample(t.ctx);
    const intruder = await createTenant(t.ctx);
    const before = await snapshot(t.ctx, s.tenantId);
    const headers = await t.ctx.headersFor(intruder.id);
    expectError(await remove(t.ctx, s.tenantId, s.eng.id, 'CASCADE', headers), 403, 'auth.wrong_tenant');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it("returns 403 'auth.insufficient_scope' for a token with only 'ous:read', and deletes nothing", async () => {
    const s = await sample(t.ctx);
    const headers = await t.ctx.headersFor(s.tenantId, ['ous:read']);
    expectError(await remove(t.ctx, s.tenantId, s.frontend.id, undefined, headers), 403, 'auth.insufficient_scope');
    await getOu(t.ctx, s.tenantId, s.frontend.id);
  });
});

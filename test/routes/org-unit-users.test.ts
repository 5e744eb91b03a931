import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { RFC3339_UTC, expectError, expectPage, expectValidation } from '../helpers/assertions.js';
import { createOu, createSampleTree, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

/*
 * GET /api/v1/tenants/{tenant_id}/ous/{ou_id}/users[?include_nested=true&page=&per_page=]
 *
 * Sample tree (factories.createSampleTree):
 *   /Eng (eng1, eng2) ├ /Eng/Backend (backend1) │ └ /Eng/Backend/Db (db1) └ /Eng/Frontend
 *   /Sales            and `nowhere`, a user in no OU.
 */

const usersOf = (tenantId: string, ouId: string) => `/api/v1/tenants/${tenantId}/ous/${ouId}/users`;

function listUsers(ctx: TestContext, tenantId: string, ouId: string, query: Record<string, string> = {}, headers = ctx.platformHeaders) {
  return ctx.app.inject({ method: 'GET', url: usersOf(tenantId, ouId), query, headers });
}

/** expectPage, and every item a user placed in an OU as the factories create them; returns the body. */
function expectUserPage(response: LightMyRequestResponse) {
  const body = expectPage(response);
  for (const user of body.data) {
    expect(user).toEqual({
      id: expect.stringMatching(/^usr_/),
      email: expect.any(String),
      display_name: null,
      ou_id: expect.any(String),
      status: 'active',
      custom_attributes: null,
      external_id: null,
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: expect.stringMatching(RFC3339_UTC),
    });
  }
  return body;
}

const ids = (body: { data: { id: string }[] }) => body.data.map((user) => user.id);
const sorted = (values: string[]) => [...values].sort();

async function sample(ctx: TestContext) {
  const tenant = await createTenant(ctx);
  return { tenantId: tenant.id, ...(await createSampleTree(ctx, tenant.id)) };
}

describe('GET /api/v1/tenants/{tenant_id}/ous/{ou_id}/users', () => {
  const t = useTestApp();

  it('lists the direct users of the OU only by default', async () => {
    const s = await sample(t.ctx);
    const body = expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id));
    expect(ids(body)).toEqual(sorted([s.users.eng1.id, s.users.eng2.id]));
    expect(body.data.every((user: { ou_id: string }) => user.ou_id === s.eng.id)).toBe(true);
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 2, total_pages: 1 });
  });

  it('lists direct users only with include_nested=false', async () => {
    const s = await sample(t.ctx);
    const body = expectUserPage(await listUsers(t.ctx, s.tenantId, s.backend.id, { include_nested: 'false' }));
    expect(ids(body)).toEqual([s.users.backend1.id]);
    expect(body.pagination.total_items).toBe(1);
  });

  it('lists the users of the whole subtree with include_nested=true', async () => {
    const s = await sample(t.ctx);
    const body = expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id, { include_nested: 'true' }));
    expect(ids(body)).toEqual(sorted([s.users.eng1.id, s.users.eng2.id, s.users.backend1.id, s.users.db1.id]));
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 4, total_pages: 1 });
    const backend = expectUserPage(await listUsers(t.ctx, s.tenantId, s.backend.id, { include_nested: 'true' }));
    expect(ids(backend)).toEqual(sorted([s.users.backend1.id, s.users.db1.id]));
    const byId = new Map(backend.data.map((user: { id: string; ou_id: string }) => [user.id, user.ou_id]));
    expect(byId.get(s.users.db1.id)).toBe(s.db.id);
  });

  it('returns no users for an OU without users, nested or not', async () => {
    const s = await sample(t.ctx);
    for (const query of [{}, { include_nested: 'true' }] as Record<string, string>[]) {
      const body = expectUserPage(await listUsers(t.ctx, s.tenantId, s.frontend.id, query));
      expect(body.data).toEqual([]);
      expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 0, total_pages: 0 });
    }
  });

  it('orders users by id, the same order on every request', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const child = await createOu(t.ctx, tenant.id, { name: 'Child', parent_id: ou.id });
    const created: string[] = [];
    for (let i = 0; i < 4; i++) created.push((await createUser(t.ctx, tenant.id, { ou_id: i % 2 ? child.id : ou.id })).id);
    const nested = expectUserPage(await listUsers(t.ctx, tenant.id, ou.id, { include_nested: 'true' }));
    expect(ids(nested)).toEqual(sorted(created));
    expect(ids(expectUserPage(await listUsers(t.ctx, tenant.id, ou.id, { include_nested: 'true' })))).toEqual(ids(nested));
    const direct = expectUserPage(await listUsers(t.ctx, tenant.id, ou.id));
    expect(ids(direct)).toEqual(sorted([created[0], created[2]]));
  });

  it('paginates direct users with total_pages = ceil(total_items / per_page)', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await createUser(t.ctx, tenant.id, { ou_id: ou.id })).id);
    await createUser(t.ctx, tenant.id); // in no OU: never listed
    const all = sorted(created);
    const pages = [];
    for (const page of ['1', '2', '3']) {
      const body = expectUserPage(await listUsers(t.ctx, tenant.id, ou.id, { per_page: '2', page }));
      expect(body.pagination).toEqual({ page: Number(page), per_page: 2, total_items: 5, total_pages: 3 });
      pages.push(ids(body));
    }
    expect(pages).toEqual([all.slice(0, 2), all.slice(2, 4), all.slice(4)]);
    const beyond = expectUserPage(await listUsers(t.ctx, tenant.id, ou.id, { per_page: '2', page: '4' }));
    expect(beyond.data).toEqual([]);
    expect(beyond.pagination.total_items).toBe(5);
  });

  it('paginates nested users with total_pages = ceil(total_items / per_page)', async () => {
    const s = await sample(t.ctx);
    const all = sorted([s.users.eng1.id, s.users.eng2.id, s.users.backend1.id, s.users.db1.id]);
    const first = expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id, { include_nested: 'true', per_page: '3' }));
    expect(first.pagination).toEqual({ page: 1, per_page: 3, total_items: 4, total_pages: 2 });
    expect(ids(first)).toEqual(all.slice(0, 3));
    const second = expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id, { include_nested: 'true', per_page: '3', page: '2' }));
    expect(second.pagination).toEqual({ page: 2, per_page: 3, total_items: 4, total_pages: 2 });
    expect(ids(second)).toEqual(all.slice(3));
  });

  it('rejects per_page 0 and 101, page 0 and a non-integer per_page with 422', async () => {
    const s = await sample(t.ctx);
    expectValidation(await listUsers(t.ctx, s.tenantId, s.eng.id, { per_page: '101' }), ['query', 'per_page']);
    expectValidation(await listUsers(t.ctx, s.tenantId, s.eng.id, { per_page: '0' }), ['query', 'per_page']);
    expectValidation(await listUsers(t.ctx, s.tenantId, s.eng.id, { page: '0' }), ['query', 'page']);
    expectValidation(await listUsers(t.ctx, s.tenantId, s.eng.id, { per_page: 'abc' }), ['query', 'per_page'], 'int_parsing');
    expect(expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id, { per_page: '100' })).pagination.per_page).toBe(100);
  });

  it("rejects include_nested=maybe with 422 at loc ['query','include_nested']", async () => {
    const s = await sample(t.ctx);
    expectValidation(await listUsers(t.ctx, s.tenantId, s.eng.id, { include_nested: 'maybe' }), ['query', 'include_nested']);
  });

  it("returns 404 'ou.not_found' for an unknown OU", async () => {
    const s = await sample(t.ctx);
    expectError(await listUsers(t.ctx, s.tenantId, 'ou_doesnotexist'), 404, 'ou.not_found');
    expectError(await listUsers(t.ctx, s.tenantId, 'ou_doesnotexist', { include_nested: 'true' }), 404, 'ou.not_found');
  });

  it('returns 404 for an OU of another tenant', async () => {
    const owner = await sample(t.ctx);
    const other = await createTenant(t.ctx);
    expectError(await listUsers(t.ctx, other.id, owner.eng.id), 404, 'ou.not_found');
    expectError(await listUsers(t.ctx, other.id, owner.eng.id, { include_nested: 'true' }), 404, 'ou.not_found');
  });

  it("returns 404 'tenant.not_found' for an unknown tenant", async () => {
    const s = await sample(t.ctx);
    expectError(await listUsers(t.ctx, 'tnt_doesnotexist', s.eng.id), 404, 'tenant.not_found');
  });

  it('reflects users moving between OUs', async () => {
    const s = await sample(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'PATCH',
      url: `/api/v1/tenants/${s.tenantId}/users/${s.users.eng1.id}`,
      headers: t.ctx.platformHeaders,
      payload: { ou_id: s.sales.id },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(ids(expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id)))).toEqual([s.users.eng2.id]);
    expect(ids(expectUserPage(await listUsers(t.ctx, s.tenantId, s.sales.id)))).toEqual([s.users.eng1.id]);
  });
});

describe('auth on GET .../ous/{ou_id}/users', () => {
  const t = useTestApp();

  it('returns 401 with a Bearer challenge without a token', async () => {
    const s = await sample(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: usersOf(s.tenantId, s.eng.id) });
    expectError(response, 401, 'auth.missing_token');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it("returns 403 'auth.wrong_tenant' for a token of another tenant", async () => {
    const s = await sample(t.ctx);
    const intruder = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(intruder.id);
    expectError(await listUsers(t.ctx, s.tenantId, s.eng.id, {}, headers), 403, 'auth.wrong_tenant');
  });

  it("returns 403 'auth.insufficient_scope' for a token with 'ous:read' but not 'users:read'", async () => {
    const s = await sample(t.ctx);
    const headers = await t.ctx.headersFor(s.tenantId, ['ous:read']);
    expectError(await listUsers(t.ctx, s.tenantId, s.eng.id, {}, headers), 403, 'auth.insufficient_scope');
    const allowed = await t.ctx.headersFor(s.tenantId, ['users:read']);
    expect(ids(expectUserPage(await listUsers(t.ctx, s.tenantId, s.eng.id, {}, allowed)))).toHaveLength(2);
  });
});

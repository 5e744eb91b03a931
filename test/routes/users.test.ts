import { describe, expect, it } from 'vitest';
import { RFC3339_UTC } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

const usersUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/users`;
const userUrl = (tenantId: string, userId: string) => `${usersUrl(tenantId)}/${userId}`;

function postUser(ctx: TestContext, tenantId: string, payload: object) {
  return ctx.app.inject({ method: 'POST', url: usersUrl(tenantId), headers: ctx.platformHeaders, payload });
}

function patchUser(ctx: TestContext, tenantId: string, userId: string, payload: object) {
  return ctx.app.inject({ method: 'PATCH', url: userUrl(tenantId, userId), headers: ctx.platformHeaders, payload });
}

async function listUsers(ctx: TestContext, tenantId: string, query = '') {
  const response = await ctx.app.inject({ method: 'GET', url: `${usersUrl(tenantId)}${query}`, headers: ctx.platformHeaders });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as { data: { id: string; email: string }[]; pagination: Record<string, number> };
}

async function userCountOf(ctx: TestContext, tenantId: string, ouId: string): Promise<number> {
  const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ouId}`, headers: ctx.platformHeaders });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data.user_count as number;
}

describe('POST /api/v1/tenants/{tenant_id}/users', () => {
  const t = useTestApp();

  it('creates a user: 201 with id usr_…, the given fields, status active by default and timestamps', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, {
      email: 'ada@example.com',
      display_name: 'Ada Lovelace',
      custom_attributes: { employee_no: 7, tags: ['a'] },
    });
    expect(response.statusCode).toBe(201);
    const data = response.json().data;
    expect(data).toEqual({
      id: expect.stringMatching(/^usr_[0-9a-z]+$/),
      email: 'ada@example.com',
      display_name: 'Ada Lovelace',
      ou_id: null,
      status: 'active',
      custom_attributes: { employee_no: 7, tags: ['a'] },
      external_id: null,
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: expect.stringMatching(RFC3339_UTC),
    });
    const fetched = await t.ctx.app.inject({ method: 'GET', url: userUrl(tenant.id, data.id), headers: t.ctx.platformHeaders });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.json().data).toEqual(data);
  });

  it('answers null display_name and custom_attributes when they are not given', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { email: 'min@example.com' });
    expect(response.statusCode).toBe(201);
    expect(response.json().data).toMatchObject({ display_name: null, custom_attributes: null, ou_id: null, status: 'active' });
  });

  it('creates a disabled user when status disabled is given', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { email: 'off@example.com', status: 'disabled' });
    expect(response.statusCode).toBe(201);
    expect(response.json().data.status).toBe('disabled');
  });

  it.each(['not-an-email', 'a@', '@example.com', ''])('refuses the invalid email %j with 422 at loc body.email', async (email) => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { email });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail.map((issue: { loc: unknown[] }) => issue.loc)).toContainEqual(['body', 'email']);
    expect((await listUsers(t.ctx, tenant.id)).pagination.total_items).toBe(0);
  });

  it('refuses a missing email with 422 missing at body.email', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { display_name: 'No Mail' });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail).toContainEqual({ loc: ['body', 'email'], msg: expect.any(String), type: 'missing' });
  });

  it('keeps emails unique per tenant, case-insensitively (409 user.email_conflict)', async () => {
    const tenant = await createTenant(t.ctx);
    await createUser(t.ctx, tenant.id, { email: 'Same@Example.com' });
    for (const email of ['Same@Example.com', 'same@example.com', 'SAME@EXAMPLE.COM']) {
      const response = await postUser(t.ctx, tenant.id, { email });
      expect(response.statusCode, email).toBe(409);
      expect(response.json()).toEqual({ detail: expect.any(String), code: 'user.email_conflict' });
    }
    expect((await listUsers(t.ctx, tenant.id)).pagination.total_items).toBe(1);
  });

  it('allows the same email in two different tenants', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const first = await postUser(t.ctx, a.id, { email: 'shared@example.com' });
    const second = await postUser(t.ctx, b.id, { email: 'shared@example.com' });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(first.json().data.id).not.toBe(second.json().data.id);
  });

  it('refuses an unknown ou_id with 404 and creates no user', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { email: 'lost@example.com', ou_id: 'ou_doesnotexist' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'ou.not_found' });
    expect((await listUsers(t.ctx, tenant.id)).pagination.total_items).toBe(0);
  });

  it("refuses an ou_id of another tenant's OU with 404, creates no user and leaves that OU's count alone", async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const foreignOu = await createOu(t.ctx, other.id);
    const response = await postUser(t.ctx, tenant.id, { email: 'cross@example.com', ou_id: foreignOu.id });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('ou.not_found');
    expect((await listUsers(t.ctx, tenant.id)).pagination.total_items).toBe(0);
    expect(await userCountOf(t.ctx, other.id, foreignOu.id)).toBe(0);
  });

  it("increments the OU's user_count when a user is created in it", async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(0);
    const response = await postUser(t.ctx, tenant.id, { email: 'in@example.com', ou_id: ou.id });
    expect(response.statusCode).toBe(201);
    expect(response.json().data.ou_id).toBe(ou.id);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(1);
    await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(2);
  });

  it('refuses an unknown body field with 422 extra_forbidden', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { email: 'x@example.com', role: 'admin' });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail).toContainEqual({ loc: ['body', 'role'], msg: expect.any(String), type: 'extra_forbidden' });
  });

  it('refuses an unknown status with 422 at body.status', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await postUser(t.ctx, tenant.id, { email: 'x@example.com', status: 'weird' });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail.map((issue: { loc: unknown[] }) => issue.loc)).toContainEqual(['body', 'status']);
  });

  it('answers 404 tenant.not_found for an unknown tenant', async () => {
    const response = await postUser(t.ctx, 'tnt_unknown', { email: 'x@example.com' });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('tenant.not_found');
  });
});

describe('PATCH /api/v1/tenants/{tenant_id}/users/{user_id}', () => {
  const t = useTestApp();

  it('moves a user between OUs: old OU user_count -1, new +1', async () => {
    const tenant = await createTenant(t.ctx);
    const from = await createOu(t.ctx, tenant.id);
    const to = await createOu(t.ctx, tenant.id);
    const user = await createUser(t.ctx, tenant.id, { ou_id: from.id });
    await createUser(t.ctx, tenant.id, { ou_id: from.id });
    expect([await userCountOf(t.ctx, tenant.id, from.id), await userCountOf(t.ctx, tenant.id, to.id)]).toEqual([2, 0]);

    const response = await patchUser(t.ctx, tenant.id, user.id, { ou_id: to.id });
    expect(response.statusCode).toBe(200);
    expect(response.json().data.ou_id).toBe(to.id);
    expect([await userCountOf(t.ctx, tenant.id, from.id), await userCountOf(t.ctx, tenant.id, to.id)]).toEqual([1, 1]);
  });

  it('places a user without OU into one (count +1)', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const user = await createUser(t.ctx, tenant.id);
    const response = await patchUser(t.ctx, tenant.id, user.id, { ou_id: ou.id });
    expect(response.statusCode).toBe(200);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(1);
  });

  it('keeps the count when ou_id is patched to the OU the user is already in', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const user = await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    const response = await patchUser(t.ctx, tenant.id, user.id, { ou_id: ou.id });
    expect(response.statusCode).toBe(200);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(1);
  });

  it('removes a user from its OU with ou_id null (count -1)', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const user = await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    const response = await patchUser(t.ctx, tenant.id, user.id, { ou_id: null });
    expect(response.statusCode).toBe(200);
    expect(response.json().data.ou_id).toBeNull();
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(0);
  });

  it('refuses a move to an unknown OU or an OU of another tenant with 404 and leaves the user where it was', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const foreignOu = await createOu(t.ctx, other.id);
    const user = await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    for (const target of ['ou_doesnotexist', foreignOu.id]) {
      const response = await patchUser(t.ctx, tenant.id, user.id, { ou_id: target });
      expect(response.statusCode, target).toBe(404);
      expect(response.json().code).toBe('ou.not_found');
    }
    const fetched = await t.ctx.app.inject({ method: 'GET', url: userUrl(tenant.id, user.id), headers: t.ctx.platformHeaders });
    expect(fetched.json().data.ou_id).toBe(ou.id);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(1);
    expect(await userCountOf(t.ctx, other.id, foreignOu.id)).toBe(0);
  });

  it('disables a user with status disabled, leaving other fields unchanged', async () => {
    const tenant = await createTenant(t.ctx);
    const created = (await postUser(t.ctx, tenant.id, { email: 'd@example.com', display_name: 'Dee' })).json().data;
    const response = await patchUser(t.ctx, tenant.id, created.id, { status: 'disabled' });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toMatchObject({ status: 'disabled', email: 'd@example.com', display_name: 'Dee', created_at: created.created_at });
    const fetched = await t.ctx.app.inject({ method: 'GET', url: userUrl(tenant.id, created.id), headers: t.ctx.platformHeaders });
    expect(fetched.json().data.status).toBe('disabled');
  });

  it("refuses status 'weird' with 422 and keeps the status", async () => {
    const tenant = await createTenant(t.ctx);
    const user = await createUser(t.ctx, tenant.id);
    const response = await patchUser(t.ctx, tenant.id, user.id, { status: 'weird' });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail).toContainEqual({ loc: ['body', 'status'], msg: expect.any(String), type: 'enum' });
    const fetched = await t.ctx.app.inject({ method: 'GET', url: userUrl(tenant.id, user.id), headers: t.ctx.platformHeaders });
    expect(fetched.json().data.status).toBe('active');
  });

  it('refuses an unknown field with 422 extra_forbidden', async () => {
    const tenant = await createTenant(t.ctx);
    const user = await createUser(t.ctx, tenant.id);
    const response = await patchUser(t.ctx, tenant.id, user.id, { nickname: 'x' });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail).toContainEqual({ loc: ['body', 'nickname'], msg: expect.any(String), type: 'extra_forbidden' });
  });

  it("refuses changing the email to another user's email in any case (409 user.email_conflict)", async () => {
    const tenant = await createTenant(t.ctx);
    await createUser(t.ctx, tenant.id, { email: 'taken@example.com' });
    const user = await createUser(t.ctx, tenant.id, { email: 'mine@example.com' });
    const response = await patchUser(t.ctx, tenant.id, user.id, { email: 'TAKEN@example.com' });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('user.email_conflict');
    const fetched = await t.ctx.app.inject({ method: 'GET', url: userUrl(tenant.id, user.id), headers: t.ctx.platformHeaders });
    expect(fetched.json().data.email).toBe('mine@example.com');
  });

  it('lets a user change the case of its own email', async () => {
    const tenant = await createTenant(t.ctx);
    const user = await createUser(t.ctx, tenant.id, { email: 'case@example.com' });
    const response = await patchUser(t.ctx, tenant.id, user.id, { email: 'Case@Example.com' });
    expect(response.statusCode).toBe(200);
    expect(response.json().data.email).toBe('Case@Example.com');
  });
});

describe('DELETE /api/v1/tenants/{tenant_id}/users/{user_id}', () => {
  const t = useTestApp();

  it("deletes the user with 204 and an empty body, and decrements its OU's user_count", async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const user = await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(2);

    const response = await t.ctx.app.inject({ method: 'DELETE', url: userUrl(tenant.id, user.id), headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(1);

    const gone = await t.ctx.app.inject({ method: 'GET', url: userUrl(tenant.id, user.id), headers: t.ctx.platformHeaders });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe('user.not_found');
  });

  it('answers 404 user.not_found for an unknown user', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'DELETE', url: userUrl(tenant.id, 'usr_unknown'), headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('user.not_found');
  });
});

describe('GET /api/v1/tenants/{tenant_id}/users', () => {
  const t = useTestApp();

  it('paginates with page and per_page, covering every user exactly once', async () => {
    const tenant = await createTenant(t.ctx);
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await createUser(t.ctx, tenant.id)).id);
    const pages = [await listUsers(t.ctx, tenant.id, '?page=1&per_page=2'), await listUsers(t.ctx, tenant.id, '?page=2&per_page=2'), await listUsers(t.ctx, tenant.id, '?page=3&per_page=2')];
    expect(pages.map((p) => p.data.length)).toEqual([2, 2, 1]);
    expect(pages[0].pagination).toEqual({ page: 1, per_page: 2, total_items: 5, total_pages: 3 });
    expect(pages[2].pagination).toEqual({ page: 3, per_page: 2, total_items: 5, total_pages: 3 });
    const seen = pages.flatMap((p) => p.data.map((u) => u.id));
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort()).toEqual([...created].sort());
    expect((await listUsers(t.ctx, tenant.id, '?page=4&per_page=2')).data).toEqual([]);
  });

  it('defaults to page 1 with 20 per page', async () => {
    const tenant = await createTenant(t.ctx);
    await createUser(t.ctx, tenant.id);
    expect((await listUsers(t.ctx, tenant.id)).pagination).toEqual({ page: 1, per_page: 20, total_items: 1, total_pages: 1 });
  });

  it.each(['per_page=101', 'per_page=0', 'page=0', 'page=abc'])('refuses %s with 422 on the query', async (query) => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${usersUrl(tenant.id)}?${query}`, headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail[0].loc).toEqual(['query', query.split('=')[0]]);
  });

  it('accepts per_page=100', async () => {
    const tenant = await createTenant(t.ctx);
    expect((await listUsers(t.ctx, tenant.id, '?per_page=100')).pagination.per_page).toBe(100);
  });

  it('searches the email or the display name, case-insensitively', async () => {
    const tenant = await createTenant(t.ctx);
    const byEmail = await createUser(t.ctx, tenant.id, { email: 'GRACE.hopper@navy.example', display_name: 'Admiral' });
    const byName = await createUser(t.ctx, tenant.id, { email: 'ada@example.com', display_name: 'Countess Grace' });
    await createUser(t.ctx, tenant.id, { email: 'linus@example.com', display_name: 'Linus' });
    await createUser(t.ctx, tenant.id, { email: 'noname@example.com' });

    const found = await listUsers(t.ctx, tenant.id, '?search=gRaCe');
    expect(found.data.map((u) => u.id).sort()).toEqual([byEmail.id, byName.id].sort());
    expect(found.pagination.total_items).toBe(2);

    expect((await listUsers(t.ctx, tenant.id, '?search=NAVY.EXAMPLE')).data.map((u) => u.id)).toEqual([byEmail.id]);
    expect((await listUsers(t.ctx, tenant.id, '?search=countess')).data.map((u) => u.id)).toEqual([byName.id]);
    expect((await listUsers(t.ctx, tenant.id, '?search=nobody-matches')).data).toEqual([]);
  });

  it('finds a display name with non-ASCII capitals, searched in its own case or lower case', async () => {
    const tenant = await createTenant(t.ctx);
    const emile = await createUser(t.ctx, tenant.id, { email: 'ez@example.com', display_name: 'Émile Zola' });
    await createUser(t.ctx, tenant.id, { email: 'other@example.com', display_name: 'Someone Else' });
    // ASCII part: found in any case.
    expect((await listUsers(t.ctx, tenant.id, '?search=ZOLA')).data.map((u) => u.id)).toEqual([emile.id]);
    // Non-ASCII part: the exact text of the name, and its lower-case form.
    for (const search of ['Émile', 'émile', 'ÉMILE']) {
      const found = await listUsers(t.ctx, tenant.id, `?search=${encodeURIComponent(search)}`);
      expect(found.data.map((u) => u.id), `search=${search}`).toEqual([emile.id]);
    }
  });

  it('treats % and _ in search literally', async () => {
    const tenant = await createTenant(t.ctx);
    const literal = await createUser(t.ctx, tenant.id, { email: 'a_b@example.com' });
    await createUser(t.ctx, tenant.id, { email: 'axb@example.com' });
    expect((await listUsers(t.ctx, tenant.id, '?search=a_b')).data.map((u) => u.id)).toEqual([literal.id]);
    expect((await listUsers(t.ctx, tenant.id, `?search=${encodeURIComponent('%')}`)).data).toEqual([]);
  });

  it('filters by ou_id (direct users only) and by status, and combines the two', async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id);
    const child = await createOu(t.ctx, tenant.id, { parent_id: parent.id });
    const activeInParent = await createUser(t.ctx, tenant.id, { ou_id: parent.id });
    const disabledInParent = await createUser(t.ctx, tenant.id, { ou_id: parent.id, status: 'disabled' });
    const inChild = await createUser(t.ctx, tenant.id, { ou_id: child.id });
    const disabledNowhere = await createUser(t.ctx, tenant.id, { status: 'disabled' });

    const ids = async (query: string) => (await listUsers(t.ctx, tenant.id, query)).data.map((u) => u.id).sort();
    expect(await ids(`?ou_id=${parent.id}`)).toEqual([activeInParent.id, disabledInParent.id].sort());
    expect(await ids(`?ou_id=${child.id}`)).toEqual([inChild.id]);
    expect(await ids('?status=disabled')).toEqual([disabledInParent.id, disabledNowhere.id].sort());
    expect(await ids('?status=active')).toEqual([activeInParent.id, inChild.id].sort());
    expect(await ids(`?ou_id=${parent.id}&status=disabled`)).toEqual([disabledInParent.id]);
    expect((await listUsers(t.ctx, tenant.id, '?status=disabled')).pagination.total_items).toBe(2);
  });

  it('refuses an unknown status filter with 422', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${usersUrl(tenant.id)}?status=weird`, headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail[0].loc).toEqual(['query', 'status']);
  });

  it("lists only the tenant's own users", async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const mine = await createUser(t.ctx, a.id);
    await createUser(t.ctx, b.id);
    await createUser(t.ctx, b.id);
    const page = await listUsers(t.ctx, a.id);
    expect(page.data.map((u) => u.id)).toEqual([mine.id]);
    expect(page.pagination.total_items).toBe(1);
  });

  it('answers 404 tenant.not_found for an unknown tenant', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: usersUrl('tnt_unknown'), headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('tenant.not_found');
  });
});

describe('users across tenants', () => {
  const t = useTestApp();

  it("answers 404 user.not_found to GET, PATCH and DELETE of another tenant's user, and changes nothing", async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, a.id);
    const user = await createUser(t.ctx, a.id, { ou_id: ou.id, email: 'owned@example.com' });
    const url = userUrl(b.id, user.id);
    const responses = [
      await t.ctx.app.inject({ method: 'GET', url, headers: t.ctx.platformHeaders }),
      await t.ctx.app.inject({ method: 'PATCH', url, headers: t.ctx.platformHeaders, payload: { email: 'stolen@example.com' } }),
      await t.ctx.app.inject({ method: 'DELETE', url, headers: t.ctx.platformHeaders }),
    ];
    for (const response of responses) {
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ detail: expect.any(String), code: 'user.not_found' });
    }
    const fetched = await t.ctx.app.inject({ method: 'GET', url: userUrl(a.id, user.id), headers: t.ctx.platformHeaders });
    expect(fetched.json().data).toMatchObject({ email: 'owned@example.com', ou_id: ou.id });
    expect(await userCountOf(t.ctx, a.id, ou.id)).toBe(1);
  });

  it("refuses a tenant token on another tenant's users with 403 auth.wrong_tenant", async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const user = await createUser(t.ctx, b.id);
    const headers = await t.ctx.headersFor(a.id, ['users:read', 'users:write']);
    const response = await t.ctx.app.inject({ method: 'GET', url: userUrl(b.id, user.id), headers });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('auth.wrong_tenant');
  });

  it('lets a tenant token with users:write manage users of its own tenant', async () => {
    const a = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(a.id, ['users:read', 'users:write']);
    const created = await t.ctx.app.inject({ method: 'POST', url: usersUrl(a.id), headers, payload: { email: 'self@example.com' } });
    expect(created.statusCode).toBe(201);
    const listed = await t.ctx.app.inject({ method: 'GET', url: usersUrl(a.id), headers });
    expect(listed.json().data.map((u: { id: string }) => u.id)).toEqual([created.json().data.id]);
  });
});

describe('external_id on users', () => {
  const t = useTestApp();

  async function getUser(ctx: TestContext, tenantId: string, userId: string) {
    const response = await ctx.app.inject({ method: 'GET', url: userUrl(tenantId, userId), headers: ctx.platformHeaders });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().data;
  }

  /** Every event of the tenant, oldest first (GET .../events, as in change-feed.test.ts). */
  async function events(ctx: TestContext, tenantId: string) {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events`, query: { limit: '1000' }, headers: ctx.platformHeaders });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().data as { type: string; resource: { type: string; id: string }; data: { before: unknown; after: unknown } }[];
  }

  it('stores an external_id given at create and shows it in GET', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const response = await postUser(t.ctx, tenant.id, { email: 'ada@example.com', ou_id: ou.id, external_id: 'objectguid-1' });
    expect(response.statusCode, response.body).toBe(201);
    const data = response.json().data;
    expect(data).toEqual({
      id: expect.stringMatching(/^usr_[0-9a-z]+$/),
      email: 'ada@example.com',
      display_name: null,
      ou_id: ou.id,
      status: 'active',
      custom_attributes: null,
      external_id: 'objectguid-1',
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: expect.stringMatching(RFC3339_UTC),
    });
    expect(await getUser(t.ctx, tenant.id, data.id)).toEqual(data);
    // Lists carry it too.
    const listed = (await listUsers(t.ctx, tenant.id)).data as unknown as Record<string, unknown>[];
    expect(listed).toEqual([data]);
  });

  it('accepts an external_id of exactly 255 characters', async () => {
    const tenant = await createTenant(t.ctx);
    const externalId = 'g'.repeat(255);
    const response = await postUser(t.ctx, tenant.id, { email: 'long@example.com', external_id: externalId });
    expect(response.statusCode, response.body).toBe(201);
    expect((await getUser(t.ctx, tenant.id, response.json().data.id)).external_id).toBe(externalId);
  });

  it('answers 409 user.external_id_conflict for an external_id another user of the tenant has, and changes nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const holder = (await postUser(t.ctx, tenant.id, { email: 'holder@example.com', external_id: 'guid-1' })).json().data;
    const eventsBefore = await events(t.ctx, tenant.id);
    const response = await postUser(t.ctx, tenant.id, { email: 'other@example.com', ou_id: ou.id, external_id: 'guid-1' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'user.external_id_conflict' });
    expect((await listUsers(t.ctx, tenant.id)).pagination.total_items).toBe(1);
    expect(await getUser(t.ctx, tenant.id, holder.id)).toEqual(holder);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(0);
    expect(await events(t.ctx, tenant.id)).toEqual(eventsBefore);
  });

  it('answers 409 user.external_id_conflict for a PATCH to an external_id another user has, and changes nothing', async () => {
    const tenant = await createTenant(t.ctx);
    await postUser(t.ctx, tenant.id, { email: 'holder@example.com', external_id: 'guid-1' });
    const ou = await createOu(t.ctx, tenant.id);
    const user = (await postUser(t.ctx, tenant.id, { email: 'mine@example.com', external_id: 'guid-2' })).json().data;
    const eventsBefore = await events(t.ctx, tenant.id);
    const response = await patchUser(t.ctx, tenant.id, user.id, { external_id: 'guid-1', display_name: 'X', ou_id: ou.id });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'user.external_id_conflict' });
    expect(await getUser(t.ctx, tenant.id, user.id)).toEqual(user);
    expect(await userCountOf(t.ctx, tenant.id, ou.id)).toBe(0);
    expect(await events(t.ctx, tenant.id)).toEqual(eventsBefore);
  });

  it('lets two tenants use the same external_id', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const inA = await postUser(t.ctx, a.id, { email: 'a@example.com', external_id: 'shared-guid' });
    const inB = await postUser(t.ctx, b.id, { email: 'b@example.com', external_id: 'shared-guid' });
    expect(inA.statusCode, inA.body).toBe(201);
    expect(inB.statusCode, inB.body).toBe(201);
    expect((await getUser(t.ctx, a.id, inA.json().data.id)).external_id).toBe('shared-guid');
    expect((await getUser(t.ctx, b.id, inB.json().data.id)).external_id).toBe('shared-guid');
    // Also by PATCH: a user of B takes an external_id A already uses.
    await postUser(t.ctx, a.id, { email: 'a2@example.com', external_id: 'a-only' });
    const later = await createUser(t.ctx, b.id);
    const patched = await patchUser(t.ctx, b.id, later.id, { external_id: 'a-only' });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().data.external_id).toBe('a-only');
  });

  it('lets many users of a tenant have no external_id', async () => {
    const tenant = await createTenant(t.ctx);
    for (const email of ['n1@example.com', 'n2@example.com', 'n3@example.com']) {
      const response = await postUser(t.ctx, tenant.id, { email, external_id: null });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json().data.external_id).toBeNull();
    }
  });

  it('clears external_id with null in PATCH and leaves it with the field absent', async () => {
    const tenant = await createTenant(t.ctx);
    const user = (await postUser(t.ctx, tenant.id, { email: 'keep@example.com', external_id: 'guid-1' })).json().data;
    const kept = await patchUser(t.ctx, tenant.id, user.id, { display_name: 'Kept' });
    expect(kept.statusCode, kept.body).toBe(200);
    expect(kept.json().data.external_id).toBe('guid-1');
    expect((await getUser(t.ctx, tenant.id, user.id)).external_id).toBe('guid-1');
    const cleared = await patchUser(t.ctx, tenant.id, user.id, { external_id: null });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json().data).toMatchObject({ external_id: null, display_name: 'Kept' });
    expect((await getUser(t.ctx, tenant.id, user.id)).external_id).toBeNull();
  });

  it('replaces external_id with a new value in PATCH, freeing the old one for another user', async () => {
    const tenant = await createTenant(t.ctx);
    const user = (await postUser(t.ctx, tenant.id, { email: 'first@example.com', external_id: 'old-guid' })).json().data;
    expect((await patchUser(t.ctx, tenant.id, user.id, { external_id: 'new-guid' })).json().data.external_id).toBe('new-guid');
    const other = await postUser(t.ctx, tenant.id, { email: 'second@example.com', external_id: 'old-guid' });
    expect(other.statusCode, other.body).toBe(201);
    expect((await getUser(t.ctx, tenant.id, other.json().data.id)).external_id).toBe('old-guid');
    expect((await getUser(t.ctx, tenant.id, user.id)).external_id).toBe('new-guid');
  });

  it('answers 200 and changes nothing, not even updated_at, for a PATCH giving the user its own external_id', async () => {
    const tenant = await createTenant(t.ctx);
    const user = (await postUser(t.ctx, tenant.id, { email: 'same@example.com', external_id: 'guid-1' })).json().data;
    const eventsBefore = await events(t.ctx, tenant.id);
    await new Promise((resolve) => setTimeout(resolve, 15));
    const response = await patchUser(t.ctx, tenant.id, user.id, { external_id: 'guid-1' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().data).toEqual(user);
    expect(await events(t.ctx, tenant.id)).toEqual(eventsBefore);
  });

  it('rejects an empty or 256-character external_id with 422', async () => {
    const tenant = await createTenant(t.ctx);
    const user = (await postUser(t.ctx, tenant.id, { email: 'valid@example.com', external_id: 'guid-1' })).json().data;
    for (const externalId of ['', 'g'.repeat(256), 7]) {
      const created = await postUser(t.ctx, tenant.id, { email: 'new@example.com', external_id: externalId });
      expect(created.statusCode, created.body).toBe(422);
      expect(created.json().detail).toContainEqual(expect.objectContaining({ loc: ['body', 'external_id'] }));
      const patched = await patchUser(t.ctx, tenant.id, user.id, { external_id: externalId });
      expect(patched.statusCode, patched.body).toBe(422);
      expect(patched.json().detail).toContainEqual(expect.objectContaining({ loc: ['body', 'external_id'] }));
    }
    expect((await listUsers(t.ctx, tenant.id)).pagination.total_items).toBe(1);
    expect(await getUser(t.ctx, tenant.id, user.id)).toEqual(user);
  });

  it("carries external_id in a user.created event's after", async () => {
    const tenant = await createTenant(t.ctx);
    const plain = await createUser(t.ctx, tenant.id, { email: 'plain@example.com' });
    const sourced = (await postUser(t.ctx, tenant.id, { email: 'sourced@example.com', external_id: 'guid-1' })).json().data;
    const created = (await events(t.ctx, tenant.id)).filter((e) => e.type === 'user.created');
    const after = { display_name: null, ou_id: null, status: 'active', custom_attributes: null };
    expect(created.map((e) => [e.resource.id, e.data])).toEqual([
      [plain.id, { before: null, after: { ...after, email: 'plain@example.com', external_id: null } }],
      [sourced.id, { before: null, after: { ...after, email: 'sourced@example.com', external_id: 'guid-1' } }],
    ]);
  });

  it("records external_id in the event's before and after when a PATCH changes it", async () => {
    const tenant = await createTenant(t.ctx);
    const user = await createUser(t.ctx, tenant.id);
    await patchUser(t.ctx, tenant.id, user.id, { external_id: 'guid-1' });
    await patchUser(t.ctx, tenant.id, user.id, { external_id: 'guid-2', display_name: 'Ada' });
    await patchUser(t.ctx, tenant.id, user.id, { external_id: null });
    const updated = (await events(t.ctx, tenant.id)).filter((e) => e.type === 'user.updated');
    expect(updated.map((e) => [e.resource.id, e.data])).toEqual([
      [user.id, { before: { external_id: null }, after: { external_id: 'guid-1' } }],
      [user.id, { before: { display_name: null, external_id: 'guid-1' }, after: { display_name: 'Ada', external_id: 'guid-2' } }],
      [user.id, { before: { external_id: 'guid-2' }, after: { external_id: null } }],
    ]);
  });
});

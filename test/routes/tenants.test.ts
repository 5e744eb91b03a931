import { describe, expect, it } from 'vitest';
import { RFC3339_UTC } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

const TENANTS = '/api/v1/tenants';

function postTenant(ctx: TestContext, payload: object, headers: Record<string, string> = ctx.platformHeaders) {
  return ctx.app.inject({ method: 'POST', url: TENANTS, headers, payload });
}

async function allTenantIds(ctx: TestContext): Promise<string[]> {
  const response = await ctx.app.inject({ method: 'GET', url: `${TENANTS}?per_page=100`, headers: ctx.platformHeaders });
  expect(response.statusCode).toBe(200);
  return (response.json().data as { id: string }[]).map((tenant) => tenant.id);
}

describe('POST /api/v1/tenants', () => {
  const t = useTestApp();

  it('creates a tenant and answers 201 with id tnt_…, name, slug and timestamps', async () => {
    const response = await postTenant(t.ctx, { name: 'Acme Corp', slug: 'acme' });
    expect(response.statusCode).toBe(201);
    const { data, meta } = response.json();
    expect(data.id).toMatch(/^tnt_[0-9a-z]+$/);
    expect(data.name).toBe('Acme Corp');
    expect(data.slug).toBe('acme');
    expect(data.created_at).toMatch(RFC3339_UTC);
    expect(data.updated_at).toMatch(RFC3339_UTC);
    expect(Object.keys(data).sort()).toEqual(['created_at', 'external_default', 'id', 'name', 'slug', 'updated_at']);
    expect(meta.request_id).toEqual(expect.any(String));

    const fetched = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${data.id}`, headers: t.ctx.platformHeaders });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.json().data).toEqual(data);
  });

  it('derives the slug from the name when no slug is given', async () => {
    const response = await postTenant(t.ctx, { name: 'Acme Corp' });
    expect(response.statusCode).toBe(201);
    expect(response.json().data.slug).toBe('acme-corp');
  });

  it('stores a given slug lower-cased', async () => {
    const response = await postTenant(t.ctx, { name: 'Shouting', slug: 'ACME' });
    expect(response.statusCode).toBe(201);
    expect(response.json().data.slug).toBe('acme');
  });

  it('trims the name and folds accents when deriving the slug', async () => {
    const response = await postTenant(t.ctx, { name: '  Café Ünïcode  ' });
    expect(response.statusCode).toBe(201);
    expect(response.json().data).toMatchObject({ name: 'Café Ünïcode', slug: 'cafe-unicode' });
  });

  it('refuses a name with no letters or digits to derive a slug from (422 on body.name) unless a slug is given', async () => {
    const refused = await postTenant(t.ctx, { name: '日本' });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().detail[0].loc).toEqual(['body', 'name']);
    const accepted = await postTenant(t.ctx, { name: '日本', slug: 'nihon' });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json().data).toMatchObject({ name: '日本', slug: 'nihon' });
  });

  it.each([{}, { name: '   ' }, { slug: 'x' }])('refuses the body %j without a usable name with 422 on body.name', async (payload) => {
    const response = await postTenant(t.ctx, payload);
    expect(response.statusCode).toBe(422);
    expect(response.json().detail.map((issue: { loc: unknown[] }) => issue.loc)).toContainEqual(['body', 'name']);
  });

  it.each(['-x', 'a b', 'x-', 'a_b'])('refuses the invalid slug %j with 422 on body.slug and creates nothing', async (slug) => {
    const response = await postTenant(t.ctx, { name: 'Bad Slug', slug });
    expect(response.statusCode).toBe(422);
    const detail = response.json().detail as { loc: unknown[]; type: string }[];
    expect(detail.map((issue) => issue.loc)).toContainEqual(['body', 'slug']);
    expect(await allTenantIds(t.ctx)).toEqual([]);
  });

  it('refuses a duplicate slug with 409 tenant.slug_conflict', async () => {
    await createTenant(t.ctx, { name: 'First', slug: 'acme' });
    const response = await postTenant(t.ctx, { name: 'Second', slug: 'acme' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'tenant.slug_conflict' });
    expect(await allTenantIds(t.ctx)).toHaveLength(1);
  });

  it('treats slugs differing only in case as duplicates (409)', async () => {
    await createTenant(t.ctx, { name: 'First', slug: 'acme' });
    const response = await postTenant(t.ctx, { name: 'Second', slug: 'AcMe' });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('tenant.slug_conflict');
  });

  it('refuses a derived slug that collides with an existing one (409)', async () => {
    await createTenant(t.ctx, { name: 'Acme Corp' });
    const response = await postTenant(t.ctx, { name: 'ACME corp' });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('tenant.slug_conflict');
  });

  it('lets only a platform token create: a tenant token with tenants:write gets 403 auth.insufficient_scope', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['tenants:read', 'tenants:write']);
    const response = await postTenant(t.ctx, { name: 'Sneaky' }, headers);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'auth.insufficient_scope' });
    expect(await allTenantIds(t.ctx)).toEqual([tenant.id]);
  });
});

describe('GET /api/v1/tenants', () => {
  const t = useTestApp();

  it('shows a platform token every tenant, page by page', async () => {
    const created = [await createTenant(t.ctx), await createTenant(t.ctx), await createTenant(t.ctx)];
    const page1 = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}?page=1&per_page=2`, headers: t.ctx.platformHeaders });
    const page2 = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}?page=2&per_page=2`, headers: t.ctx.platformHeaders });
    const page3 = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}?page=3&per_page=2`, headers: t.ctx.platformHeaders });
    expect([page1.statusCode, page2.statusCode, page3.statusCode]).toEqual([200, 200, 200]);
    expect(page1.json().pagination).toEqual({ page: 1, per_page: 2, total_items: 3, total_pages: 2 });
    expect(page2.json().pagination).toEqual({ page: 2, per_page: 2, total_items: 3, total_pages: 2 });
    expect(page1.json().data).toHaveLength(2);
    expect(page2.json().data).toHaveLength(1);
    expect(page3.json().data).toEqual([]);
    const seen = [...page1.json().data, ...page2.json().data].map((tenant: { id: string }) => tenant.id);
    expect(seen.sort()).toEqual(created.map((tenant) => tenant.id).sort());
  });

  it('defaults to page 1 with 20 per page', async () => {
    await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: TENANTS, headers: t.ctx.platformHeaders });
    expect(response.json().pagination).toEqual({ page: 1, per_page: 20, total_items: 1, total_pages: 1 });
  });

  it('shows a tenant token only its own tenant', async () => {
    const mine = await createTenant(t.ctx);
    await createTenant(t.ctx);
    await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: TENANTS, headers: await t.ctx.headersFor(mine.id, ['tenants:read']) });
    expect(response.statusCode).toBe(200);
    expect(response.json().data.map((tenant: { id: string }) => tenant.id)).toEqual([mine.id]);
    expect(response.json().pagination.total_items).toBe(1);
  });

  it('finds tenants by a case-insensitive substring of the name (Unicode folded) or the slug, with the count of matches', async () => {
    const aerzte = await createTenant(t.ctx, { name: 'Ärzte Nord', slug: 'aerzte-nord' });
    const acme = await createTenant(t.ctx, { name: 'ACME Corp', slug: 'acme' });
    const percent = await createTenant(t.ctx, { name: '100% Remote', slug: 'remote' });
    await createTenant(t.ctx, { name: 'Globex', slug: 'globex' });
    const search = async (text: string) => {
      const response = await t.ctx.app.inject({ method: 'GET', url: TENANTS, query: { search: text }, headers: t.ctx.platformHeaders });
      expect(response.statusCode, response.body).toBe(200);
      return { ids: (response.json().data as { id: string }[]).map((tenant) => tenant.id).sort(), total: response.json().pagination.total_items };
    };
    expect(await search('ärz')).toEqual({ ids: [aerzte.id], total: 1 });
    expect(await search('ÄRZTE')).toEqual({ ids: [aerzte.id], total: 1 });
    expect(await search('aerzte')).toEqual({ ids: [aerzte.id], total: 1 });
    expect(await search('acme c')).toEqual({ ids: [acme.id], total: 1 });
    // % and _ match themselves, not any text.
    expect(await search('%')).toEqual({ ids: [percent.id], total: 1 });
    expect(await search('_')).toEqual({ ids: [], total: 0 });
    expect((await search('')).total).toBe(4);
  });

  it('pages a search with next_cursor, and refuses that cursor for another search (422)', async () => {
    for (const name of ['Team A', 'Team B', 'Team C', 'Other']) await createTenant(t.ctx, { name });
    const first = await t.ctx.app.inject({ method: 'GET', url: TENANTS, query: { search: 'team', per_page: '2' }, headers: t.ctx.platformHeaders });
    const second = await t.ctx.app.inject({ method: 'GET', url: TENANTS, query: { search: 'team', per_page: '2', cursor: first.json().next_cursor }, headers: t.ctx.platformHeaders });
    expect([...first.json().data, ...second.json().data].map((tenant: { name: string }) => tenant.name).sort()).toEqual(['Team A', 'Team B', 'Team C']);
    const other = await t.ctx.app.inject({ method: 'GET', url: TENANTS, query: { search: 'other', cursor: first.json().next_cursor }, headers: t.ctx.platformHeaders });
    expect(other.statusCode).toBe(422);
    expect(other.json().detail[0].loc).toEqual(['query', 'cursor']);
  });

  it('searches a tenant token\'s own tenant only, and finds a renamed tenant by its new name', async () => {
    const mine = await createTenant(t.ctx, { name: 'Shared Word Mine' });
    await createTenant(t.ctx, { name: 'Shared Word Theirs' });
    const headers = await t.ctx.headersFor(mine.id, ['tenants:read']);
    const response = await t.ctx.app.inject({ method: 'GET', url: TENANTS, query: { search: 'shared' }, headers });
    expect(response.json().data.map((tenant: { id: string }) => tenant.id)).toEqual([mine.id]);
    await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${mine.id}`, payload: { name: 'Zebra Holdings' }, headers: t.ctx.platformHeaders });
    const renamed = await t.ctx.app.inject({ method: 'GET', url: TENANTS, query: { search: 'zebra' }, headers: t.ctx.platformHeaders });
    expect(renamed.json().data.map((tenant: { id: string }) => tenant.id)).toEqual([mine.id]);
  });

  it('refuses per_page above 100 with 422', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}?per_page=101`, headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail[0].loc).toEqual(['query', 'per_page']);
  });
});

describe('GET /api/v1/tenants/{tenant_id}', () => {
  const t = useTestApp();

  it('answers 404 tenant.not_found for an unknown tenant', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/tnt_unknown`, headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'tenant.not_found' });
  });

  it('lets a tenant token read its own tenant but not another (403 auth.wrong_tenant)', async () => {
    const mine = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(mine.id, ['tenants:read']);
    const own = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${mine.id}`, headers });
    expect(own.statusCode).toBe(200);
    expect(own.json().data.id).toBe(mine.id);
    const foreign = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${other.id}`, headers });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().code).toBe('auth.wrong_tenant');
  });
});

describe('PATCH /api/v1/tenants/{tenant_id}', () => {
  const t = useTestApp();

  it('renames a tenant, keeps its slug and moves updated_at forward', async () => {
    const tenant = await createTenant(t.ctx, { name: 'Old Name', slug: 'keep-me' });
    const before = (await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders })).json().data;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const response = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { name: 'New Name' } });
    expect(response.statusCode).toBe(200);
    const data = response.json().data;
    expect(data).toMatchObject({ id: tenant.id, name: 'New Name', slug: 'keep-me', created_at: before.created_at });
    expect(data.updated_at > before.updated_at).toBe(true);
    const fetched = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders });
    expect(fetched.json().data.name).toBe('New Name');
  });

  it('changes the slug, lower-cased, and refuses one another tenant holds (409)', async () => {
    const tenant = await createTenant(t.ctx, { slug: 'first' });
    await createTenant(t.ctx, { slug: 'taken' });
    const changed = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { slug: 'Renamed' } });
    expect(changed.statusCode).toBe(200);
    expect(changed.json().data.slug).toBe('renamed');
    const conflict = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { slug: 'TAKEN' } });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('tenant.slug_conflict');
  });

  it('refuses an invalid slug with 422 on body.slug and keeps the old one', async () => {
    const tenant = await createTenant(t.ctx, { slug: 'stable' });
    for (const slug of ['-x', 'a b']) {
      const response = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { slug } });
      expect(response.statusCode, slug).toBe(422);
      expect(response.json().detail[0].loc).toEqual(['body', 'slug']);
    }
    const fetched = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders });
    expect(fetched.json().data.slug).toBe('stable');
  });

  it('refuses an unknown field with 422 extra_forbidden', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { plan: 'gold' } });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail).toContainEqual({ loc: ['body', 'plan'], msg: expect.any(String), type: 'extra_forbidden' });
  });

  it('lets a tenant token with tenants:write rename its own tenant', async () => {
    const mine = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(mine.id, ['tenants:write']);
    const response = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${mine.id}`, headers, payload: { name: 'Self Named' } });
    expect(response.statusCode).toBe(200);
    expect(response.json().data.name).toBe('Self Named');
  });

  it("refuses a tenant token on another tenant with 403 auth.wrong_tenant and leaves it unchanged", async () => {
    const mine = await createTenant(t.ctx);
    const other = await createTenant(t.ctx, { name: 'Untouched' });
    const headers = await t.ctx.headersFor(mine.id, ['tenants:write']);
    const response = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/${other.id}`, headers, payload: { name: 'Hijacked' } });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('auth.wrong_tenant');
    const fetched = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${other.id}`, headers: t.ctx.platformHeaders });
    expect(fetched.json().data.name).toBe('Untouched');
  });

  it('answers 404 tenant.not_found for an unknown tenant', async () => {
    const response = await t.ctx.app.inject({ method: 'PATCH', url: `${TENANTS}/tnt_unknown`, headers: t.ctx.platformHeaders, payload: { name: 'X' } });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('tenant.not_found');
  });
});

describe('DELETE /api/v1/tenants/{tenant_id}', () => {
  const t = useTestApp();

  const rowsOf = (ctx: TestContext, table: 'org_units' | 'users', tenantId: string) =>
    ctx.store.db.selectFrom(table).selectAll().where('tenant_id', '=', tenantId).execute();

  it("deletes the tenant with all its OUs and users, answering 204 with an empty body, and leaves other tenants' rows", async () => {
    const doomed = await createTenant(t.ctx);
    const kept = await createTenant(t.ctx);
    for (const tenant of [doomed, kept]) {
      const root = await createOu(t.ctx, tenant.id, { name: 'Root' });
      const child = await createOu(t.ctx, tenant.id, { name: 'Child', parent_id: root.id });
      await createUser(t.ctx, tenant.id, { ou_id: child.id });
      await createUser(t.ctx, tenant.id, { ou_id: root.id });
      await createUser(t.ctx, tenant.id);
    }
    expect(await rowsOf(t.ctx, 'org_units', doomed.id)).toHaveLength(2);
    expect(await rowsOf(t.ctx, 'users', doomed.id)).toHaveLength(3);

    const response = await t.ctx.app.inject({ method: 'DELETE', url: `${TENANTS}/${doomed.id}`, headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');

    expect(await rowsOf(t.ctx, 'org_units', doomed.id)).toEqual([]);
    expect(await rowsOf(t.ctx, 'users', doomed.id)).toEqual([]);
    expect(await rowsOf(t.ctx, 'org_units', kept.id)).toHaveLength(2);
    expect(await rowsOf(t.ctx, 'users', kept.id)).toHaveLength(3);

    const gone = await t.ctx.app.inject({ method: 'GET', url: `${TENANTS}/${doomed.id}`, headers: t.ctx.platformHeaders });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe('tenant.not_found');
    expect(await allTenantIds(t.ctx)).toEqual([kept.id]);
  });

  it('lets only a platform token delete: a tenant token with tenants:write gets 403 auth.insufficient_scope', async () => {
    const mine = await createTenant(t.ctx);
    await createOu(t.ctx, mine.id);
    const headers = await t.ctx.headersFor(mine.id, ['tenants:read', 'tenants:write']);
    const response = await t.ctx.app.inject({ method: 'DELETE', url: `${TENANTS}/${mine.id}`, headers });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('auth.insufficient_scope');
    expect(await allTenantIds(t.ctx)).toEqual([mine.id]);
    expect(await rowsOf(t.ctx, 'org_units', mine.id)).toHaveLength(1);
  });

  it('answers 404 tenant.not_found for an unknown tenant', async () => {
    const response = await t.ctx.app.inject({ method: 'DELETE', url: `${TENANTS}/tnt_unknown`, headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('tenant.not_found');
  });
});

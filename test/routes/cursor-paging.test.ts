import { describe, expect, it } from 'vitest';
import { repositories } from '../../src/db/repositories/index.js';
import { expectPage, expectValidation } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

/**
 * Every list takes `cursor` and answers `next_cursor` beside `pagination` (docs/org-units.md):
 * walking a listing by cursor lists exactly what walking it by page number lists, the last page's
 * next_cursor is null, and a cursor is refused (422, nothing read) by any other listing.
 */

type Query = Record<string, string>;

function get(ctx: TestContext, url: string, query: Query = {}) {
  return ctx.app.inject({ method: 'GET', url, query, headers: ctx.platformHeaders });
}

async function walkByPage(ctx: TestContext, url: string, query: Query, per_page: number): Promise<unknown[]> {
  const items: unknown[] = [];
  for (let page = 1; ; page++) {
    const body = expectPage(await get(ctx, url, { ...query, page: String(page), per_page: String(per_page) }));
    items.push(...body.data);
    if (page >= body.pagination.total_pages) {
      expect(body.next_cursor).toBeNull();
      return items;
    }
    expect(body.next_cursor).toEqual(expect.any(String));
  }
}

async function walkByCursor(ctx: TestContext, url: string, query: Query, per_page: number): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | null = null;
  let page = 0;
  do {
    page++;
    const body = expectPage(await get(ctx, url, { ...query, per_page: String(per_page), ...(cursor ? { cursor } : {}) }));
    expect(body.pagination.page, `${url} page ${page}`).toBe(page);
    items.push(...body.data);
    cursor = body.next_cursor;
    expect(page).toBeLessThan(1000);
  } while (cursor !== null);
  return items;
}

async function expectCursorWalkMatches(ctx: TestContext, url: string, query: Query, minItems: number) {
  for (const per_page of [1, 3, 100]) {
    const byPage = await walkByPage(ctx, url, query, per_page);
    expect(byPage.length, url).toBeGreaterThanOrEqual(minItems);
    expect(await walkByCursor(ctx, url, query, per_page), `${url} ${JSON.stringify(query)} per_page ${per_page}`).toEqual(byPage);
  }
}

async function sampleTenant(ctx: TestContext) {
  const tenantId = (await createTenant(ctx)).id;
  const root = await createOu(ctx, tenantId, { name: 'Root' });
  const teams = [];
  for (const name of ['Sales', 'salsa', 'Support', 'Ops', 'Émile']) teams.push(await createOu(ctx, tenantId, { name, parent_id: root.id }));
  const deep = await createOu(ctx, tenantId, { name: 'Deep', parent_id: teams[0].id });
  for (let i = 0; i < 7; i++) await createUser(ctx, tenantId, { ou_id: [root, teams[0], deep, teams[2]][i % 4].id });
  await createUser(ctx, tenantId, { ou_id: null });
  return { tenantId, root, teams, deep };
}

describe('cursor paging', () => {
  const t = useTestApp();

  it('walks every list by cursor to the same rows as by page number, with next_cursor null on the last page', async () => {
    const { tenantId, root, teams } = await sampleTenant(t.ctx);
    const base = `/api/v1/tenants/${tenantId}`;
    await t.ctx.app.inject({ method: 'POST', url: `${base}/clients`, headers: t.ctx.platformHeaders, payload: { name: 'one', scopes: ['ous:read'] } });
    await t.ctx.app.inject({ method: 'POST', url: `${base}/clients`, headers: t.ctx.platformHeaders, payload: { name: 'two', scopes: ['ous:read'] } });
    await expectCursorWalkMatches(t.ctx, `${base}/ous`, {}, 7);
    await expectCursorWalkMatches(t.ctx, `${base}/ous`, { search: 'sa' }, 2);
    await expectCursorWalkMatches(t.ctx, `${base}/ous`, { parent_id: root.id }, 5);
    await expectCursorWalkMatches(t.ctx, `${base}/ous/${root.id}/users`, {}, 2);
    await expectCursorWalkMatches(t.ctx, `${base}/ous/${root.id}/users`, { include_nested: 'true' }, 7);
    await expectCursorWalkMatches(t.ctx, `${base}/ous/${teams[0].id}/users`, { include_nested: 'true' }, 3);
    await expectCursorWalkMatches(t.ctx, `${base}/users`, {}, 8);
    await expectCursorWalkMatches(t.ctx, `${base}/clients`, {}, 2);
    await expectCursorWalkMatches(t.ctx, '/api/v1/tenants', {}, 1);
  });

  it('answers next_cursor null and one page for an empty list', async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    const body = expectPage(await get(t.ctx, `/api/v1/tenants/${tenantId}/ous`));
    expect(body.data).toEqual([]);
    expect(body.next_cursor).toBeNull();
  });

  it('refuses with 422 a cursor that is not one, and one taken from another filter, OU or tenant', async () => {
    const { tenantId, root, teams } = await sampleTenant(t.ctx);
    const other = await sampleTenant(t.ctx);
    const base = `/api/v1/tenants/${tenantId}`;
    const cursorOf = async (url: string, query: Query = {}) => expectPage(await get(t.ctx, url, { ...query, per_page: '1' })).next_cursor as string;
    const listCursor = await cursorOf(`${base}/ous`);
    const usersCursor = await cursorOf(`${base}/ous/${root.id}/users`, { include_nested: 'true' });
    const before = await repositories(t.ctx.store.db).orgUnits.listAllForCheck(tenantId);
    for (const [url, query] of [
      [`${base}/ous`, { cursor: 'not-a-cursor' }],
      [`${base}/ous`, { cursor: Buffer.from('[1,"x","a",1]').toString('base64url') }],
      [`${base}/ous`, { cursor: listCursor, search: 'sa' }],
      [`${base}/ous`, { cursor: listCursor, parent_id: root.id }],
      [`/api/v1/tenants/${other.tenantId}/ous`, { cursor: listCursor }],
      [`${base}/ous/${teams[0].id}/users`, { cursor: usersCursor, include_nested: 'true' }],
      [`${base}/ous/${root.id}/users`, { cursor: usersCursor }],
      [`${base}/users`, { cursor: usersCursor }],
    ] as const) {
      expectValidation(await get(t.ctx, url, query), ['query', 'cursor'], 'value_error.cursor');
    }
    expect(await repositories(t.ctx.store.db).orgUnits.listAllForCheck(tenantId)).toEqual(before);
  });

  it('resumes after the last row seen when rows are added before it meanwhile (no row twice, none skipped after it)', async () => {
    const tenantId = (await createTenant(t.ctx)).id;
    for (const name of ['b', 'd', 'f', 'h']) await createOu(t.ctx, tenantId, { name });
    const first = expectPage(await get(t.ctx, `/api/v1/tenants/${tenantId}/ous`, { per_page: '2' }));
    expect(first.data.map((ou: { name: string }) => ou.name)).toEqual(['b', 'd']);
    await createOu(t.ctx, tenantId, { name: 'a' });
    await createOu(t.ctx, tenantId, { name: 'e' });
    const rest = await walkByCursorFrom(t.ctx, `/api/v1/tenants/${tenantId}/ous`, first.next_cursor);
    expect(rest).toEqual(['e', 'f', 'h']);
  });
});

async function walkByCursorFrom(ctx: TestContext, url: string, cursor: string | null): Promise<string[]> {
  const names: string[] = [];
  while (cursor !== null) {
    const body = expectPage(await get(ctx, url, { per_page: '2', cursor }));
    names.push(...body.data.map((ou: { name: string }) => ou.name));
    cursor = body.next_cursor;
  }
  return names;
}

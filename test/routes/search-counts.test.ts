import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { expectPage } from '../helpers/assertions.js';
import { createOu, createTenant } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';

/*
 * A search's total_items is counted once per version of the tenant's OUs and kept (per
 * instance): these tests show a kept count is never served after any OU write, on the instance
 * that wrote or on another one sharing the store.
 */

async function searchTotal(ctx: TestContext, tenantId: string, search: string, app = ctx.app, parentId?: string): Promise<number> {
  const query: Record<string, string> = { search, per_page: '1' };
  if (parentId) query.parent_id = parentId;
  const response = await app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous`, query, headers: ctx.platformHeaders });
  return expectPage(response).pagination.total_items;
}

const send = (ctx: TestContext, method: 'PATCH' | 'DELETE', url: string, payload?: object, app = ctx.app) =>
  app.inject({ method, url: `/api/v1/tenants/${url}`, headers: ctx.platformHeaders, ...(payload ? { payload } : {}) });

describe('search total_items, counted once per version of the tenant\'s OUs', () => {
  const t = useTestApp();

  it('follows every kind of OU write at once: create, rename, move, delete', async () => {
    const tenant = await createTenant(t.ctx);
    const a = await createOu(t.ctx, tenant.id, { name: 'Finance A' });
    const b = await createOu(t.ctx, tenant.id, { name: 'Sales' });
    expect(await searchTotal(t.ctx, tenant.id, 'finance')).toBe(1);
    expect(await searchTotal(t.ctx, tenant.id, 'finance')).toBe(1); // the same answer, from the kept count (query-count.test.ts shows it is kept)

    await createOu(t.ctx, tenant.id, { name: 'Finance B', parent_id: b.id });
    expect(await searchTotal(t.ctx, tenant.id, 'finance')).toBe(2);

    expect((await send(t.ctx, 'PATCH', `${tenant.id}/ous/${b.id}`, { name: 'Finance Sales' })).statusCode).toBe(200);
    expect(await searchTotal(t.ctx, tenant.id, 'finance')).toBe(3);

    expect((await send(t.ctx, 'PATCH', `${tenant.id}/ous/${a.id}`, { name: 'Treasury' })).statusCode).toBe(200);
    expect(await searchTotal(t.ctx, tenant.id, 'finance')).toBe(2);

    // A move changes no name, but the search with parent_id must see it.
    const c = await createOu(t.ctx, tenant.id, { name: 'Finance C' });
    expect(await searchTotal(t.ctx, tenant.id, 'finance', t.ctx.app, a.id)).toBe(0);
    expect((await send(t.ctx, 'PATCH', `${tenant.id}/ous/${c.id}`, { parent_id: a.id })).statusCode).toBe(200);
    expect(await searchTotal(t.ctx, tenant.id, 'finance', t.ctx.app, a.id)).toBe(1);

    expect((await send(t.ctx, 'DELETE', `${tenant.id}/ous/${b.id}?strategy=CASCADE`)).statusCode).toBe(204);
    expect(await searchTotal(t.ctx, tenant.id, 'finance')).toBe(1);
  });

  it('keeps counts per tenant and per search: one tenant\'s write leaves another\'s count right', async () => {
    const one = await createTenant(t.ctx);
    const two = await createTenant(t.ctx);
    await createOu(t.ctx, one.id, { name: 'Finance' });
    await createOu(t.ctx, two.id, { name: 'Finance' });
    await createOu(t.ctx, two.id, { name: 'Finance 2' });
    expect(await searchTotal(t.ctx, one.id, 'finance')).toBe(1);
    expect(await searchTotal(t.ctx, two.id, 'finance')).toBe(2);
    expect(await searchTotal(t.ctx, two.id, 'finance 2')).toBe(1);
    await createOu(t.ctx, one.id, { name: 'Finance 3' });
    expect(await searchTotal(t.ctx, one.id, 'finance')).toBe(2);
    expect(await searchTotal(t.ctx, two.id, 'finance')).toBe(2);
  });

  it('is never served stale by an instance after another instance on the same store renamed an OU', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Finance' });
    const other = await buildApp(t.ctx.config, { store: t.ctx.store, logger: false, bootstrapAdminClient: false });
    try {
      expect(await searchTotal(t.ctx, tenant.id, 'finance', other.app)).toBe(1); // kept by the other instance
      expect((await send(t.ctx, 'PATCH', `${tenant.id}/ous/${ou.id}`, { name: 'Payroll' })).statusCode).toBe(200);
      expect(await searchTotal(t.ctx, tenant.id, 'finance', other.app)).toBe(0);
      expect(await searchTotal(t.ctx, tenant.id, 'payroll', other.app)).toBe(1);
    } finally {
      await other.app.close();
    }
  });
});

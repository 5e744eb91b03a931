import { describe, expect, it } from 'vitest';
import { expectError, expectPage, expectValidation } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { useTestApp } from '../helpers/test-app.js';

// Text that cannot be stored as UTF-8, and text that is the same name in another Unicode form.
describe('text input', () => {
  const t = useTestApp();

  it('refuses a name with a lone surrogate with 422 at its location, and stores nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const url = `/api/v1/tenants/${tenant.id}/ous`;
    const response = await t.ctx.app.inject({
      method: 'POST',
      url,
      headers: { ...t.ctx.platformHeaders, 'content-type': 'application/json' },
      payload: '{"name": "Dup\\ud800"}',
    });
    expect(expectValidation(response, ['body', 'name'], 'string_unicode')).toHaveLength(1);
    const list = expectPage(await t.ctx.app.inject({ method: 'GET', url, headers: t.ctx.platformHeaders }));
    expect(list.data).toEqual([]);
  });

  it('refuses a lone surrogate nested in custom_attributes, naming the key path', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant.id}/users`,
      headers: { ...t.ctx.platformHeaders, 'content-type': 'application/json' },
      payload: '{"email": "a@x.io", "custom_attributes": {"tags": ["ok", "\\udc00"]}}',
    });
    expectValidation(response, ['body', 'custom_attributes', 'tags', 1], 'string_unicode');
  });

  it('finds a name by search in another Unicode normalization form', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id, { name: 'Caf\u00e9' });
    const decomposed = encodeURIComponent('cafe\u0301');
    const list = expectPage(
      await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous?search=${decomposed}`, headers: t.ctx.platformHeaders }),
    );
    expect(list.data.map((o: { name: string }) => o.name)).toEqual(['Caf\u00e9']);
  });

  it('answers a users filter naming an OU of another tenant with 404, like the OU list does', async () => {
    const mine = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const foreignOu = await createOu(t.ctx, other.id);
    await createUser(t.ctx, other.id, { ou_id: foreignOu.id });
    const response = await t.ctx.app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${mine.id}/users?ou_id=${foreignOu.id}`,
      headers: t.ctx.platformHeaders,
    });
    expectError(response, 404, 'ou.not_found');
  });

  it('answers a stored row it cannot decode with a bare 500, not a client validation error', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    await t.ctx.store.db.updateTable('org_units').set({ custom_attributes: 'not json' }).where('id', '=', ou.id).execute();
    const response = await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/${ou.id}`, headers: t.ctx.platformHeaders });
    expectError(response, 500, 'internal_error');
    expect(response.body).not.toMatch(/JSON|Unexpected token/);
    // Repair so that the after-test invariant check reads a sane store.
    await t.ctx.store.db.updateTable('org_units').set({ custom_attributes: null }).where('id', '=', ou.id).execute();
  });
});

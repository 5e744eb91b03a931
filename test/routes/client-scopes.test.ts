import { describe, expect, it } from 'vitest';
import { expectData, expectError } from '../helpers/assertions.js';
import { createTenant } from '../helpers/factories.js';
import { useTestApp } from '../helpers/test-app.js';

// A token with clients:write must not be able to mint a client more powerful than itself.
describe('scopes a caller may give a new client', () => {
  const t = useTestApp();
  const url = (tenantId: string) => `/api/v1/tenants/${tenantId}/clients`;

  it('refuses scopes the calling token does not hold with 403 client.scope_not_held, and creates nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['clients:write', 'clients:read', 'ous:read']);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: url(tenant.id),
      headers,
      payload: { name: 'escalation', scopes: ['ous:read', 'admin:write', 'tenants:write'] },
    });
    expect(expectError(response, 403, 'client.scope_not_held')).toContain('admin:write, tenants:write');
    const list = await t.ctx.app.inject({ method: 'GET', url: url(tenant.id), headers });
    expect(list.json().data).toEqual([]);
  });

  it('lets an umbrella scope grant the scopes it covers, but not the umbrella itself', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['admin:write']);
    const narrow = await t.ctx.app.inject({ method: 'POST', url: url(tenant.id), headers, payload: { name: 'writer', scopes: ['ous:write'] } });
    expect(expectData(narrow, 201).scopes).toEqual(['ous:write']);
    const umbrella = await t.ctx.app.inject({ method: 'POST', url: url(tenant.id), headers, payload: { name: 'x', scopes: ['admin:read'] } });
    expectError(umbrella, 403, 'client.scope_not_held');
  });

  it('lets a platform token give a tenant client any tenant scope', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: url(tenant.id),
      headers: t.ctx.platformHeaders,
      payload: { name: 'all', scopes: ['admin:read', 'admin:write', 'clients:write'] },
    });
    expect(expectData(response, 201).scopes).toEqual(['admin:read', 'admin:write', 'clients:write']);
  });
});

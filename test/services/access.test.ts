import { describe, expect, it } from 'vitest';
import { RoleName } from '../../src/schemas/role-assignments.js';
import { ROLES, ROLE_PERMISSIONS, accessFrom, isScopeRoot, reachCovers } from '../../src/services/access.js';
import { createAccessService } from '../../src/services/access-service.js';
import type { Principal } from '../../src/services/token-service.js';
import { expectError } from '../helpers/assertions.js';
import { createTenant } from '../helpers/factories.js';
import { grantRole, useSharedApp } from '../helpers/test-app.js';

const client = { type: 'client' as const, id: 'cli_x' };

describe('effective rights: token scopes ∩ role assignments', () => {
  it('a permission the token lacks reaches nowhere, whatever the roles give', () => {
    const access = accessFrom(client, new Set(['ous:read']), [{ role: 'tenant_admin', ou_id: null }]);
    expect(access.reach('ous:read')).toBe('tenant');
    expect(access.reach('ous:write')).toEqual([]);
  });

  it('a permission no assignment gives reaches nowhere, whatever the token says', () => {
    const access = accessFrom(client, new Set(['ous:read', 'ous:write']), [{ role: 'viewer', ou_id: 'ou_a' }]);
    expect(access.reach('ous:read')).toEqual(['ou_a']);
    expect(access.reach('ous:write')).toEqual([]);
  });

  it('several assignments add up, and a tenant-wide one covers everything', () => {
    const scopes = new Set(['admin:read', 'admin:write']);
    const two = accessFrom(client, scopes, [
      { role: 'viewer', ou_id: 'ou_a' },
      { role: 'ou_admin', ou_id: 'ou_b' },
    ]);
    expect(two.reach('ous:read')).toEqual(['ou_a', 'ou_b']);
    expect(two.reach('ous:write')).toEqual(['ou_b']);
    const wide = accessFrom(client, scopes, [{ role: 'viewer', ou_id: 'ou_a' }, { role: 'viewer', ou_id: null }]);
    expect(wide.reach('users:read')).toBe('tenant');
  });

  it('an unknown role gives nothing', () => {
    expect(accessFrom(client, new Set(['ous:read']), [{ role: 'god', ou_id: null }]).reach('ous:read')).toEqual([]);
  });

  it('holds the role table of the issue: tenant_admin everything, ou_admin OUs and users, user_manager users, viewer reads; webhooks tenant_admin only', () => {
    expect(ROLE_PERMISSIONS.tenant_admin).toHaveLength(13);
    for (const role of ['ou_admin', 'user_manager', 'viewer'] as const) {
      expect(ROLE_PERMISSIONS[role].filter((p) => p.startsWith('webhooks:')), role).toEqual([]);
    }
    expect([...ROLE_PERMISSIONS.user_manager].sort()).toEqual(['events:read', 'ous:read', 'users:read', 'users:write']);
    expect([...ROLE_PERMISSIONS.viewer].sort()).toEqual(['events:read', 'ous:read', 'users:read']);
    expect(ROLE_PERMISSIONS.ou_admin).not.toContain('clients:write');
    expect(ROLE_PERMISSIONS.ou_admin).not.toContain('tenants:write');
  });

  it('the API schema offers exactly the roles of the table', () => {
    expect(RoleName.anyOf.map((literal: { const: string }) => literal.const).sort()).toEqual([...ROLES].sort());
  });

  it('covers an OU through any id on its id_path, and knows the root of a scope', () => {
    expect(reachCovers(['ou_b'], '/ou_a/ou_b/ou_c/')).toBe(true);
    expect(reachCovers(['ou_b'], '/ou_a/ou_bb/')).toBe(false);
    expect(reachCovers(['ou_b'], '')).toBe(false);
    expect(isScopeRoot(['ou_b'], { id: 'ou_b', id_path: '/ou_a/ou_b/' })).toBe(true);
    expect(isScopeRoot(['ou_a', 'ou_b'], { id: 'ou_b', id_path: '/ou_a/ou_b/' })).toBe(false);
    expect(isScopeRoot('tenant', { id: 'ou_b', id_path: '/ou_a/ou_b/' })).toBe(false);
  });
});

describe('external principals and the tenant setting external_default', () => {
  const t = useSharedApp();
  const external = (tenantId: string, sub: string): Principal => ({
    kind: 'tenant',
    subject: sub,
    tenantId,
    scopes: new Set(['ous:read', 'ous:write']),
    issuer: 'external',
    clientId: null,
  });

  it("an external principal with no assignment may do what its scopes say under 'tenant', nothing under 'none'", async () => {
    const tenant = await createTenant(t.ctx);
    const service = createAccessService({ store: t.ctx.store, cacheMs: 0 });
    expect((await service.accessOf(external(tenant.id, 'alice'))).reach('ous:write')).toBe('tenant');
    const patched = await t.ctx.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { external_default: 'none' } });
    expect(patched.json().data.external_default).toBe('none');
    expect((await service.accessOf(external(tenant.id, 'alice'))).reach('ous:read')).toEqual([]);
  });

  it("an external principal with assignments gets only them, even under 'tenant'", async () => {
    const tenant = await createTenant(t.ctx);
    await grantRole(t.ctx.store, tenant.id, 'bob', 'viewer', null, 'external');
    const access = await createAccessService({ store: t.ctx.store, cacheMs: 0 }).accessOf(external(tenant.id, 'bob'));
    expect(access.reach('ous:read')).toBe('tenant');
    expect(access.reach('ous:write')).toEqual([]);
  });

  it("an Arbor client's token with the same subject does not get the external principal's assignments", async () => {
    const tenant = await createTenant(t.ctx);
    await grantRole(t.ctx.store, tenant.id, 'carol', 'tenant_admin', null, 'external');
    const access = await createAccessService({ store: t.ctx.store, cacheMs: 0 }).accessOf({ ...external(tenant.id, 'carol'), issuer: 'arbor' });
    expect(access.reach('ous:read')).toEqual([]);
  });

  it("refuses to delete an external principal's last assignment while external_default is 'tenant' (it would widen its rights)", async () => {
    const tenant = await createTenant(t.ctx);
    const url = `/api/v1/tenants/${tenant.id}/role-assignments`;
    const created = await t.ctx.app.inject({ method: 'POST', url, headers: t.ctx.platformHeaders, payload: { principal: { type: 'external', id: 'dave' }, role: 'viewer' } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().data.id as string;
    expectError(await t.ctx.app.inject({ method: 'DELETE', url: `${url}/${id}`, headers: t.ctx.platformHeaders }), 409, 'role_assignment.would_widen');
    await t.ctx.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${tenant.id}`, headers: t.ctx.platformHeaders, payload: { external_default: 'none' } });
    expect((await t.ctx.app.inject({ method: 'DELETE', url: `${url}/${id}`, headers: t.ctx.platformHeaders })).statusCode).toBe(204);
  });

  it('an expired assignment counts as none for rights but still holds an external principal off the default', async () => {
    const tenant = await createTenant(t.ctx);
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const service = createAccessService({ store: t.ctx.store, cacheMs: 0, now: () => clock });
    await t.ctx.store.db
      .insertInto('role_assignments')
      .values({
        tenant_id: tenant.id,
        id: 'ra_expiring',
        principal_type: 'external',
        principal_id: 'erin',
        role: 'viewer',
        ou_id: null,
        expires_at: '2030-01-01T00:00:10.000Z',
        created_at: '2029-12-31T00:00:00.000Z',
        created_by: '{"type":"system","id":"test","client_id":null}',
      })
      .execute();
    expect((await service.accessOf(external(tenant.id, 'erin'))).reach('ous:read')).toBe('tenant');
    clock += 11_000;
    expect((await service.accessOf(external(tenant.id, 'erin'))).reach('ous:read')).toEqual([]);
  });
});

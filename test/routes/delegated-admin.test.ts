import { describe, expect, it } from 'vitest';
import { expectData, expectError, expectNoContent, expectPage } from '../helpers/assertions.js';
import { delegatedClient, regionalTenant } from '../helpers/delegation.js';
import { createOu, createUser } from '../helpers/factories.js';
import { type TestContext, useSharedApp } from '../helpers/test-app.js';

/*
 * Delegated administration (docs/delegated-admin.md): a principal scoped to /Acme/EMEA sees and
 * does what its role allows there, and nothing anywhere else. Each test makes its own tenant.
 */

const t = useSharedApp();
const api = (tenantId: string) => `/api/v1/tenants/${tenantId}`;

const get = (ctx: TestContext, url: string, headers: Record<string, string>, query: Record<string, string> = {}) =>
  ctx.app.inject({ method: 'GET', url, headers, query });
const send = (ctx: TestContext, method: 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: object) =>
  ctx.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });

async function emeaAdmin(ctx: TestContext, role: 'ou_admin' | 'tenant_admin' | 'user_manager' | 'viewer' = 'ou_admin') {
  const world = await regionalTenant(ctx);
  const admin = await delegatedClient(ctx, world.tenantId, role, [world.emea.id]);
  return { ...world, admin };
}

describe('a principal scoped to an OU subtree (rule 1: inside what its role allows, outside 404)', () => {
  it('reads OUs and users inside its subtree', async () => {
    const { tenantId, emea, paris, users, admin } = await emeaAdmin(t.ctx);
    expect(expectData(await get(t.ctx, `${api(tenantId)}/ous/${paris.id}`, admin.headers)).path).toBe('/Acme/EMEA/Paris');
    expect(expectData(await get(t.ctx, `${api(tenantId)}/ous/${emea.id}`, admin.headers)).child_ou_count).toBe(2);
    expect(expectData(await get(t.ctx, `${api(tenantId)}/users/${users.p1.id}`, admin.headers)).id).toBe(users.p1.id);
  });

  it('gets exactly the 404 of a missing OU for an ancestor, a sibling subtree and another root', async () => {
    const { tenantId, acme, americas, other, admin } = await emeaAdmin(t.ctx);
    const missing = await get(t.ctx, `${api(tenantId)}/ous/ou_doesnotexist`, admin.headers);
    const expected = expectError(missing, 404, 'ou.not_found').replace('ou_doesnotexist', '<id>');
    for (const ou of [acme, americas, other]) {
      const response = await get(t.ctx, `${api(tenantId)}/ous/${ou.id}`, admin.headers);
      expect(expectError(response, 404, 'ou.not_found').replace(ou.id, '<id>')).toBe(expected);
      expect(response.body).not.toContain(ou.name);
    }
  });

  it('gets 404 for users outside its subtree and for users in no OU', async () => {
    const { tenantId, users, admin } = await emeaAdmin(t.ctx);
    for (const user of [users.a1, users.o1, users.nowhere]) {
      const response = await get(t.ctx, `${api(tenantId)}/users/${user.id}`, admin.headers);
      expectError(response, 404, 'user.not_found');
      expect(response.body).not.toContain(user.email);
      expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${user.id}`, admin.headers, { display_name: 'x' }), 404, 'user.not_found');
      expectError(await send(t.ctx, 'DELETE', `${api(tenantId)}/users/${user.id}`, admin.headers), 404, 'user.not_found');
    }
  });

  it('cannot change or delete an OU outside its subtree: 404, and nothing changes', async () => {
    const { tenantId, americas, admin } = await emeaAdmin(t.ctx);
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${americas.id}`, admin.headers, { description: 'mine' }), 404, 'ou.not_found');
    expectError(await send(t.ctx, 'DELETE', `${api(tenantId)}/ous/${americas.id}?strategy=CASCADE`, admin.headers), 404, 'ou.not_found');
    const after = expectData(await get(t.ctx, `${api(tenantId)}/ous/${americas.id}`, t.ctx.platformHeaders));
    expect(after.description).toBeNull();
  });

  it('edits, creates and deletes inside its subtree', async () => {
    const { tenantId, paris, berlin, users, admin } = await emeaAdmin(t.ctx);
    expect(expectData(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${paris.id}`, admin.headers, { description: 'HQ' })).description).toBe('HQ');
    const lyon = expectData(await send(t.ctx, 'POST', `${api(tenantId)}/ous`, admin.headers, { name: 'Lyon', parent_id: paris.id }), 201);
    expect(lyon.path).toBe('/Acme/EMEA/Paris/Lyon');
    expectData(await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${users.p1.id}`, admin.headers, { ou_id: berlin.id }));
    expectNoContent(await send(t.ctx, 'DELETE', `${api(tenantId)}/ous/${lyon.id}`, admin.headers));
  });

  it('a viewer reads its subtree and writes nothing; a user_manager manages users but not OUs', async () => {
    const world = await regionalTenant(t.ctx);
    const viewer = await delegatedClient(t.ctx, world.tenantId, 'viewer', [world.emea.id]);
    const manager = await delegatedClient(t.ctx, world.tenantId, 'user_manager', [world.emea.id]);
    expectData(await get(t.ctx, `${api(world.tenantId)}/ous/${world.paris.id}`, viewer.headers));
    expectError(await send(t.ctx, 'PATCH', `${api(world.tenantId)}/ous/${world.paris.id}`, viewer.headers, { description: 'x' }), 403, 'auth.no_role');
    expectError(await send(t.ctx, 'POST', `${api(world.tenantId)}/users`, viewer.headers, { email: 'v@x.io', ou_id: world.paris.id }), 403, 'auth.no_role');
    expectData(await send(t.ctx, 'POST', `${api(world.tenantId)}/users`, manager.headers, { email: 'm@x.io', ou_id: world.paris.id }), 201);
    expectError(await send(t.ctx, 'POST', `${api(world.tenantId)}/ous`, manager.headers, { name: 'No', parent_id: world.paris.id }), 403, 'auth.no_role');
  });

  it('a principal with no role assignment at all can do nothing (403 auth.no_role)', async () => {
    const world = await regionalTenant(t.ctx);
    const token = await t.ctx.tokens.sign({ subject: 'cli_nobody', tenantId: world.tenantId, scopes: ['ous:read'] });
    expectError(await get(t.ctx, `${api(world.tenantId)}/ous`, { authorization: `Bearer ${token}` }), 403, 'auth.no_role');
  });

  it('a tenant-level route needs a tenant-wide assignment', async () => {
    const { tenantId, admin } = await emeaAdmin(t.ctx, 'tenant_admin');
    expectError(await get(t.ctx, api(tenantId), admin.headers), 403, 'auth.outside_scope');
    expectError(await send(t.ctx, 'PATCH', api(tenantId), admin.headers, { name: 'Mine' }), 403, 'auth.outside_scope');
    expectError(await get(t.ctx, '/api/v1/tenants', admin.headers), 403, 'auth.outside_scope');
  });
});

describe('filtering inside the query, before pagination (rule 2)', () => {
  it('lists only visible OUs, with totals and pages computed over them', async () => {
    const { tenantId, admin } = await emeaAdmin(t.ctx);
    const all = expectPage(await get(t.ctx, `${api(tenantId)}/ous`, admin.headers));
    expect(all.data.map((ou: { path: string }) => ou.path)).toEqual(['/Acme/EMEA', '/Acme/EMEA/Berlin', '/Acme/EMEA/Paris']);
    expect(all.pagination.total_items).toBe(3);
    const second = expectPage(await get(t.ctx, `${api(tenantId)}/ous`, admin.headers, { per_page: '1', page: '2' }));
    expect(second.pagination).toMatchObject({ total_items: 3, total_pages: 3 });
    expect(second.data.map((ou: { path: string }) => ou.path)).toEqual(['/Acme/EMEA/Berlin']);
  });

  it('searches only inside its subtree', async () => {
    const { tenantId, admin } = await emeaAdmin(t.ctx);
    // 'a' matches Acme, Americas and Paris and EMEA; only the last two are visible.
    const page = expectPage(await get(t.ctx, `${api(tenantId)}/ous`, admin.headers, { search: 'a' }));
    expect(page.data.map((ou: { path: string }) => ou.path)).toEqual(['/Acme/EMEA', '/Acme/EMEA/Paris']);
    expect(page.pagination.total_items).toBe(2);
  });

  it('lists users of its subtree only, with their total', async () => {
    const { tenantId, users, admin } = await emeaAdmin(t.ctx);
    const page = expectPage(await get(t.ctx, `${api(tenantId)}/users`, admin.headers));
    expect(page.data.map((u: { id: string }) => u.id).sort()).toEqual([users.e1.id, users.p1.id, users.p2.id].sort());
    expect(page.pagination.total_items).toBe(3);
    const searched = expectPage(await get(t.ctx, `${api(tenantId)}/users`, admin.headers, { search: users.a1.email }));
    expect(searched.pagination.total_items).toBe(0);
    expectError(await get(t.ctx, `${api(tenantId)}/users`, admin.headers, { ou_id: users.a1.ou_id as string }), 404, 'ou.not_found');
  });

  it("counts an OU's direct and nested users over its subtree, and refuses an OU outside", async () => {
    const { tenantId, emea, americas, admin } = await emeaAdmin(t.ctx);
    const nested = expectPage(await get(t.ctx, `${api(tenantId)}/ous/${emea.id}/users`, admin.headers, { include_nested: 'true' }));
    expect(nested.pagination.total_items).toBe(3);
    expectError(await get(t.ctx, `${api(tenantId)}/ous/${americas.id}/users`, admin.headers), 404, 'ou.not_found');
  });
});

describe('the tree and the top level (rule 3)', () => {
  it("returns the principal's subtree roots as the roots, their ancestors only in path", async () => {
    const { tenantId, emea, admin } = await emeaAdmin(t.ctx);
    const tree = expectData(await get(t.ctx, `${api(tenantId)}/ous/tree`, admin.headers));
    expect(tree).toHaveLength(1);
    expect(tree[0]).toMatchObject({ id: emea.id, path: '/Acme/EMEA' });
    expect(tree[0].children.map((c: { path: string }) => c.path)).toEqual(['/Acme/EMEA/Berlin', '/Acme/EMEA/Paris']);
  });

  it('returns several subtrees as several roots, a subtree inside another only once', async () => {
    const world = await regionalTenant(t.ctx);
    const admin = await delegatedClient(t.ctx, world.tenantId, 'ou_admin', [world.paris.id, world.other.id, world.emea.id]);
    const tree = expectData(await get(t.ctx, `${api(world.tenantId)}/ous/tree`, admin.headers));
    expect(tree.map((root: { path: string }) => root.path)).toEqual(['/Acme/EMEA', '/Other']);
    const list = expectPage(await get(t.ctx, `${api(world.tenantId)}/ous`, admin.headers));
    expect(list.pagination.total_items).toBe(4);
  });

  it('lists its subtrees’ roots as its top level (top_level=true), a subtree inside another only once, with their child_ou_count', async () => {
    const world = await regionalTenant(t.ctx);
    const admin = await delegatedClient(t.ctx, world.tenantId, 'viewer', [world.paris.id, world.other.id, world.emea.id]);
    const top = expectPage(await get(t.ctx, `${api(world.tenantId)}/ous`, admin.headers, { top_level: 'true' }));
    expect(top.data.map((ou: { id: string; child_ou_count: number }) => [ou.id, ou.child_ou_count])).toEqual([
      [world.emea.id, 2],
      [world.other.id, 0],
    ]);
    expect(top.pagination.total_items).toBe(2);
    // The tenant's own root (Acme) is not there: it is outside the scope.
    expect(top.data.map((ou: { id: string }) => ou.id)).not.toContain(world.acme.id);
    const searched = expectPage(await get(t.ctx, `${api(world.tenantId)}/ous`, admin.headers, { top_level: 'true', search: 'acme' }));
    expect(searched.data).toEqual([]);
  });

  it('lists the children of a visible OU, and 404 for the children of an ancestor', async () => {
    const { tenantId, acme, emea, admin } = await emeaAdmin(t.ctx);
    expect(expectPage(await get(t.ctx, `${api(tenantId)}/ous`, admin.headers, { parent_id: emea.id })).pagination.total_items).toBe(2);
    expectError(await get(t.ctx, `${api(tenantId)}/ous`, admin.headers, { parent_id: acme.id }), 404, 'ou.parent_not_found');
  });

  it('cannot create a root OU or a user in no OU (both need a tenant-wide assignment)', async () => {
    const { tenantId, admin } = await emeaAdmin(t.ctx);
    expectError(await send(t.ctx, 'POST', `${api(tenantId)}/ous`, admin.headers, { name: 'Rogue' }), 403, 'auth.outside_scope');
    expectError(await send(t.ctx, 'POST', `${api(tenantId)}/users`, admin.headers, { email: 'rogue@x.io' }), 403, 'auth.outside_scope');
  });
});

describe('the subtree root (rule 4)', () => {
  it('may get a new description, attributes and children', async () => {
    const { tenantId, emea, admin } = await emeaAdmin(t.ctx);
    const patched = expectData(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${emea.id}`, admin.headers, { description: 'Europe', custom_attributes: { cc: 'eu' } }));
    expect(patched).toMatchObject({ description: 'Europe', custom_attributes: { cc: 'eu' } });
    expectData(await send(t.ctx, 'POST', `${api(tenantId)}/ous`, admin.headers, { name: 'Madrid', parent_id: emea.id }), 201);
  });

  it('may not be renamed, moved or deleted by the principal it scopes', async () => {
    const { tenantId, emea, paris, admin } = await emeaAdmin(t.ctx);
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${emea.id}`, admin.headers, { name: 'Europe' }), 403, 'auth.scope_root');
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${emea.id}`, admin.headers, { parent_id: paris.id }), 403, 'auth.scope_root');
    for (const strategy of ['BLOCK', 'MOVE_UP', 'CASCADE']) {
      expectError(await send(t.ctx, 'DELETE', `${api(tenantId)}/ous/${emea.id}?strategy=${strategy}`, admin.headers), 403, 'auth.scope_root');
    }
    expect(expectData(await get(t.ctx, `${api(tenantId)}/ous/${emea.id}`, t.ctx.platformHeaders)).path).toBe('/Acme/EMEA');
  });
});

describe('moves need rights at both ends (rule 5)', () => {
  it('refuses to move an OU or a user out of the subtree', async () => {
    const { tenantId, paris, americas, users, admin } = await emeaAdmin(t.ctx);
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${paris.id}`, admin.headers, { parent_id: americas.id }), 404, 'ou.parent_not_found');
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${paris.id}`, admin.headers, { parent_id: null }), 403, 'auth.outside_scope');
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${users.p1.id}`, admin.headers, { ou_id: americas.id }), 404, 'ou.not_found');
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${users.p1.id}`, admin.headers, { ou_id: null }), 403, 'auth.outside_scope');
    const still = expectData(await get(t.ctx, `${api(tenantId)}/ous/${paris.id}`, t.ctx.platformHeaders));
    expect(still.path).toBe('/Acme/EMEA/Paris');
  });

  it('refuses to move an OU or a user into the subtree from outside', async () => {
    const { tenantId, paris, americas, users, admin } = await emeaAdmin(t.ctx);
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${americas.id}`, admin.headers, { parent_id: paris.id }), 404, 'ou.not_found');
    expectError(await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${users.a1.id}`, admin.headers, { ou_id: paris.id }), 404, 'user.not_found');
  });

  it('a principal that may read the destination but not write there gets 403', async () => {
    const world = await regionalTenant(t.ctx);
    // ou_admin in Paris, viewer over all of EMEA: Berlin is visible but not writable.
    const client = await delegatedClient(t.ctx, world.tenantId, 'ou_admin', [world.paris.id]);
    await send(t.ctx, 'POST', `${api(world.tenantId)}/role-assignments`, t.ctx.platformHeaders, {
      principal: { type: 'client', id: client.id },
      role: 'viewer',
      ou_id: world.emea.id,
    });
    const child = await createOu(t.ctx, world.tenantId, { name: 'Marais', parent_id: world.paris.id });
    expectError(await send(t.ctx, 'PATCH', `${api(world.tenantId)}/ous/${child.id}`, client.headers, { parent_id: world.berlin.id }), 403, 'auth.outside_scope');
    expectError(await send(t.ctx, 'PATCH', `${api(world.tenantId)}/ous/${world.berlin.id}`, client.headers, { description: 'x' }), 403, 'auth.outside_scope');
  });
});

describe('no escalation (rule 6)', () => {
  const assign = (ctx: TestContext, tenantId: string, headers: Record<string, string>, body: object) =>
    send(ctx, 'POST', `${api(tenantId)}/role-assignments`, headers, body);

  it('gives roles it holds at OUs inside its scope', async () => {
    const { tenantId, paris, admin } = await emeaAdmin(t.ctx);
    const other = await delegatedClient(t.ctx, tenantId, 'viewer', [paris.id]);
    const created = expectData(await assign(t.ctx, tenantId, admin.headers, { principal: { type: 'client', id: other.id }, role: 'user_manager', ou_id: paris.id }), 201);
    expect(created).toMatchObject({ role: 'user_manager', ou_id: paris.id, principal: { type: 'client', id: other.id }, created_by: { id: admin.id } });
  });

  it('refuses assignments outside its scope, tenant-wide ones and ones for itself', async () => {
    const { tenantId, paris, americas, admin } = await emeaAdmin(t.ctx);
    const other = await delegatedClient(t.ctx, tenantId, 'viewer', [paris.id]);
    const principal = { type: 'client', id: other.id };
    expectError(await assign(t.ctx, tenantId, admin.headers, { principal, role: 'viewer', ou_id: americas.id }), 404, 'ou.not_found');
    expectError(await assign(t.ctx, tenantId, admin.headers, { principal, role: 'viewer', ou_id: null }), 403, 'auth.outside_scope');
    expectError(await assign(t.ctx, tenantId, admin.headers, { principal: { type: 'client', id: admin.id }, role: 'viewer', ou_id: paris.id }), 403, 'role_assignment.self');
  });

  it('refuses a role with permissions it does not hold, even inside its scope', async () => {
    const { tenantId, paris, admin } = await emeaAdmin(t.ctx);
    // tenant_admin carries clients:write, which an ou_admin does not hold.
    const target = await delegatedClient(t.ctx, tenantId, 'viewer', [paris.id], ['ous:read', 'clients:write']);
    expectError(
      await assign(t.ctx, tenantId, admin.headers, { principal: { type: 'client', id: target.id }, role: 'tenant_admin', ou_id: paris.id }),
      403,
      'role_assignment.escalation',
    );
  });

  it("is bounded by its token's scopes too: a token without users:write cannot give user_manager", async () => {
    const world = await regionalTenant(t.ctx);
    const narrow = await delegatedClient(t.ctx, world.tenantId, 'ou_admin', [world.emea.id], ['ous:read', 'ous:write', 'roles:read', 'roles:write']);
    const target = await delegatedClient(t.ctx, world.tenantId, 'viewer', [world.paris.id]);
    expectError(
      await assign(t.ctx, world.tenantId, narrow.headers, { principal: { type: 'client', id: target.id }, role: 'user_manager', ou_id: world.paris.id }),
      403,
      'role_assignment.escalation',
    );
  });

  it('a scoped client with clients:write creates clients only within its own scopes and subtrees', async () => {
    const { tenantId, paris, americas, admin } = await emeaAdmin(t.ctx, 'tenant_admin');
    const clients = `${api(tenantId)}/clients`;
    const made = expectData(await send(t.ctx, 'POST', clients, admin.headers, { name: 'Paris bot', scopes: ['users:read'], ou_ids: [paris.id], role: 'viewer' }), 201);
    expectError(await send(t.ctx, 'POST', clients, admin.headers, { name: 'x', scopes: ['users:read'], ou_ids: [americas.id] }), 404, 'ou.not_found');
    expectError(await send(t.ctx, 'POST', clients, admin.headers, { name: 'x', scopes: ['users:read'] }), 403, 'role_assignment.escalation');
    expect((await send(t.ctx, 'POST', clients, admin.headers, { name: 'x', scopes: ['platform:admin'], ou_ids: [paris.id] })).statusCode).toBe(422);
    // It sees the client it made and itself (all their assignments lie in EMEA), nothing else.
    const listed = expectPage(await get(t.ctx, clients, admin.headers));
    expect(listed.data.map((c: { id: string }) => c.id).sort()).toEqual([admin.id, made.id].sort());
    expect(listed.pagination.total_items).toBe(2);
  });

  it('hides clients with a tenant-wide assignment or one outside its scope from a scoped reader', async () => {
    const { tenantId, americas, admin } = await emeaAdmin(t.ctx, 'tenant_admin');
    const wide = await delegatedClient(t.ctx, tenantId, 'tenant_admin', null);
    const outside = await delegatedClient(t.ctx, tenantId, 'viewer', [americas.id]);
    for (const client of [wide, outside]) {
      expectError(await get(t.ctx, `${api(tenantId)}/clients/${client.id}`, admin.headers), 404, 'client.not_found');
      expectError(await send(t.ctx, 'DELETE', `${api(tenantId)}/clients/${client.id}`, admin.headers), 404, 'client.not_found');
    }
  });
});

describe('scope follows the tree and the assignments on the next request (rule 7)', () => {
  it('an OU created under the subtree is in scope at once', async () => {
    const { tenantId, paris, admin } = await emeaAdmin(t.ctx);
    const fresh = await createOu(t.ctx, tenantId, { name: 'Nouveau', parent_id: paris.id });
    expectData(await get(t.ctx, `${api(tenantId)}/ous/${fresh.id}`, admin.headers));
    const user = await createUser(t.ctx, tenantId, { ou_id: fresh.id });
    expectData(await get(t.ctx, `${api(tenantId)}/users/${user.id}`, admin.headers));
  });

  it('an OU moved out by a tenant admin is out of scope on the next request', async () => {
    const { tenantId, paris, americas, users, admin } = await emeaAdmin(t.ctx);
    expectData(await get(t.ctx, `${api(tenantId)}/ous/${paris.id}`, admin.headers));
    expectData(await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${paris.id}`, t.ctx.platformHeaders, { parent_id: americas.id }));
    expectError(await get(t.ctx, `${api(tenantId)}/ous/${paris.id}`, admin.headers), 404, 'ou.not_found');
    expectError(await get(t.ctx, `${api(tenantId)}/users/${users.p1.id}`, admin.headers), 404, 'user.not_found');
    expect(expectPage(await get(t.ctx, `${api(tenantId)}/ous`, admin.headers)).pagination.total_items).toBe(2);
  });

  it('a deleted assignment stops working on the next request', async () => {
    const { tenantId, emea, admin } = await emeaAdmin(t.ctx);
    const list = expectPage(await get(t.ctx, `${api(tenantId)}/role-assignments`, t.ctx.platformHeaders, { principal_id: admin.id }));
    expect(list.data).toHaveLength(1);
    expectNoContent(await send(t.ctx, 'DELETE', `${api(tenantId)}/role-assignments/${list.data[0].id}`, t.ctx.platformHeaders));
    expectError(await get(t.ctx, `${api(tenantId)}/ous/${emea.id}`, admin.headers), 403, 'auth.no_role');
  });

  it('an expired assignment stops working without anyone deleting it', async () => {
    const world = await regionalTenant(t.ctx);
    const client = await delegatedClient(t.ctx, world.tenantId, 'viewer', [world.paris.id]);
    const expires = new Date(Date.now() + 1500).toISOString();
    expectData(
      await send(t.ctx, 'POST', `${api(world.tenantId)}/role-assignments`, t.ctx.platformHeaders, {
        principal: { type: 'client', id: client.id },
        role: 'viewer',
        ou_id: world.berlin.id,
        expires_at: expires,
      }),
      201,
    );
    expectData(await get(t.ctx, `${api(world.tenantId)}/ous/${world.berlin.id}`, client.headers));
    await new Promise((resolve) => setTimeout(resolve, Date.parse(expires) - Date.now() + 50));
    expectError(await get(t.ctx, `${api(world.tenantId)}/ous/${world.berlin.id}`, client.headers), 404, 'ou.not_found');
    expectData(await get(t.ctx, `${api(world.tenantId)}/ous/${world.paris.id}`, client.headers));
  });

  it('deleting an OU removes the assignments at it and below, with their events', async () => {
    const world = await regionalTenant(t.ctx);
    const client = await delegatedClient(t.ctx, world.tenantId, 'viewer', [world.paris.id]);
    expectNoContent(await send(t.ctx, 'DELETE', `${api(world.tenantId)}/ous/${world.emea.id}?strategy=CASCADE`, t.ctx.platformHeaders));
    const list = expectPage(await get(t.ctx, `${api(world.tenantId)}/role-assignments`, t.ctx.platformHeaders, { principal_id: client.id }));
    expect(list.data).toEqual([]);
    const feed = await get(t.ctx, `${api(world.tenantId)}/events`, t.ctx.platformHeaders, { type: 'role_assignment.deleted' });
    expect(feed.json().data.map((e: { data: { before: { principal: { id: string } } } }) => e.data.before.principal.id)).toEqual([client.id]);
    expectError(await get(t.ctx, `${api(world.tenantId)}/ous`, client.headers), 403, 'auth.no_role');
  });
});

describe('assignments on the change feed (rule 8)', () => {
  it('records every assignment change as an event with its actor', async () => {
    const { tenantId, paris, admin } = await emeaAdmin(t.ctx);
    const other = await delegatedClient(t.ctx, tenantId, 'viewer', [paris.id]);
    const created = expectData(
      await send(t.ctx, 'POST', `${api(tenantId)}/role-assignments`, admin.headers, { principal: { type: 'client', id: other.id }, role: 'user_manager', ou_id: paris.id }),
      201,
    );
    expectNoContent(await send(t.ctx, 'DELETE', `${api(tenantId)}/role-assignments/${created.id}`, admin.headers));
    const events = (await get(t.ctx, `${api(tenantId)}/events`, t.ctx.platformHeaders, { resource_id: created.id })).json().data;
    expect(events.map((e: { type: string }) => e.type)).toEqual(['role_assignment.created', 'role_assignment.deleted']);
    for (const event of events) expect(event.actor).toMatchObject({ type: 'client', id: admin.id });
    expect(events[0].data.after).toEqual({ principal: { type: 'client', id: other.id }, role: 'user_manager', ou_id: paris.id, expires_at: null });
  });

  it("shows a scoped reader only the events of resources in its subtrees, before or after", async () => {
    const { tenantId, paris, americas, users, admin } = await emeaAdmin(t.ctx);
    const start = (await get(t.ctx, `${api(tenantId)}/events`, t.ctx.platformHeaders, { limit: '1000' })).json().next as number;
    await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${americas.id}`, t.ctx.platformHeaders, { description: 'outside' });
    await send(t.ctx, 'PATCH', `${api(tenantId)}/ous/${paris.id}`, t.ctx.platformHeaders, { description: 'inside' });
    await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${users.a1.id}`, t.ctx.platformHeaders, { display_name: 'outside' });
    // Leaves EMEA: the reader sees it go (before was inside).
    await send(t.ctx, 'PATCH', `${api(tenantId)}/users/${users.p2.id}`, t.ctx.platformHeaders, { ou_id: americas.id });
    await send(t.ctx, 'PATCH', api(tenantId), t.ctx.platformHeaders, { name: 'Renamed tenant' });
    const seen = (await get(t.ctx, `${api(tenantId)}/events`, admin.headers, { after: String(start) })).json();
    expect(seen.data.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([paris.id, users.p2.id]);
    expect(JSON.stringify(seen)).not.toContain('outside');
    // Newest first (an OU's history in the console) is filtered the same way.
    const newestFirst = (await get(t.ctx, `${api(tenantId)}/events`, admin.headers, { after: String(start), order: 'desc' })).json();
    expect(newestFirst.data.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([users.p2.id, paris.id]);
    // The platform's feed has all five.
    const all = (await get(t.ctx, `${api(tenantId)}/events`, t.ctx.platformHeaders, { after: String(start) })).json();
    expect(all.data).toHaveLength(5);
  });
});

describe('role assignment endpoints', () => {
  it('lists only assignments at OUs inside a scoped reader\'s subtrees, tenant-wide ones hidden', async () => {
    const { tenantId, paris, americas, admin } = await emeaAdmin(t.ctx);
    const inside = await delegatedClient(t.ctx, tenantId, 'viewer', [paris.id]);
    await delegatedClient(t.ctx, tenantId, 'viewer', [americas.id]);
    await delegatedClient(t.ctx, tenantId, 'tenant_admin', null);
    const page = expectPage(await get(t.ctx, `${api(tenantId)}/role-assignments`, admin.headers));
    const principals = page.data.map((a: { principal: { id: string } }) => a.principal.id).sort();
    expect(principals).toEqual([admin.id, inside.id].sort());
    expect(page.pagination.total_items).toBe(2);
    const all = expectPage(await get(t.ctx, `${api(tenantId)}/role-assignments`, t.ctx.platformHeaders));
    expect(all.pagination.total_items).toBe(4);
  });

  it('refuses a duplicate, an expiry in the past, an unknown client and an unknown role', async () => {
    const { tenantId, paris } = await emeaAdmin(t.ctx);
    const client = await delegatedClient(t.ctx, tenantId, 'viewer', [paris.id]);
    const url = `${api(tenantId)}/role-assignments`;
    const principal = { type: 'client', id: client.id };
    expectError(await send(t.ctx, 'POST', url, t.ctx.platformHeaders, { principal, role: 'viewer', ou_id: paris.id }), 409, 'role_assignment.exists');
    const past = new Date(Date.now() - 60_000).toISOString();
    expect((await send(t.ctx, 'POST', url, t.ctx.platformHeaders, { principal, role: 'viewer', ou_id: null, expires_at: past })).statusCode).toBe(422);
    expect((await send(t.ctx, 'POST', url, t.ctx.platformHeaders, { principal: { type: 'client', id: 'cli_nope' }, role: 'viewer' })).statusCode).toBe(422);
    expect((await send(t.ctx, 'POST', url, t.ctx.platformHeaders, { principal, role: 'god' })).statusCode).toBe(422);
  });

  it('gives a client created without ou_ids a tenant-wide tenant_admin, and one with ou_ids scoped ones', async () => {
    const world = await regionalTenant(t.ctx);
    const wide = await delegatedClient(t.ctx, world.tenantId, 'tenant_admin', null);
    const scoped = await delegatedClient(t.ctx, world.tenantId, 'ou_admin', [world.paris.id, world.berlin.id]);
    const of = async (id: string) =>
      expectPage(await get(t.ctx, `${api(world.tenantId)}/role-assignments`, t.ctx.platformHeaders, { principal_id: id })).data.map(
        (a: { role: string; ou_id: string | null }) => `${a.role}@${a.ou_id}`,
      );
    expect(await of(wide.id)).toEqual(['tenant_admin@null']);
    expect((await of(scoped.id)).sort()).toEqual([`ou_admin@${world.berlin.id}`, `ou_admin@${world.paris.id}`].sort());
  });
});

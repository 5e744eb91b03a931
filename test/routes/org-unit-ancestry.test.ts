import { describe, expect, it } from 'vitest';
import { expectData, expectError, expectPage } from '../helpers/assertions.js';
import { delegatedClient, regionalTenant } from '../helpers/delegation.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useSharedApp } from '../helpers/test-app.js';

// GET …/ous/{ou_id}/ancestry: where an OU is in the tree its caller browses (docs/org-units.md).

const t = useSharedApp();
const ousUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous`;
const ancestry = (ctx: TestContext, tenantId: string, ouId: string, headers: Record<string, string>) =>
  ctx.app.inject({ method: 'GET', url: `${ousUrl(tenantId)}/${ouId}/ancestry`, headers });

interface Ancestor {
  id: string;
  name: string;
  path: string;
  parent_id: string | null;
  position: number;
  child_ou_count: number;
  nested_user_count: number;
}

/** Each ancestor is where its position says on the list a tree browser reads it from, at 2 per page. */
async function expectFoundWherePositioned(ctx: TestContext, tenantId: string, chain: Ancestor[], headers: Record<string, string>) {
  for (const [index, ancestor] of chain.entries()) {
    const query: Record<string, string> = index === 0 ? { top_level: 'true' } : { parent_id: chain[index - 1].id };
    const page = expectPage(
      await ctx.app.inject({ method: 'GET', url: ousUrl(tenantId), headers, query: { ...query, per_page: '2', page: String(Math.floor(ancestor.position / 2) + 1) } }),
    );
    expect(page.data[ancestor.position % 2]?.id, ancestor.path).toBe(ancestor.id);
  }
}

describe('GET /api/v1/tenants/{tenant_id}/ous/{ou_id}/ancestry', () => {
  it('returns the OU and its ancestors root first, each at its position among its siblings in path order, as the lists page them', async () => {
    const tenant = await createTenant(t.ctx);
    const tid = tenant.id;
    const beta = await createOu(t.ctx, tid, { name: 'Beta' });
    await createOu(t.ctx, tid, { name: 'Gamma' });
    await createOu(t.ctx, tid, { name: 'Alpha' });
    await createOu(t.ctx, tid, { name: 'c', parent_id: beta.id });
    const b = await createOu(t.ctx, tid, { name: 'b', parent_id: beta.id });
    await createOu(t.ctx, tid, { name: 'a', parent_id: beta.id });
    await createOu(t.ctx, tid, { name: 'k3', parent_id: b.id });
    const k2 = await createOu(t.ctx, tid, { name: 'k2', parent_id: b.id });
    await createOu(t.ctx, tid, { name: 'k1', parent_id: b.id });
    await createUser(t.ctx, tid, { ou_id: k2.id });
    const chain = expectData(await ancestry(t.ctx, tid, k2.id, t.ctx.platformHeaders)) as Ancestor[];
    expect(chain.map((ou) => [ou.path, ou.position])).toEqual([
      ['/Beta', 1],
      ['/Beta/b', 1],
      ['/Beta/b/k2', 1],
    ]);
    expect(chain[1]).toMatchObject({ id: b.id, parent_id: beta.id, child_ou_count: 3, nested_user_count: 1 });
    await expectFoundWherePositioned(t.ctx, tid, chain, t.ctx.platformHeaders);
  });

  it('follows a move: the OU\'s chain and positions are those of its new place', async () => {
    const world = await regionalTenant(t.ctx);
    const moved = await t.ctx.app.inject({ method: 'PATCH', url: `${ousUrl(world.tenantId)}/${world.paris.id}`, headers: t.ctx.platformHeaders, payload: { parent_id: world.americas.id } });
    expect(moved.statusCode).toBe(200);
    const chain = expectData(await ancestry(t.ctx, world.tenantId, world.paris.id, t.ctx.platformHeaders)) as Ancestor[];
    expect(chain.map((ou) => [ou.path, ou.position])).toEqual([
      ['/Acme', 0],
      ['/Acme/Americas', 0],
      ['/Acme/Americas/Paris', 0],
    ]);
    await expectFoundWherePositioned(t.ctx, world.tenantId, chain, t.ctx.platformHeaders);
  });

  it('starts a delegated administrator\'s chain at its subtree\'s root, positioned in its top level, and answers 404 outside its subtrees', async () => {
    const world = await regionalTenant(t.ctx);
    const admin = await delegatedClient(t.ctx, world.tenantId, 'viewer', [world.other.id, world.emea.id]);
    const chain = expectData(await ancestry(t.ctx, world.tenantId, world.berlin.id, admin.headers)) as Ancestor[];
    // Its top level is /Acme/EMEA then /Other, by path: nothing above EMEA is shown.
    expect(chain.map((ou) => [ou.path, ou.position])).toEqual([
      ['/Acme/EMEA', 0],
      ['/Acme/EMEA/Berlin', 0],
    ]);
    await expectFoundWherePositioned(t.ctx, world.tenantId, chain, admin.headers);
    const other = expectData(await ancestry(t.ctx, world.tenantId, world.other.id, admin.headers)) as Ancestor[];
    expect(other.map((ou) => [ou.path, ou.position])).toEqual([['/Other', 1]]);
    expectError(await ancestry(t.ctx, world.tenantId, world.americas.id, admin.headers), 404, 'ou.not_found');
    expectError(await ancestry(t.ctx, world.tenantId, world.acme.id, admin.headers), 404, 'ou.not_found');
  });

  it('answers 404 for an OU of another tenant and for an unknown OU, and 404 tenant.not_found for an unknown tenant', async () => {
    const a = await regionalTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const own = await t.ctx.headersFor(b.id);
    expectError(await ancestry(t.ctx, b.id, a.paris.id, own), 404, 'ou.not_found');
    expectError(await ancestry(t.ctx, b.id, 'ou_unknown', own), 404, 'ou.not_found');
    expectError(await ancestry(t.ctx, 'tnt_unknown', a.paris.id, t.ctx.platformHeaders), 404, 'tenant.not_found');
  });
});

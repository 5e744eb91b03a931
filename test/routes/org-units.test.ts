import { describe, expect, it } from 'vitest';
import { RFC3339_UTC, expectData, expectError, expectPage, expectValidation } from '../helpers/assertions.js';
import { createOu, createSampleTree, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';
import { encodeCursor } from '../../src/lib/cursor.js';

/*
 * OU endpoints: List, Create, Get, Update (PATCH), Tree, through the real app.
 * Delete lives in org-unit-delete.test.ts, users of an OU in org-unit-users.test.ts.
 */

const ous = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous`;
const ouUrl = (tenantId: string, ouId: string) => `${ous(tenantId)}/${ouId}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------- shape assertions ----------

/** Exactly the OUResponse fields. */
function expectOuResponse(ou: Record<string, unknown>) {
  expect(Object.keys(ou).sort()).toEqual(
    [
      'child_ou_count',
      'children',
      'created_at',
      'custom_attributes',
      'description',
      'external_id',
      'id',
      'name',
      'parent_id',
      'path',
      'updated_at',
      'user_count',
    ].sort(),
  );
  expect(ou.id).toMatch(/^ou_/);
  expect(ou.created_at).toMatch(RFC3339_UTC);
  expect(ou.updated_at).toMatch(RFC3339_UTC);
  expect(Array.isArray(ou.children)).toBe(true);
}

// ---------- request helpers ----------

function send(
  ctx: TestContext,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  options: { payload?: unknown; query?: Record<string, string>; headers?: Record<string, string> } = {},
) {
  return ctx.app.inject({
    method,
    url,
    headers: options.headers ?? ctx.platformHeaders,
    ...(options.query ? { query: options.query } : {}),
    ...(options.payload !== undefined ? { payload: options.payload as object } : {}),
  });
}

async function getOu(ctx: TestContext, tenantId: string, ouId: string) {
  return expectData(await send(ctx, 'GET', ouUrl(tenantId, ouId)));
}

async function getUser(ctx: TestContext, tenantId: string, userId: string) {
  return expectData(await send(ctx, 'GET', `/api/v1/tenants/${tenantId}/users/${userId}`));
}

/** Everything observable about a tenant's hierarchy: tree, every OU's detail, every user's placement. */
async function snapshot(ctx: TestContext, tenantId: string) {
  const tree = expectData(await send(ctx, 'GET', `${ous(tenantId)}/tree`));
  const list = expectPage(await send(ctx, 'GET', ous(tenantId), { query: { per_page: '100' } })).data;
  const details = [];
  for (const item of list) details.push(await getOu(ctx, tenantId, item.id));
  const users = expectPage(await send(ctx, 'GET', `/api/v1/tenants/${tenantId}/users`, { query: { per_page: '100' } })).data;
  return { tree, details, users };
}

// =====================================================================================

describe('POST /api/v1/tenants/{tenant_id}/ous (create)', () => {
  const t = useTestApp();

  it('returns 201 with the full OUResponse of a new root OU', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng' } }), 201);
    expectOuResponse(ou);
    expect(ou).toEqual({
      id: expect.stringMatching(/^ou_/),
      name: 'Eng',
      description: null,
      path: '/Eng',
      parent_id: null,
      child_ou_count: 0,
      user_count: 0,
      children: [],
      custom_attributes: null,
      external_id: null,
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: expect.stringMatching(RFC3339_UTC),
    });
    expect(await getOu(t.ctx, tenant.id, ou.id)).toEqual(ou);
  });

  it('trims surrounding whitespace from the name', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: '  Eng  ' } }), 201);
    expect(ou.name).toBe('Eng');
    expect(ou.path).toBe('/Eng');
  });

  it('accepts a name of exactly 255 characters', async () => {
    const tenant = await createTenant(t.ctx);
    const name = 'a'.repeat(255);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name } }), 201);
    expect(ou.name).toBe(name);
  });

  it('accepts a name that is 255 characters after trimming surrounding whitespace', async () => {
    // The schema documents the rule as "1-255 characters after trimming".
    const tenant = await createTenant(t.ctx);
    const name = 'a'.repeat(255);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: `  ${name}  ` } }), 201);
    expect(ou.name).toBe(name);
  });

  it('counts the 255-character limit in characters, not UTF-16 code units', async () => {
    // '🚀' is one character (one code point) but two UTF-16 code units.
    const tenant = await createTenant(t.ctx);
    const name = '🚀'.repeat(200);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name } }), 201);
    expect(ou.name).toBe(name);
  });

  describe('rejects an invalid name with 422 and creates nothing', () => {
    const cases: [string, unknown, string | undefined][] = [
      ['an empty name', '', undefined],
      ['a whitespace-only name', '   \t ', undefined],
      ['a name over 255 characters', 'a'.repeat(256), undefined],
      ["a name containing '/'", 'Eng/Backend', undefined],
      ['a name containing a control character', 'Bell\u0007', undefined],
      ['a name containing DEL', 'Del\u007f', undefined],
      ['a number as the name (no coercion)', 42, 'string_type'],
      ['null as the name', null, undefined],
    ];
    for (const [label, name, type] of cases) {
      it(`rejects ${label} at loc ['body','name']`, async () => {
        const tenant = await createTenant(t.ctx);
        expectValidation(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name } }), ['body', 'name'], type);
        const page = expectPage(await send(t.ctx, 'GET', ous(tenant.id)));
        expect(page.pagination.total_items).toBe(0);
      });
    }
  });

  it("rejects a missing name with type 'missing'", async () => {
    const tenant = await createTenant(t.ctx);
    expectValidation(await send(t.ctx, 'POST', ous(tenant.id), { payload: { description: 'x' } }), ['body', 'name'], 'missing');
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id))).pagination.total_items).toBe(0);
  });

  it("rejects an unknown field with type 'extra_forbidden' at its loc", async () => {
    const tenant = await createTenant(t.ctx);
    expectValidation(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', colour: 'blue' } }),
      ['body', 'colour'],
      'extra_forbidden',
    );
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id))).pagination.total_items).toBe(0);
  });

  it("rejects a body that is not JSON with type 'json_invalid'", async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: ous(tenant.id),
      headers: { ...t.ctx.platformHeaders, 'content-type': 'application/json' },
      payload: '{"name": "Eng",',
    });
    expectValidation(response, ['body'], 'json_invalid');
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id))).pagination.total_items).toBe(0);
  });

  it('rejects a request without a body with 422', async () => {
    const tenant = await createTenant(t.ctx);
    expectValidation(await send(t.ctx, 'POST', ous(tenant.id)), ['body'], 'missing');
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id))).pagination.total_items).toBe(0);
  });

  it("returns 409 'ou.name_conflict' for a sibling with the same name in another case", async () => {
    const tenant = await createTenant(t.ctx);
    const eng = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    await createOu(t.ctx, tenant.id, { name: 'Backend', parent_id: eng.id });
    const before = await snapshot(t.ctx, tenant.id);
    expectError(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'BACKEND', parent_id: eng.id } }),
      409,
      'ou.name_conflict',
    );
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
  });

  it("returns 409 'ou.name_conflict' for two roots 'Eng' and 'eng'", async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const before = await snapshot(t.ctx, tenant.id);
    expectError(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'eng' } }), 409, 'ou.name_conflict');
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
  });

  it('allows the same name under different parents', async () => {
    const tenant = await createTenant(t.ctx);
    const eng = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const sales = await createOu(t.ctx, tenant.id, { name: 'Sales' });
    const a = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Ops', parent_id: eng.id } }), 201);
    const b = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'ops', parent_id: sales.id } }), 201);
    expect([a.path, b.path]).toEqual(['/Eng/Ops', '/Sales/ops']);
  });

  it('allows the same name in two different tenants', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    await createOu(t.ctx, a.id, { name: 'Eng' });
    const ou = expectData(await send(t.ctx, 'POST', ous(b.id), { payload: { name: 'Eng' } }), 201);
    expect(ou.path).toBe('/Eng');
  });

  it('returns 404 for a parent_id that does not exist', async () => {
    const tenant = await createTenant(t.ctx);
    expectError(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', parent_id: 'ou_doesnotexist' } }),
      404,
      'ou.parent_not_found',
    );
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id))).pagination.total_items).toBe(0);
  });

  it('returns 404 for a parent_id of another tenant and creates nothing in either tenant', async () => {
    const mine = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const foreign = await createOu(t.ctx, other.id, { name: 'Foreign' });
    const otherBefore = await snapshot(t.ctx, other.id);
    expectError(
      await send(t.ctx, 'POST', ous(mine.id), { payload: { name: 'Eng', parent_id: foreign.id } }),
      404,
      'ou.parent_not_found',
    );
    expect(expectPage(await send(t.ctx, 'GET', ous(mine.id))).pagination.total_items).toBe(0);
    expect(await snapshot(t.ctx, other.id)).toEqual(otherBefore);
  });

  it("creates a child at '/Parent/Child' and increments the parent's child_ou_count", async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    const child = expectData(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Child', parent_id: parent.id } }),
      201,
    );
    expectOuResponse(child);
    expect(child).toMatchObject({ name: 'Child', path: '/Parent/Child', parent_id: parent.id, child_ou_count: 0 });
    const reread = await getOu(t.ctx, tenant.id, parent.id);
    expect(reread.child_ou_count).toBe(1);
    expect(reread.children).toEqual([{ ou_id: child.id, name: 'Child', path: '/Parent/Child', user_count: 0 }]);
    const grandchild = expectData(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Grandchild', parent_id: child.id } }),
      201,
    );
    expect(grandchild.path).toBe('/Parent/Child/Grandchild');
  });

  it('round-trips description and custom_attributes', async () => {
    const tenant = await createTenant(t.ctx);
    const custom_attributes = { cost_center: 'CC-1', budget: 12.5, tags: ['a', 'b'], nested: { on: true, none: null } };
    const created = expectData(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', description: 'Builds things', custom_attributes } }),
      201,
    );
    expect(created.description).toBe('Builds things');
    expect(created.custom_attributes).toEqual(custom_attributes);
    const reread = await getOu(t.ctx, tenant.id, created.id);
    expect(reread.description).toBe('Builds things');
    expect(reread.custom_attributes).toEqual(custom_attributes);
  });

  it("returns 404 'tenant.not_found' for an unknown tenant", async () => {
    expectError(await send(t.ctx, 'POST', ous('tnt_doesnotexist'), { payload: { name: 'Eng' } }), 404, 'tenant.not_found');
  });

  it("returns 404 'tenant.not_found' for an unknown tenant also when a parent_id is given, and 'ou.parent_not_found' in a known one", async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    expectError(await send(t.ctx, 'POST', ous('tnt_doesnotexist'), { payload: { name: 'Web', parent_id: parent.id } }), 404, 'tenant.not_found');
    expectError(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Web', parent_id: 'ou_doesnotexist' } }), 404, 'ou.parent_not_found');
  });
});

describe('OU depth limit (maxOuDepth 3)', () => {
  const t = useTestApp({ maxOuDepth: 3 });

  it("refuses the 4th level with 409 'ou.depth_exceeded' and creates nothing", async () => {
    const tenant = await createTenant(t.ctx);
    const l1 = await createOu(t.ctx, tenant.id, { name: 'L1' });
    const l2 = await createOu(t.ctx, tenant.id, { name: 'L2', parent_id: l1.id });
    const l3 = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'L3', parent_id: l2.id } }), 201);
    expect(l3.path).toBe('/L1/L2/L3');
    const before = await snapshot(t.ctx, tenant.id);
    expectError(
      await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'L4', parent_id: l3.id } }),
      409,
      'ou.depth_exceeded',
    );
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
  });

  it("refuses a move that would put the subtree deeper than the limit with 409 'ou.depth_exceeded'", async () => {
    const tenant = await createTenant(t.ctx);
    const a = await createOu(t.ctx, tenant.id, { name: 'A' });
    await createOu(t.ctx, tenant.id, { name: 'B', parent_id: a.id }); // subtree of A is 2 levels
    const c = await createOu(t.ctx, tenant.id, { name: 'C' });
    const d = await createOu(t.ctx, tenant.id, { name: 'D', parent_id: c.id });
    const before = await snapshot(t.ctx, tenant.id);
    // Under D: A at level 3, B at level 4.
    expectError(await send(t.ctx, 'PATCH', ouUrl(tenant.id, a.id), { payload: { parent_id: d.id } }), 409, 'ou.depth_exceeded');
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
  });

  it('allows a move that lands the deepest descendant exactly at the limit', async () => {
    const tenant = await createTenant(t.ctx);
    const a = await createOu(t.ctx, tenant.id, { name: 'A' });
    const b = await createOu(t.ctx, tenant.id, { name: 'B', parent_id: a.id });
    const c = await createOu(t.ctx, tenant.id, { name: 'C' });
    const moved = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, a.id), { payload: { parent_id: c.id } }));
    expect(moved.path).toBe('/C/A');
    expect((await getOu(t.ctx, tenant.id, b.id)).path).toBe('/C/A/B');
  });
});

// =====================================================================================

describe('GET /api/v1/tenants/{tenant_id}/ous/{ou_id}', () => {
  const t = useTestApp();

  it('counts direct child OUs and direct users only, and lists direct children with their own user_count', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const eng = await getOu(t.ctx, tenant.id, tree.eng.id);
    expectOuResponse(eng);
    expect(eng).toMatchObject({ id: tree.eng.id, name: 'Eng', path: '/Eng', parent_id: null, child_ou_count: 2, user_count: 2 });
    expect(eng.children).toEqual([
      { ou_id: tree.backend.id, name: 'Backend', path: '/Eng/Backend', user_count: 1 },
      { ou_id: tree.frontend.id, name: 'Frontend', path: '/Eng/Frontend', user_count: 0 },
    ]);
    const backend = await getOu(t.ctx, tenant.id, tree.backend.id);
    expect(backend).toMatchObject({ path: '/Eng/Backend', parent_id: tree.eng.id, child_ou_count: 1, user_count: 1 });
    expect(backend.children).toEqual([{ ou_id: tree.db.id, name: 'Db', path: '/Eng/Backend/Db', user_count: 1 }]);
    const db = await getOu(t.ctx, tenant.id, tree.db.id);
    expect(db).toMatchObject({ child_ou_count: 0, user_count: 1, children: [] });
  });

  it('answers an OU of more than 64 KB whole, as a small one: body, content-length, ETag, 304 and HEAD', async () => {
    const tenant = await createTenant(t.ctx);
    const wide = await createOu(t.ctx, tenant.id, { name: 'Wide' });
    const names = Array.from({ length: 140 }, (_, i) => `${String(i).padStart(3, '0')}${'x'.repeat(237)}`);
    for (const name of names) await createOu(t.ctx, tenant.id, { name, parent_id: wide.id });

    const response = await t.ctx.app.inject({ method: 'GET', url: ouUrl(tenant.id, wide.id), headers: t.ctx.platformHeaders });
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload.length).toBeGreaterThan(64 * 1024);
    expect(Number(response.headers['content-length'])).toBe(response.rawPayload.length);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = response.json();
    expectOuResponse(body.data);
    expect(body.data.children.map((child: { name: string }) => child.name)).toEqual(names);
    expect(body.meta.request_id).toBe(response.headers['x-request-id']);

    const etag = response.headers.etag as string;
    const again = await t.ctx.app.inject({ method: 'GET', url: ouUrl(tenant.id, wide.id), headers: { ...t.ctx.platformHeaders, 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
    const head = await t.ctx.app.inject({ method: 'HEAD', url: ouUrl(tenant.id, wide.id), headers: t.ctx.platformHeaders });
    expect(head.statusCode).toBe(200);
    expect(head.headers.etag).toBe(etag);
    expect(head.rawPayload.length).toBe(0);
  });

  it("returns 404 'ou.not_found' for an unknown OU", async () => {
    const tenant = await createTenant(t.ctx);
    expectError(await send(t.ctx, 'GET', ouUrl(tenant.id, 'ou_doesnotexist')), 404, 'ou.not_found');
  });

  it('returns 404 for an OU of another tenant', async () => {
    const owner = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, owner.id, { name: 'Eng' });
    expectError(await send(t.ctx, 'GET', ouUrl(other.id, ou.id)), 404, 'ou.not_found');
    // ...and it is still there for its own tenant.
    expect((await getOu(t.ctx, owner.id, ou.id)).id).toBe(ou.id);
  });

  it("returns 404 'tenant.not_found' for an unknown tenant", async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    expectError(await send(t.ctx, 'GET', ouUrl('tnt_doesnotexist', ou.id)), 404, 'tenant.not_found');
  });
});

// =====================================================================================

describe('PATCH /api/v1/tenants/{tenant_id}/ous/{ou_id}', () => {
  const t = useTestApp();

  async function setup() {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    return { tenantId: tenant.id, ...tree };
  }

  it('leaves absent fields unchanged', async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    const ou = await createOu(t.ctx, tenant.id, {
      name: 'Eng',
      parent_id: parent.id,
      description: 'old',
      custom_attributes: { k: 'v' },
    });
    const updated = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { description: 'new' } }));
    expectOuResponse(updated);
    expect(updated).toMatchObject({
      name: 'Eng',
      path: '/Parent/Eng',
      parent_id: parent.id,
      description: 'new',
      custom_attributes: { k: 'v' },
    });
    const empty = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: {} }));
    expect(empty).toMatchObject({ name: 'Eng', path: '/Parent/Eng', parent_id: parent.id, description: 'new', custom_attributes: { k: 'v' } });
  });

  it('rename rewrites the path of the OU and its whole subtree', async () => {
    const s = await setup();
    const renamed = expectData(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.eng.id), { payload: { name: '  Engineering ' } }));
    expect(renamed).toMatchObject({ name: 'Engineering', path: '/Engineering' });
    expect(renamed.children.map((c: { path: string }) => c.path)).toEqual(['/Engineering/Backend', '/Engineering/Frontend']);
    expect((await getOu(t.ctx, s.tenantId, s.backend.id)).path).toBe('/Engineering/Backend');
    expect((await getOu(t.ctx, s.tenantId, s.db.id)).path).toBe('/Engineering/Backend/Db');
    expect((await getOu(t.ctx, s.tenantId, s.frontend.id)).path).toBe('/Engineering/Frontend');
    expect((await getOu(t.ctx, s.tenantId, s.sales.id)).path).toBe('/Sales');
  });

  it('rename rewrites the subtree paths also when names contain characters outside the BMP', async () => {
    const tenant = await createTenant(t.ctx);
    const rocket = await createOu(t.ctx, tenant.id, { name: 'Rocket 🚀' });
    const child = await createOu(t.ctx, tenant.id, { name: 'Crew', parent_id: rocket.id });
    const renamed = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, rocket.id), { payload: { name: 'Launch' } }));
    expect(renamed.path).toBe('/Launch');
    expect((await getOu(t.ctx, tenant.id, child.id)).path).toBe('/Launch/Crew');
  });

  it("returns 409 'ou.name_conflict' when renaming to a sibling's name in another case, and changes nothing", async () => {
    const s = await setup();
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(
      await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.frontend.id), { payload: { name: 'BACKEND' } }),
      409,
      'ou.name_conflict',
    );
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it("returns 409 'ou.name_conflict' when renaming a root to another root's name", async () => {
    const s = await setup();
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.sales.id), { payload: { name: 'eng' } }), 409, 'ou.name_conflict');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('renames an OU to another case of its own name', async () => {
    const s = await setup();
    const renamed = expectData(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.eng.id), { payload: { name: 'ENG' } }));
    expect(renamed).toMatchObject({ name: 'ENG', path: '/ENG' });
    expect((await getOu(t.ctx, s.tenantId, s.db.id)).path).toBe('/ENG/Backend/Db');
  });

  it('moves an OU under another OU, rewriting subtree paths and both parents\' child_ou_count', async () => {
    const s = await setup();
    const moved = expectData(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.backend.id), { payload: { parent_id: s.sales.id } }));
    expectOuResponse(moved);
    expect(moved).toMatchObject({ parent_id: s.sales.id, path: '/Sales/Backend', child_ou_count: 1, user_count: 1 });
    expect((await getOu(t.ctx, s.tenantId, s.db.id)).path).toBe('/Sales/Backend/Db');
    const eng = await getOu(t.ctx, s.tenantId, s.eng.id);
    expect(eng.child_ou_count).toBe(1);
    expect(eng.children.map((c: { ou_id: string }) => c.ou_id)).toEqual([s.frontend.id]);
    const sales = await getOu(t.ctx, s.tenantId, s.sales.id);
    expect(sales.child_ou_count).toBe(1);
    expect(sales.children).toEqual([{ ou_id: s.backend.id, name: 'Backend', path: '/Sales/Backend', user_count: 1 }]);
    // Users stay in their OUs.
    expect((await getUser(t.ctx, s.tenantId, s.users.backend1.id)).ou_id).toBe(s.backend.id);
  });

  it('moves an OU to the root with parent_id null', async () => {
    const s = await setup();
    const moved = expectData(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.backend.id), { payload: { parent_id: null } }));
    expect(moved).toMatchObject({ parent_id: null, path: '/Backend' });
    expect((await getOu(t.ctx, s.tenantId, s.db.id)).path).toBe('/Backend/Db');
    expect((await getOu(t.ctx, s.tenantId, s.eng.id)).child_ou_count).toBe(1);
  });

  it('moves and renames in one request', async () => {
    const s = await setup();
    const moved = expectData(
      await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.backend.id), { payload: { parent_id: s.sales.id, name: 'Platform' } }),
    );
    expect(moved).toMatchObject({ name: 'Platform', path: '/Sales/Platform', parent_id: s.sales.id });
    expect((await getOu(t.ctx, s.tenantId, s.db.id)).path).toBe('/Sales/Platform/Db');
  });

  it("returns 409 'ou.cycle' when the new parent is the OU itself, and changes nothing", async () => {
    const s = await setup();
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.backend.id), { payload: { parent_id: s.backend.id } }), 409, 'ou.cycle');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it("returns 409 'ou.cycle' when the new parent is a descendant, and changes nothing", async () => {
    const s = await setup();
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.eng.id), { payload: { parent_id: s.db.id } }), 409, 'ou.cycle');
    expectError(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.eng.id), { payload: { parent_id: s.backend.id } }), 409, 'ou.cycle');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('returns 404 when the new parent belongs to another tenant, and changes nothing', async () => {
    const s = await setup();
    const other = await createTenant(t.ctx);
    const foreign = await createOu(t.ctx, other.id, { name: 'Foreign' });
    const before = await snapshot(t.ctx, s.tenantId);
    const otherBefore = await snapshot(t.ctx, other.id);
    expectError(
      await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.backend.id), { payload: { parent_id: foreign.id } }),
      404,
      'ou.parent_not_found',
    );
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
    expect(await snapshot(t.ctx, other.id)).toEqual(otherBefore);
  });

  it('returns 409 when moving into a level where the name already exists, and changes nothing', async () => {
    const s = await setup();
    const salesBackend = await createOu(t.ctx, s.tenantId, { name: 'backend', parent_id: s.sales.id });
    const before = await snapshot(t.ctx, s.tenantId);
    expectError(
      await send(t.ctx, 'PATCH', ouUrl(s.tenantId, salesBackend.id), { payload: { parent_id: s.eng.id } }),
      409,
      'ou.name_conflict',
    );
    // Also to the root level, where 'Eng' exists.
    const engTwin = await createOu(t.ctx, s.tenantId, { name: 'ENG', parent_id: s.sales.id });
    const before2 = await snapshot(t.ctx, s.tenantId);
    expect(before2.details.length).toBe(before.details.length + 1);
    expectError(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, engTwin.id), { payload: { parent_id: null } }), 409, 'ou.name_conflict');
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before2);
  });

  it('replaces custom_attributes as a whole object', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', custom_attributes: { a: 1, b: { c: 2 } } });
    const updated = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { custom_attributes: { d: 3 } } }));
    expect(updated.custom_attributes).toEqual({ d: 3 });
    expect((await getOu(t.ctx, tenant.id, ou.id)).custom_attributes).toEqual({ d: 3 });
  });

  it('clears custom_attributes with null', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', custom_attributes: { a: 1 } });
    const updated = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { custom_attributes: null } }));
    expect(updated.custom_attributes).toBeNull();
    expect((await getOu(t.ctx, tenant.id, ou.id)).custom_attributes).toBeNull();
  });

  it('clears description with null', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', description: 'text' });
    const updated = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { description: null } }));
    expect(updated.description).toBeNull();
    expect((await getOu(t.ctx, tenant.id, ou.id)).description).toBeNull();
  });

  it('leaves the name unchanged for name null', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const updated = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { name: null, description: 'd' } }));
    expect(updated).toMatchObject({ name: 'Eng', path: '/Eng', description: 'd' });
  });

  it("rejects an unknown field with 422 'extra_forbidden', and changes nothing", async () => {
    const s = await setup();
    const before = await snapshot(t.ctx, s.tenantId);
    expectValidation(
      await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.eng.id), { payload: { name: 'X', path: '/X' } }),
      ['body', 'path'],
      'extra_forbidden',
    );
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('rejects an invalid new name with 422, and changes nothing', async () => {
    const s = await setup();
    const before = await snapshot(t.ctx, s.tenantId);
    for (const name of ['', '   ', 'a/b', 'x\u0007', 'a'.repeat(256)]) {
      expectValidation(await send(t.ctx, 'PATCH', ouUrl(s.tenantId, s.eng.id), { payload: { name } }), ['body', 'name']);
    }
    expect(await snapshot(t.ctx, s.tenantId)).toEqual(before);
  });

  it('changes updated_at but not created_at', async () => {
    const tenant = await createTenant(t.ctx);
    const created = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng' } }), 201);
    await sleep(15);
    const updated = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, created.id), { payload: { description: 'x' } }));
    expect(updated.created_at).toBe(created.created_at);
    expect(updated.updated_at).toMatch(RFC3339_UTC);
    expect(updated.updated_at).not.toBe(created.updated_at);
    expect(Date.parse(updated.updated_at)).toBeGreaterThan(Date.parse(created.updated_at));
  });

  it("returns 404 'ou.not_found' for an unknown OU", async () => {
    const tenant = await createTenant(t.ctx);
    expectError(await send(t.ctx, 'PATCH', ouUrl(tenant.id, 'ou_doesnotexist'), { payload: { name: 'X' } }), 404, 'ou.not_found');
  });

  it('returns 404 for an OU of another tenant, and changes nothing', async () => {
    const owner = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, owner.id, { name: 'Eng' });
    const before = await snapshot(t.ctx, owner.id);
    expectError(await send(t.ctx, 'PATCH', ouUrl(other.id, ou.id), { payload: { name: 'Hijacked' } }), 404, 'ou.not_found');
    expect(await snapshot(t.ctx, owner.id)).toEqual(before);
  });
});

// =====================================================================================

describe('GET /api/v1/tenants/{tenant_id}/ous (list)', () => {
  const t = useTestApp();

  const list = (tenantId: string, query: Record<string, string> = {}) => send(t.ctx, 'GET', ous(tenantId), { query });
  const names = (body: { data: { name: string }[] }) => body.data.map((item) => item.name);

  it('defaults to page 1 and per_page 20, with list items {id, name, path, parent_id, user_count, child_ou_count, nested_user_count}', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const body = expectPage(await list(tenant.id));
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 5, total_pages: 1 });
    for (const item of body.data) expect(Object.keys(item).sort()).toEqual(['child_ou_count', 'id', 'name', 'nested_user_count', 'parent_id', 'path', 'user_count']);
    expect(body.data).toEqual([
      { id: tree.eng.id, name: 'Eng', path: '/Eng', parent_id: null, user_count: 2, child_ou_count: 2, nested_user_count: 4 },
      { id: tree.backend.id, name: 'Backend', path: '/Eng/Backend', parent_id: tree.eng.id, user_count: 1, child_ou_count: 1, nested_user_count: 2 },
      { id: tree.db.id, name: 'Db', path: '/Eng/Backend/Db', parent_id: tree.backend.id, user_count: 1, child_ou_count: 0, nested_user_count: 1 },
      { id: tree.frontend.id, name: 'Frontend', path: '/Eng/Frontend', parent_id: tree.eng.id, user_count: 0, child_ou_count: 0, nested_user_count: 0 },
      { id: tree.sales.id, name: 'Sales', path: '/Sales', parent_id: null, user_count: 0, child_ou_count: 0, nested_user_count: 0 },
    ]);
  });

  it('gives each item its nested_user_count, the total of its users with include_nested, after user and OU writes, on every kind of page', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    // A user moved from Db to Frontend, one placed in Sales, one deleted, and Backend moved under Sales.
    await send(t.ctx, 'PATCH', `/api/v1/tenants/${tenant.id}/users/${tree.users.db1.id}`, { payload: { ou_id: tree.frontend.id } });
    await createUser(t.ctx, tenant.id, { ou_id: tree.sales.id });
    expect((await send(t.ctx, 'DELETE', `/api/v1/tenants/${tenant.id}/users/${tree.users.eng2.id}`)).statusCode).toBe(204);
    await send(t.ctx, 'PATCH', ouUrl(tenant.id, tree.backend.id), { payload: { parent_id: tree.sales.id } });
    const nested = (body: { data: { name: string; nested_user_count: number }[] }) => Object.fromEntries(body.data.map((item) => [item.name, item.nested_user_count]));
    const expected = { Eng: 2, Frontend: 1, Sales: 2, Backend: 1, Db: 0 };
    expect(nested(expectPage(await list(tenant.id)))).toEqual(expected);
    for (const [name, count] of Object.entries(expected)) {
      const id = { Eng: tree.eng.id, Frontend: tree.frontend.id, Sales: tree.sales.id, Backend: tree.backend.id, Db: tree.db.id }[name]!;
      const users = expectPage(await send(t.ctx, 'GET', `${ouUrl(tenant.id, id)}/users`, { query: { include_nested: 'true' } }));
      expect(users.pagination.total_items, name).toBe(count);
    }
    const paged = {};
    for (const page of ['1', '2', '3']) Object.assign(paged, nested(expectPage(await list(tenant.id, { per_page: '2', page }))));
    expect(paged).toEqual(expected);
    expect(nested(expectPage(await list(tenant.id, { search: 'e' })))).toEqual({ Eng: 2, Frontend: 1, Sales: 2, Backend: 1 });
    expect(nested(expectPage(await list(tenant.id, { parent_id: tree.sales.id })))).toEqual({ Backend: 1 });
    expect(nested(expectPage(await list(tenant.id, { top_level: 'true' })))).toEqual({ Eng: 2, Sales: 2 });
  });

  it('gives each item its child_ou_count as it is after creates, moves and deletes, on every kind of page', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    await send(t.ctx, 'PATCH', ouUrl(tenant.id, tree.frontend.id), { payload: { parent_id: tree.sales.id } });
    await createOu(t.ctx, tenant.id, { name: 'Emea', parent_id: tree.sales.id });
    expect((await send(t.ctx, 'DELETE', `${ouUrl(tenant.id, tree.db.id)}?strategy=MOVE_UP`)).statusCode).toBe(204);
    const counts = (body: { data: { name: string; child_ou_count: number }[] }) => Object.fromEntries(body.data.map((item) => [item.name, item.child_ou_count]));
    const expected = { Eng: 1, Backend: 0, Sales: 2, Frontend: 0, Emea: 0 };
    expect(counts(expectPage(await list(tenant.id)))).toEqual(expected);
    // Page by page (the whole list's one-statement page on PostgreSQL), a search, children, the top level.
    const paged = {};
    for (const page of ['1', '2', '3']) Object.assign(paged, counts(expectPage(await list(tenant.id, { per_page: '2', page }))));
    expect(paged).toEqual(expected);
    expect(counts(expectPage(await list(tenant.id, { search: 'e' })))).toEqual({ Eng: 1, Backend: 0, Sales: 2, Frontend: 0, Emea: 0 });
    expect(counts(expectPage(await list(tenant.id, { parent_id: tree.sales.id })))).toEqual({ Frontend: 0, Emea: 0 });
    expect(counts(expectPage(await list(tenant.id, { top_level: 'true' })))).toEqual({ Eng: 1, Sales: 2 });
  });

  it('lists only the OUs with no parent with top_level=true, paged and searchable', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const support = await createOu(t.ctx, tenant.id, { name: 'Support' });
    const top = expectPage(await list(tenant.id, { top_level: 'true' }));
    expect(top.data.map((item: { id: string }) => item.id)).toEqual([tree.eng.id, tree.sales.id, support.id]);
    expect(top.pagination).toEqual({ page: 1, per_page: 20, total_items: 3, total_pages: 1 });
    const second = expectPage(await list(tenant.id, { top_level: 'true', per_page: '2', page: '2' }));
    expect(names(second)).toEqual(['Support']);
    expect(second.pagination).toEqual({ page: 2, per_page: 2, total_items: 3, total_pages: 2 });
    // 'end' is in Frontend and Backend too, which are not at the top.
    expect(names(expectPage(await list(tenant.id, { top_level: 'true', search: 's' })))).toEqual(['Sales', 'Support']);
    expect(names(expectPage(await list(tenant.id, { top_level: 'false', per_page: '100' })))).toHaveLength(6);
  });

  it('walks the top level by next_cursor as by page number, and a cursor of the whole list is refused there', async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['D', 'B', 'A', 'C', 'E']) {
      const root = await createOu(t.ctx, tenant.id, { name });
      await createOu(t.ctx, tenant.id, { name: `${name} child`, parent_id: root.id });
    }
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const body: { data: { name: string }[]; next_cursor: string | null } = expectPage(await list(tenant.id, { top_level: 'true', per_page: '2', ...(cursor ? { cursor } : {}) }));
      walked.push(...names(body));
      cursor = body.next_cursor;
    } while (cursor !== null);
    expect(walked).toEqual(['A', 'B', 'C', 'D', 'E']);
    const whole = expectPage(await list(tenant.id, { per_page: '2' }));
    expect((await list(tenant.id, { top_level: 'true', per_page: '2', cursor: whole.next_cursor })).statusCode).toBe(422);
  });

  it('accepts cursors of the whole list and of a search as the instances before top_level issued them (a rolling upgrade)', async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['A', 'B', 'C']) await createOu(t.ctx, tenant.id, { name });
    // Their listing ids then: kind, tenant, parent, search, scope; nothing for the top level.
    const whole = encodeCursor(['ous', tenant.id, null, null, null], { after: '/A', offset: 1 });
    expect(names(expectPage(await list(tenant.id, { per_page: '1', cursor: whole })))).toEqual(['B']);
    const search = encodeCursor(['ous', tenant.id, null, 'b', null], { after: '/A', offset: 1 });
    expect(names(expectPage(await list(tenant.id, { per_page: '1', search: 'b', cursor: search })))).toEqual(['B']);
  });

  it("rejects top_level=true with parent_id with 422 at loc ['query','top_level']", async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    expectValidation(await list(tenant.id, { top_level: 'true', parent_id: tree.eng.id }), ['query', 'top_level']);
    expectValidation(await list(tenant.id, { top_level: 'maybe' }), ['query', 'top_level']);
  });

  it('returns at most 20 items by default', async () => {
    const tenant = await createTenant(t.ctx);
    for (let i = 0; i < 21; i++) await createOu(t.ctx, tenant.id, { name: `OU ${String(i).padStart(2, '0')}` });
    const body = expectPage(await list(tenant.id));
    expect(body.data).toHaveLength(20);
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 21, total_pages: 2 });
  });

  it("rejects page 0 with 422 at loc ['query','page']", async () => {
    const tenant = await createTenant(t.ctx);
    expectValidation(await list(tenant.id, { page: '0' }), ['query', 'page']);
  });

  it('rejects per_page 0 and 101 with 422 instead of clamping', async () => {
    const tenant = await createTenant(t.ctx);
    expectValidation(await list(tenant.id, { per_page: '0' }), ['query', 'per_page']);
    expectValidation(await list(tenant.id, { per_page: '101' }), ['query', 'per_page']);
    expectPage(await list(tenant.id, { per_page: '100' }));
    expectPage(await list(tenant.id, { per_page: '1' }));
  });

  it('rejects a non-integer per_page with 422', async () => {
    const tenant = await createTenant(t.ctx);
    expectValidation(await list(tenant.id, { per_page: 'abc' }), ['query', 'per_page'], 'int_parsing');
  });

  it('orders by path', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id, { name: 'B' });
    const a = await createOu(t.ctx, tenant.id, { name: 'A' });
    await createOu(t.ctx, tenant.id, { name: 'x', parent_id: a.id });
    const body = expectPage(await list(tenant.id));
    expect(body.data.map((item: { path: string }) => item.path)).toEqual(['/A', '/A/x', '/B']);
  });

  it('filters by a case-insensitive substring of the name with search', async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['Engineering', 'Sales', 'Reengineering Lab', 'Support']) await createOu(t.ctx, tenant.id, { name });
    const body = expectPage(await list(tenant.id, { search: 'ENGIN' }));
    expect(names(body).sort()).toEqual(['Engineering', 'Reengineering Lab']);
    expect(body.pagination.total_items).toBe(2);
    expect(names(expectPage(await list(tenant.id, { search: 's' }))).sort()).toEqual(['Sales', 'Support']);
    expect(names(expectPage(await list(tenant.id, { search: 'lAB' })))).toEqual(['Reengineering Lab']);
  });

  it("matches '%', '_' and '\\' in search literally", async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['100%', 'a_b', 'back\\slash', 'plain', 'ab']) await createOu(t.ctx, tenant.id, { name });
    const percent = expectPage(await list(tenant.id, { search: '%' }));
    expect(names(percent)).toEqual(['100%']);
    expect(percent.pagination.total_items).toBe(1);
    const underscore = expectPage(await list(tenant.id, { search: '_' }));
    expect(names(underscore)).toEqual(['a_b']);
    expect(underscore.pagination.total_items).toBe(1);
    const backslash = expectPage(await list(tenant.id, { search: '\\' }));
    expect(names(backslash)).toEqual(['back\\slash']);
    expect(backslash.pagination.total_items).toBe(1);
    expect(names(expectPage(await list(tenant.id, { search: 'a_' })))).toEqual(['a_b']);
  });

  it('lists direct children only with parent_id', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const body = expectPage(await list(tenant.id, { parent_id: tree.eng.id }));
    expect(body.data.map((item: { id: string }) => item.id)).toEqual([tree.backend.id, tree.frontend.id]);
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 2, total_pages: 1 });
    const leaf = expectPage(await list(tenant.id, { parent_id: tree.frontend.id }));
    expect(leaf.data).toEqual([]);
    expect(leaf.pagination.total_items).toBe(0);
  });

  it('combines parent_id and search', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const body = expectPage(await list(tenant.id, { parent_id: tree.eng.id, search: 'front' }));
    expect(names(body)).toEqual(['Frontend']);
  });

  it('returns 404 for a parent_id filter naming an OU of another tenant', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const foreign = await createOu(t.ctx, other.id, { name: 'Foreign' });
    expectError(await list(tenant.id, { parent_id: foreign.id }), 404, 'ou.parent_not_found');
  });

  it('computes total_pages as ceil(total_items / per_page)', async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['A', 'B', 'C', 'D', 'E']) await createOu(t.ctx, tenant.id, { name });
    const first = expectPage(await list(tenant.id, { per_page: '2' }));
    expect(first.pagination).toEqual({ page: 1, per_page: 2, total_items: 5, total_pages: 3 });
    expect(names(first)).toEqual(['A', 'B']);
    const second = expectPage(await list(tenant.id, { per_page: '2', page: '2' }));
    expect(names(second)).toEqual(['C', 'D']);
    const third = expectPage(await list(tenant.id, { per_page: '2', page: '3' }));
    expect(third.pagination).toEqual({ page: 3, per_page: 2, total_items: 5, total_pages: 3 });
    expect(names(third)).toEqual(['E']);
    const beyond = expectPage(await list(tenant.id, { per_page: '2', page: '4' }));
    expect(beyond.data).toEqual([]);
    expect(beyond.pagination.total_items).toBe(5);
  });

  it('reports total_pages 0 and no data for a tenant without OUs', async () => {
    const tenant = await createTenant(t.ctx);
    const body = expectPage(await list(tenant.id));
    expect(body.data).toEqual([]);
    expect(body.pagination).toEqual({ page: 1, per_page: 20, total_items: 0, total_pages: 0 });
  });

  it('never lists OUs of another tenant', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    await createOu(t.ctx, other.id, { name: 'Foreign' });
    const mine = await createOu(t.ctx, tenant.id, { name: 'Mine' });
    const body = expectPage(await list(tenant.id));
    expect(body.data.map((item: { id: string }) => item.id)).toEqual([mine.id]);
    expect(body.pagination.total_items).toBe(1);
  });

  it('reflects user_count changes of list items', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    const body = expectPage(await list(tenant.id));
    expect(body.data).toEqual([{ id: ou.id, name: 'Eng', path: '/Eng', parent_id: null, user_count: 3, child_ou_count: 0, nested_user_count: 3 }]);
  });

  it("returns 404 'tenant.not_found' for an unknown tenant", async () => {
    expectError(await list('tnt_doesnotexist'), 404, 'tenant.not_found');
  });
});

// =====================================================================================

describe('GET /api/v1/tenants/{tenant_id}/ous/tree', () => {
  const t = useTestApp();
  const tree = (tenantId: string) => send(t.ctx, 'GET', `${ous(tenantId)}/tree`);

  it('nests every OU of the tenant, siblings ordered by name, nodes {id, name, path, children}', async () => {
    const tenant = await createTenant(t.ctx);
    const zeta = await createOu(t.ctx, tenant.id, { name: 'Zeta' });
    const alpha = await createOu(t.ctx, tenant.id, { name: 'Alpha' });
    const mid = await createOu(t.ctx, tenant.id, { name: 'Mid' });
    const gamma = await createOu(t.ctx, tenant.id, { name: 'Gamma', parent_id: alpha.id });
    const beta = await createOu(t.ctx, tenant.id, { name: 'Beta', parent_id: alpha.id });
    const delta = await createOu(t.ctx, tenant.id, { name: 'Delta', parent_id: alpha.id });
    const deep2 = await createOu(t.ctx, tenant.id, { name: 'Deep2', parent_id: beta.id });
    const deep1 = await createOu(t.ctx, tenant.id, { name: 'Deep1', parent_id: beta.id });
    const leaf = (ou: { id: string; name: string; path: string }) => ({ id: ou.id, name: ou.name, path: ou.path, children: [] });

    const data = expectData(await tree(tenant.id));
    expect(data).toEqual([
      {
        id: alpha.id,
        name: 'Alpha',
        path: '/Alpha',
        children: [
          { id: beta.id, name: 'Beta', path: '/Alpha/Beta', children: [leaf(deep1), leaf(deep2)] },
          leaf(delta),
          leaf(gamma),
        ],
      },
      leaf(mid),
      leaf(zeta),
    ]);
    expect(deep1.path).toBe('/Alpha/Beta/Deep1');
  });

  it('returns data [] for an empty tenant', async () => {
    const tenant = await createTenant(t.ctx);
    expect(expectData(await tree(tenant.id))).toEqual([]);
  });

  it('never shows OUs of another tenant', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const foreignRoot = await createOu(t.ctx, other.id, { name: 'Foreign' });
    await createOu(t.ctx, other.id, { name: 'ForeignChild', parent_id: foreignRoot.id });
    const mine = await createOu(t.ctx, tenant.id, { name: 'Mine' });
    expect(expectData(await tree(tenant.id))).toEqual([{ id: mine.id, name: 'Mine', path: '/Mine', children: [] }]);
    const empty = await createTenant(t.ctx);
    expect(expectData(await tree(empty.id))).toEqual([]);
  });

  it('reflects a move in the nesting', async () => {
    const tenant = await createTenant(t.ctx);
    const s = await createSampleTree(t.ctx, tenant.id);
    expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, s.backend.id), { payload: { parent_id: s.sales.id } }));
    const data = expectData(await tree(tenant.id));
    expect(data).toEqual([
      { id: s.eng.id, name: 'Eng', path: '/Eng', children: [{ id: s.frontend.id, name: 'Frontend', path: '/Eng/Frontend', children: [] }] },
      {
        id: s.sales.id,
        name: 'Sales',
        path: '/Sales',
        children: [
          {
            id: s.backend.id,
            name: 'Backend',
            path: '/Sales/Backend',
            children: [{ id: s.db.id, name: 'Db', path: '/Sales/Backend/Db', children: [] }],
          },
        ],
      },
    ]);
  });

  it("returns 404 'tenant.not_found' for an unknown tenant", async () => {
    expectError(await tree('tnt_doesnotexist'), 404, 'tenant.not_found');
  });
});

// =====================================================================================

describe('auth on OU routes', () => {
  const t = useTestApp();

  it("returns 401 with a 'Bearer' challenge without a token", async () => {
    const tenant = await createTenant(t.ctx);
    for (const [method, url] of [
      ['GET', ous(tenant.id)],
      ['POST', ous(tenant.id)],
      ['GET', `${ous(tenant.id)}/tree`],
    ] as const) {
      const response = await t.ctx.app.inject({ method, url, ...(method === 'POST' ? { payload: { name: 'Eng' } } : {}) });
      expectError(response, 401, 'auth.missing_token');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id))).pagination.total_items).toBe(0);
  });

  it("returns 403 'auth.wrong_tenant' for a token of tenant A on tenant B's OU routes", async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, b.id, { name: 'Eng' });
    const headers = await t.ctx.headersFor(a.id);
    const before = await snapshot(t.ctx, b.id);
    expectError(await send(t.ctx, 'GET', ouUrl(b.id, ou.id), { headers }), 403, 'auth.wrong_tenant');
    expectError(await send(t.ctx, 'GET', ous(b.id), { headers }), 403, 'auth.wrong_tenant');
    expectError(await send(t.ctx, 'PATCH', ouUrl(b.id, ou.id), { headers, payload: { name: 'Hijacked' } }), 403, 'auth.wrong_tenant');
    expectError(await send(t.ctx, 'POST', ous(b.id), { headers, payload: { name: 'Injected' } }), 403, 'auth.wrong_tenant');
    expect(await snapshot(t.ctx, b.id)).toEqual(before);
    // The same token works on its own tenant.
    expectData(await send(t.ctx, 'POST', ous(a.id), { headers, payload: { name: 'Own' } }), 201);
  });

  it("returns 403 'auth.insufficient_scope' for a POST with only 'ous:read'", async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['ous:read']);
    expectError(await send(t.ctx, 'POST', ous(tenant.id), { headers, payload: { name: 'Eng' } }), 403, 'auth.insufficient_scope');
    expect(expectPage(await send(t.ctx, 'GET', ous(tenant.id), { headers })).pagination.total_items).toBe(0);
  });
});

// =====================================================================================

describe('external_id on OUs', () => {
  const t = useTestApp();

  /** Every event of the tenant, oldest first (GET .../events, as in change-feed.test.ts). */
  async function events(ctx: TestContext, tenantId: string) {
    const response = await send(ctx, 'GET', `/api/v1/tenants/${tenantId}/events`, { query: { limit: '1000' } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().data as { type: string; resource: { type: string; id: string }; data: { before: unknown; after: unknown } }[];
  }

  it('answers external_id null for an OU created without one', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng' } }), 201);
    expect(ou.external_id).toBeNull();
    expect((await getOu(t.ctx, tenant.id, ou.id)).external_id).toBeNull();
  });

  it('stores an external_id given at create and shows it in GET', async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    for (const [name, parentId] of [['Root', null], ['Child', parent.id]] as const) {
      const externalId = `entryuuid-${name}`;
      const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name, parent_id: parentId, external_id: externalId } }), 201);
      expectOuResponse(ou);
      expect(ou.external_id).toBe(externalId);
      expect(await getOu(t.ctx, tenant.id, ou.id)).toEqual(ou);
    }
  });

  it('accepts an external_id of exactly 255 characters', async () => {
    const tenant = await createTenant(t.ctx);
    const externalId = 'g'.repeat(255);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', external_id: externalId } }), 201);
    expect((await getOu(t.ctx, tenant.id, ou.id)).external_id).toBe(externalId);
  });

  it('answers 409 ou.external_id_conflict for an external_id another OU of the tenant has, and changes nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    const holder = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Holder', external_id: 'guid-1' } }), 201);
    const before = await snapshot(t.ctx, tenant.id);
    const eventsBefore = await events(t.ctx, tenant.id);
    // At the root and under a parent, with a name free at that level.
    for (const parentId of [null, parent.id]) {
      expectError(
        await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Other', parent_id: parentId, external_id: 'guid-1' } }),
        409,
        'ou.external_id_conflict',
      );
    }
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
    expect(await getOu(t.ctx, tenant.id, holder.id)).toEqual(holder);
    expect(await events(t.ctx, tenant.id)).toEqual(eventsBefore);
  });

  it('answers 409 ou.external_id_conflict for a PATCH to an external_id another OU has, and changes nothing', async () => {
    const tenant = await createTenant(t.ctx);
    await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Holder', external_id: 'guid-1' } });
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', external_id: 'guid-2' } }), 201);
    const before = await snapshot(t.ctx, tenant.id);
    const eventsBefore = await events(t.ctx, tenant.id);
    expectError(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: 'guid-1', description: 'x' } }), 409, 'ou.external_id_conflict');
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
    expect(await getOu(t.ctx, tenant.id, ou.id)).toEqual(ou);
    expect(await events(t.ctx, tenant.id)).toEqual(eventsBefore);
  });

  it('lets two tenants use the same external_id', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const inA = expectData(await send(t.ctx, 'POST', ous(a.id), { payload: { name: 'Eng', external_id: 'shared-guid' } }), 201);
    const inB = expectData(await send(t.ctx, 'POST', ous(b.id), { payload: { name: 'Eng', external_id: 'shared-guid' } }), 201);
    expect((await getOu(t.ctx, a.id, inA.id)).external_id).toBe('shared-guid');
    expect((await getOu(t.ctx, b.id, inB.id)).external_id).toBe('shared-guid');
    // Also by PATCH: an OU of B takes an external_id A already uses.
    const later = await createOu(t.ctx, b.id, { name: 'Sales' });
    await send(t.ctx, 'POST', ous(a.id), { payload: { name: 'Sales', external_id: 'a-only' } });
    expect(expectData(await send(t.ctx, 'PATCH', ouUrl(b.id, later.id), { payload: { external_id: 'a-only' } })).external_id).toBe('a-only');
  });

  it('lets many OUs of a tenant have no external_id', async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['A', 'B', 'C']) {
      expect(expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name, external_id: null } }), 201).external_id).toBeNull();
    }
  });

  it('clears external_id with null in PATCH and leaves it with the field absent', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', external_id: 'guid-1' } }), 201);
    const kept = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { description: 'd' } }));
    expect(kept.external_id).toBe('guid-1');
    expect((await getOu(t.ctx, tenant.id, ou.id)).external_id).toBe('guid-1');
    const cleared = expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: null } }));
    expect(cleared.external_id).toBeNull();
    expect(cleared.description).toBe('d');
    expect((await getOu(t.ctx, tenant.id, ou.id)).external_id).toBeNull();
  });

  it('replaces external_id with a new value in PATCH, freeing the old one for another OU', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', external_id: 'old-guid' } }), 201);
    expect(expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: 'new-guid' } })).external_id).toBe('new-guid');
    const other = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Sales', external_id: 'old-guid' } }), 201);
    expect((await getOu(t.ctx, tenant.id, other.id)).external_id).toBe('old-guid');
    expect((await getOu(t.ctx, tenant.id, ou.id)).external_id).toBe('new-guid');
  });

  it('answers 200 and changes nothing, not even updated_at, for a PATCH giving the OU its own external_id', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Eng', external_id: 'guid-1' } }), 201);
    const eventsBefore = await events(t.ctx, tenant.id);
    await sleep(15);
    expect(expectData(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: 'guid-1' } }))).toEqual(ou);
    expect(await events(t.ctx, tenant.id)).toEqual(eventsBefore);
  });

  it('rejects an empty or 256-character external_id with 422', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const before = await snapshot(t.ctx, tenant.id);
    for (const externalId of ['', 'g'.repeat(256), 7]) {
      expectValidation(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'New', external_id: externalId } }), ['body', 'external_id']);
      expectValidation(await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: externalId } }), ['body', 'external_id']);
    }
    expect(await snapshot(t.ctx, tenant.id)).toEqual(before);
  });

  it("carries external_id in an ou.created event's after", async () => {
    const tenant = await createTenant(t.ctx);
    const plain = await createOu(t.ctx, tenant.id, { name: 'Plain' });
    const sourced = expectData(await send(t.ctx, 'POST', ous(tenant.id), { payload: { name: 'Sourced', external_id: 'guid-1' } }), 201);
    const created = (await events(t.ctx, tenant.id)).filter((e) => e.type === 'ou.created');
    expect(created.map((e) => [e.resource.id, e.data])).toEqual([
      [plain.id, { before: null, after: { name: 'Plain', path: '/Plain', parent_id: null, description: null, custom_attributes: null, external_id: null } }],
      [sourced.id, { before: null, after: { name: 'Sourced', path: '/Sourced', parent_id: null, description: null, custom_attributes: null, external_id: 'guid-1' } }],
    ]);
  });

  it("records external_id in the event's before and after when a PATCH changes it", async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: 'guid-1' } });
    await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: 'guid-2', description: 'd' } });
    await send(t.ctx, 'PATCH', ouUrl(tenant.id, ou.id), { payload: { external_id: null } });
    const updated = (await events(t.ctx, tenant.id)).filter((e) => e.type === 'ou.updated');
    expect(updated.map((e) => [e.resource.id, e.data])).toEqual([
      [ou.id, { before: { external_id: null }, after: { external_id: 'guid-1' } }],
      [ou.id, { before: { description: null, external_id: 'guid-1' }, after: { description: 'd', external_id: 'guid-2' } }],
      [ou.id, { before: { external_id: 'guid-2' }, after: { external_id: null } }],
    ]);
  });
});

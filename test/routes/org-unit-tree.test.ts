import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { treeResponseChunks } from '../../src/http/tree-json.js';
import { compareCodePoints } from '../../src/services/org-unit-service.js';
import { expectData } from '../helpers/assertions.js';
import { createOu, createTenant } from '../helpers/factories.js';
import { useTestApp } from '../helpers/test-app.js';

/*
 * GET /api/v1/tenants/{tenant_id}/ous/tree is streamed as JSON text written by hand
 * (src/http/tree-json.ts) rather than by the schema's serializer: these tests hold that text to
 * the documented schema, to the sibling order, and to the chunking.
 */

interface TreeNode {
  id: string;
  name: string;
  path: string;
  children: TreeNode[];
}

const treeUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous/tree`;

describe('GET /api/v1/tenants/{tenant_id}/ous/tree', () => {
  const t = useTestApp();

  function validatorForTreeResponse() {
    // The schemas exactly as the app registered them (and as /openapi.json publishes them).
    const ajv = new Ajv({ strict: false });
    for (const schema of Object.values(t.ctx.app.getSchemas())) ajv.addSchema(schema as object);
    return ajv.getSchema('ApiResponse_list_OUTreeNode__') ?? (() => { throw new Error('tree response schema not registered'); })();
  }

  it('answers a body that matches ApiResponse_list_OUTreeNode__ with content type application/json', async () => {
    const tenant = await createTenant(t.ctx);
    const a = await createOu(t.ctx, tenant.id, { name: 'A "quoted" \\ name' });
    await createOu(t.ctx, tenant.id, { name: 'Child 🌲', parent_id: a.id });
    await createOu(t.ctx, tenant.id, { name: 'B' });
    const response = await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: t.ctx.platformHeaders });
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const validate = validatorForTreeResponse();
    expect(validate(response.json()), JSON.stringify(validate.errors)).toBe(true);
    // event_seq: the feed position the tree reflects (tenant.created and three ou.created).
    expect(response.json().meta).toEqual({ request_id: response.headers['x-request-id'], timestamp: expect.any(String), event_seq: 4 });
    expect(expectData(response)).toEqual([
      { id: a.id, name: 'A "quoted" \\ name', path: '/A "quoted" \\ name', children: [{ id: expect.any(String), name: 'Child 🌲', path: '/A "quoted" \\ name/Child 🌲', children: [] }] },
      { id: expect.any(String), name: 'B', path: '/B', children: [] },
    ]);
  });

  it('answers [] for a tenant without OUs, still matching the schema', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: t.ctx.platformHeaders });
    expect(expectData(response)).toEqual([]);
    expect(validatorForTreeResponse()(response.json())).toBe(true);
  });

  it('orders siblings by name case-insensitively and by code point, characters beyond U+FFFF after U+FFxx', async () => {
    const tenant = await createTenant(t.ctx);
    // By UTF-16 units '🌲' (U+1F332, a surrogate pair) would sort before 'ｆ' (U+FF46).
    for (const name of ['🌲 tree', 'ｆull', 'beta', 'Alpha', 'alpha2', 'Ärger']) await createOu(t.ctx, tenant.id, { name });
    const roots = expectData(await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: t.ctx.platformHeaders })) as TreeNode[];
    expect(roots.map((n) => n.name)).toEqual(['Alpha', 'alpha2', 'beta', 'Ärger', 'ｆull', '🌲 tree']);
  });

  it("lists an OU's children in the same order as the tree does, on every store, also for non-ASCII names", async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    for (const name of ['beta', 'Ärger', 'alpha', 'Zulu', 'ｆull', '🌲 tree']) await createOu(t.ctx, tenant.id, { name, parent_id: parent.id });
    const tree = expectData(await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: t.ctx.platformHeaders })) as TreeNode[];
    const detail = expectData(await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/${parent.id}`, headers: t.ctx.platformHeaders }));
    const treeOrder = tree[0].children.map((n) => n.name);
    expect(treeOrder).toEqual(['alpha', 'beta', 'Zulu', 'Ärger', 'ｆull', '🌲 tree']);
    expect(detail.children.map((c: { name: string }) => c.name)).toEqual(treeOrder);
  });

  it('writes a tree larger than one chunk as one valid document with every node once', async () => {
    const tenant = await createTenant(t.ctx);
    const long = 'x'.repeat(240);
    const parents = [];
    for (let p = 0; p < 4; p++) parents.push(await createOu(t.ctx, tenant.id, { name: `P${p} ${long}` }));
    for (let c = 0; c < 240; c++) await createOu(t.ctx, tenant.id, { name: `C${String(c).padStart(3, '0')} ${long}`, parent_id: parents[c % 4].id });
    const response = await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: t.ctx.platformHeaders });
    expect(response.body.length).toBeGreaterThan(2 * 64 * 1024);
    const roots = expectData(response) as TreeNode[];
    expect(roots).toHaveLength(4);
    expect(roots.flatMap((r) => r.children)).toHaveLength(240);
    for (const root of roots) expect(root.children.every((child) => child.path === `${root.path}/${child.name}`)).toBe(true);
    expect(validatorForTreeResponse()(response.json())).toBe(true);
  });
});

describe('treeResponseChunks', () => {
  const leaf = (id: string): { id: string; name: string; children: never[] } => ({ id, name: id, children: [] });

  it('yields text that parses to exactly the nodes and meta given, nested, paths composed from the names', () => {
    const roots = [{ ...leaf('a'), children: [leaf('b'), { ...leaf('c'), children: [leaf('d')] }] }, leaf('e')];
    const text = [...treeResponseChunks(roots, { request_id: 'r' })].join('');
    expect(JSON.parse(text)).toEqual({
      data: [
        { id: 'a', name: 'a', path: '/a', children: [{ id: 'b', name: 'b', path: '/a/b', children: [] }, { id: 'c', name: 'c', path: '/a/c', children: [{ id: 'd', name: 'd', path: '/a/c/d', children: [] }] }] },
        { id: 'e', name: 'e', path: '/e', children: [] },
      ],
      meta: { request_id: 'r' },
    });
  });

  it('yields pieces of about 64 KiB, not the whole text at once', () => {
    const roots = Array.from({ length: 3000 }, (_, i) => leaf(`node-${i}-${'y'.repeat(60)}`));
    const chunks = [...treeResponseChunks(roots, {})];
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBeLessThan(64 * 1024 + 512);
    expect(JSON.parse(chunks.join('')).data).toHaveLength(3000);
  });
});

describe('compareCodePoints', () => {
  it('orders like a binary UTF-8 collation, also where UTF-16 order differs', () => {
    const values = ['b', 'a', '\uFF46', '\u{1F332}', '\uE000', 'ab', ''];
    const byBytes = [...values].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...values].sort(compareCodePoints)).toEqual(byBytes);
    expect(compareCodePoints('\u{1F332}', '\uFF46')).toBe(1);
  });
});

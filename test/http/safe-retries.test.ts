import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectData, expectError, expectValidation } from '../helpers/assertions.js';
import { createOu, createSampleTree, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useSharedApp } from '../helpers/test-app.js';

/*
 * ETags and conditional requests, Idempotency-Key, and dry runs (docs/events.md).
 * Each test makes its own tenant, so one app serves the whole file.
 */

const t = useSharedApp();
const api = (tenantId: string) => `/api/v1/tenants/${tenantId}`;

const get = (ctx: TestContext, url: string, headers: Record<string, string> = {}) =>
  ctx.app.inject({ method: 'GET', url, headers: { ...ctx.platformHeaders, ...headers } });
const send = (ctx: TestContext, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = {}) =>
  ctx.app.inject({ method, url, ...(payload ? { payload } : {}), headers: { ...ctx.platformHeaders, ...headers } });

/** The tenant's newest event seq. */
async function head(ctx: TestContext, tenantId: string): Promise<number> {
  return (await get(ctx, `${api(tenantId)}/events?limit=1000`)).json().next;
}

async function treeOf(ctx: TestContext, tenantId: string) {
  return (await get(ctx, `${api(tenantId)}/ous/tree`)).json().data;
}

describe('ETag and If-None-Match', () => {
  it('gives every single-resource answer a strong ETag, and 304 with no body to a GET naming it', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const user = await createUser(t.ctx, tenant.id);
    const client = (await send(t.ctx, 'POST', `${api(tenant.id)}/clients`, { name: 'c', scopes: ['ous:read'] })).json().data;
    for (const url of [api(tenant.id), `${api(tenant.id)}/ous/${ou.id}`, `${api(tenant.id)}/users/${user.id}`, `${api(tenant.id)}/clients/${client.id}`]) {
      const first = await get(t.ctx, url);
      const etag = first.headers.etag as string;
      expect(etag, url).toMatch(/^"[A-Za-z0-9_-]+"$/);
      const again = await get(t.ctx, url, { 'if-none-match': etag });
      expect(again.statusCode, url).toBe(304);
      expect(again.body).toBe('');
      expect(again.headers.etag).toBe(etag);
      expect((await get(t.ctx, url, { 'if-none-match': '"stale"' })).statusCode).toBe(200);
    }
  });

  it('answers POST and PATCH with the ETag a GET then shows', async () => {
    const tenant = await createTenant(t.ctx);
    const created = await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Eng' });
    const id = created.json().data.id;
    expect((await get(t.ctx, `${api(tenant.id)}/ous/${id}`)).headers.etag).toBe(created.headers.etag);
    const patched = await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${id}`, { description: 'd' });
    expect(patched.headers.etag).not.toBe(created.headers.etag);
    expect((await get(t.ctx, `${api(tenant.id)}/ous/${id}`)).headers.etag).toBe(patched.headers.etag);
  });

  it("changes an OU's ETag when a user is placed in one of its children (the body lists children with their counts)", async () => {
    const tenant = await createTenant(t.ctx);
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    const child = await createOu(t.ctx, tenant.id, { name: 'Child', parent_id: parent.id });
    const grandchild = await createOu(t.ctx, tenant.id, { name: 'Grandchild', parent_id: child.id });
    const before = (await get(t.ctx, `${api(tenant.id)}/ous/${parent.id}`)).headers.etag;
    // A user two levels down is not in the parent's body: its ETag stays.
    await createUser(t.ctx, tenant.id, { ou_id: grandchild.id });
    expect((await get(t.ctx, `${api(tenant.id)}/ous/${parent.id}`)).headers.etag).toBe(before);
    await createUser(t.ctx, tenant.id, { ou_id: child.id });
    expect((await get(t.ctx, `${api(tenant.id)}/ous/${parent.id}`)).headers.etag).not.toBe(before);
  });
});

describe('a PATCH of the values a resource already has', () => {
  it('changes nothing: the same ETag and updated_at, and no event', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', description: 'd', custom_attributes: { cc: 1 } });
    const user = await createUser(t.ctx, tenant.id, { email: 'ada@x.io', display_name: 'Ada', ou_id: ou.id });
    const seq = await head(t.ctx, tenant.id);
    const cases: [string, object][] = [
      [`${api(tenant.id)}/ous/${ou.id}`, { name: 'Eng', description: 'd', custom_attributes: { cc: 1 }, parent_id: null }],
      [`${api(tenant.id)}/users/${user.id}`, { email: 'ada@x.io', display_name: 'Ada', ou_id: ou.id, status: 'active' }],
      [api(tenant.id), { name: tenant.name }],
    ];
    for (const [url, body] of cases) {
      const before = await get(t.ctx, url);
      const patched = await send(t.ctx, 'PATCH', url, body);
      expect(patched.statusCode, url).toBe(200);
      expect(patched.headers.etag, url).toBe(before.headers.etag);
      expect(patched.json().data.updated_at, url).toBe(before.json().data.updated_at);
    }
    expect(await head(t.ctx, tenant.id)).toBe(seq);
  });

  it('counts custom_attributes in another key order as the same: nothing changes', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', custom_attributes: { a: 1, b: { c: 2, d: 3 } } });
    const url = `${api(tenant.id)}/ous/${ou.id}`;
    const before = await get(t.ctx, url);
    const seq = await head(t.ctx, tenant.id);
    const patched = await send(t.ctx, 'PATCH', url, { custom_attributes: { b: { d: 3, c: 2 }, a: 1 } });
    expect(patched.headers.etag).toBe(before.headers.etag);
    expect(await head(t.ctx, tenant.id)).toBe(seq);
  });

  it('still checks If-Match: a stale ETag gets 412 even when nothing would change', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    expectError(await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${ou.id}`, { name: 'Eng' }, { 'if-match': '"stale"' }), 412, 'precondition_failed');
  });
});

describe('If-Match', () => {
  it('refuses a PATCH or DELETE with a stale ETag with 412 and the current ETag, changing nothing and writing no event', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const user = await createUser(t.ctx, tenant.id);
    const cases: [string, 'PATCH' | 'DELETE', object | undefined][] = [
      [`${api(tenant.id)}/ous/${ou.id}`, 'PATCH', { name: 'Other' }],
      [`${api(tenant.id)}/ous/${ou.id}`, 'DELETE', undefined],
      [`${api(tenant.id)}/users/${user.id}`, 'PATCH', { display_name: 'X' }],
      [`${api(tenant.id)}/users/${user.id}`, 'DELETE', undefined],
      [api(tenant.id), 'PATCH', { name: 'Renamed' }],
      [api(tenant.id), 'DELETE', undefined],
    ];
    const seq = await head(t.ctx, tenant.id);
    for (const [url, method, body] of cases) {
      const current = (await get(t.ctx, url)).headers.etag;
      const refused = await send(t.ctx, method, url, body, { 'if-match': '"not-the-current-one"' });
      expectError(refused, 412, 'precondition_failed');
      expect(refused.headers.etag, `${method} ${url}`).toBe(current);
      expect((await get(t.ctx, url)).headers.etag).toBe(current);
    }
    expect(await head(t.ctx, tenant.id)).toBe(seq);
  });

  it('lets a write with the current ETag or * through', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const url = `${api(tenant.id)}/ous/${ou.id}`;
    const etag = (await get(t.ctx, url)).headers.etag as string;
    expect(expectData(await send(t.ctx, 'PATCH', url, { name: 'R&D' }, { 'if-match': `"x", ${etag}` })).name).toBe('R&D');
    expect((await send(t.ctx, 'PATCH', url, { name: 'Lab' }, { 'if-match': '*' })).statusCode).toBe(200);
    const client = (await send(t.ctx, 'POST', `${api(tenant.id)}/clients`, { name: 'c', scopes: ['ous:read'] })).json().data;
    const clientUrl = `${api(tenant.id)}/clients/${client.id}`;
    expectError(await send(t.ctx, 'DELETE', clientUrl, undefined, { 'if-match': '"old"' }), 412, 'precondition_failed');
    expect((await send(t.ctx, 'DELETE', clientUrl, undefined, { 'if-match': (await get(t.ctx, clientUrl)).headers.etag as string })).statusCode).toBe(204);
  });

  it('lets exactly one of two concurrent PATCHes with the same ETag win', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const url = `${api(tenant.id)}/ous/${ou.id}`;
    const etag = (await get(t.ctx, url)).headers.etag as string;
    const answers = await Promise.all(['First', 'Second'].map((name) => send(t.ctx, 'PATCH', url, { name }, { 'if-match': etag })));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
    const winner = answers.find((a) => a.statusCode === 200)?.json().data.name;
    expect(expectData(await get(t.ctx, url)).name).toBe(winner);
  });
});

describe('Idempotency-Key', () => {
  it('replays a retried POST with the same status, body and ETag and Idempotent-Replayed, creating one OU and one event', async () => {
    const tenant = await createTenant(t.ctx);
    const seq = await head(t.ctx, tenant.id);
    const headers = { 'idempotency-key': 'create-eng-1' };
    const first = await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Eng' }, headers);
    const retry = await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Eng' }, headers);
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers.etag).toBe(first.headers.etag);
    expect(await treeOf(t.ctx, tenant.id)).toHaveLength(1);
    expect(await head(t.ctx, tenant.id)).toBe(seq + 1);
  });

  it('replays a PATCH, and treats the same body with its keys in another order as the same request', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const url = `${api(tenant.id)}/ous/${ou.id}`;
    const headers = { 'idempotency-key': 'patch-1' };
    const first = await send(t.ctx, 'PATCH', url, { name: 'R&D', description: 'd' }, headers);
    const retry = await send(t.ctx, 'PATCH', url, { description: 'd', name: 'R&D' }, headers);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
  });

  it('refuses the same key with another body or URL with 422 idempotency.key_reused, changing nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = { 'idempotency-key': 'reused' };
    await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Eng' }, headers);
    const seq = await head(t.ctx, tenant.id);
    expectValidation(await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Sales' }, headers), ['header', 'idempotency-key'], 'idempotency.key_reused');
    expectValidation(await send(t.ctx, 'POST', `${api(tenant.id)}/users`, { email: 'a@x.io' }, headers), ['header', 'idempotency-key'], 'idempotency.key_reused');
    expect(await head(t.ctx, tenant.id)).toBe(seq);
  });

  it('keeps keys apart per client: another client with the same key gets its own result', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = { 'idempotency-key': 'shared-key' };
    const mine = await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Mine' }, headers);
    const other = await t.ctx.app.inject({
      method: 'POST',
      url: `${api(tenant.id)}/ous`,
      payload: { name: 'Theirs' },
      headers: { ...(await t.ctx.headersFor(tenant.id)), ...headers },
    });
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json().data.id).not.toBe(mine.json().data.id);
  });

  it('keeps keys apart per tenant: the same client and key on another tenant gets its own result', async () => {
    const [a, b] = [await createTenant(t.ctx), await createTenant(t.ctx)];
    const headers = { 'idempotency-key': 'per-tenant' };
    const inA = await send(t.ctx, 'POST', `${api(a.id)}/ous`, { name: 'Eng' }, headers);
    const inB = await send(t.ctx, 'POST', `${api(b.id)}/ous`, { name: 'Eng' }, headers);
    expect([inA.statusCode, inB.statusCode]).toEqual([201, 201]);
    expect(inB.headers['idempotent-replayed']).toBeUndefined();
    expect(await treeOf(t.ctx, a.id)).toHaveLength(1);
    expect(await treeOf(t.ctx, b.id)).toHaveLength(1);
  });

  it('replays user and tenant writes too', async () => {
    const tenant = await createTenant(t.ctx);
    for (const [method, url, body] of [
      ['POST', `${api(tenant.id)}/users`, { email: 'replayed@x.io' }],
      ['PATCH', api(tenant.id), { name: 'Replayed' }],
      ['POST', '/api/v1/tenants', { name: 'Replayed tenant' }],
    ] as const) {
      const headers = { 'idempotency-key': `replay ${method} ${url}` };
      const first = await send(t.ctx, method, url, body, headers);
      const retry = await send(t.ctx, method, url, body, headers);
      expect(first.statusCode, url).toBeLessThan(300);
      expect(retry.headers['idempotent-replayed'], url).toBe('true');
      expect(retry.json(), url).toEqual(first.json());
    }
    expect((await get(t.ctx, `${api(tenant.id)}/users`)).json().data).toHaveLength(1);
  });

  it('stores nothing for a refused request: the same key with a corrected body then succeeds', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id, { name: 'Taken' });
    const headers = { 'idempotency-key': 'fix-and-retry' };
    expectError(await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'taken' }, headers), 409, 'ou.name_conflict');
    expectValidation(await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: '' }, headers));
    const fixed = await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Free' }, headers);
    expect(fixed.statusCode).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a control character', 'bad\u0007key'],
  ])('refuses a key that is %s with 422 at header.idempotency-key', async (_label, key) => {
    const tenant = await createTenant(t.ctx);
    const response = await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Eng' }, { 'idempotency-key': key });
    expectValidation(response, ['header', 'idempotency-key']);
    expect(await treeOf(t.ctx, tenant.id)).toEqual([]);
  });

  it('answers 409 idempotency.in_progress while the first request with the key still runs, and takes over a claim that lapsed', async () => {
    const tenant = await createTenant(t.ctx);
    const url = `${api(tenant.id)}/ous`;
    const now = Date.now();
    // What the first request holds while it runs on some instance (services/idempotency-service.ts).
    const claim = (key: string, claimedUntil: number) => ({
      scope: `${tenant.id} arbor:test-platform`,
      key,
      fingerprint: createHash('sha256').update(`POST ${url}\n{"name":"Eng"}`).digest('base64url'),
      claim: 'another-request',
      claimed_until: new Date(claimedUntil).toISOString(),
      response_status: null,
      response_headers: null,
      response_body: null,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 3_600_000).toISOString(),
    });
    await t.ctx.store.db.insertInto('idempotency_keys').values([claim('running', now + 60_000), claim('lapsed', now - 1)]).execute();
    expectError(await send(t.ctx, 'POST', url, { name: 'Eng' }, { 'idempotency-key': 'running' }), 409, 'idempotency.in_progress');
    expect(await treeOf(t.ctx, tenant.id)).toEqual([]);
    // The instance holding 'lapsed' died: the retry runs.
    expect((await send(t.ctx, 'POST', url, { name: 'Eng' }, { 'idempotency-key': 'lapsed' })).statusCode).toBe(201);
  });

  it('creates once when two requests with one key race', async () => {
    const tenant = await createTenant(t.ctx);
    const answers = await Promise.all([1, 2].map(() => send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'Raced' }, { 'idempotency-key': 'race' })));
    const statuses = answers.map((a) => a.statusCode).sort();
    // One creates; the other replays it (it came after the commit) or is told it is in progress.
    expect([[201, 201], [201, 409]]).toContainEqual(statuses);
    expect(await treeOf(t.ctx, tenant.id)).toHaveLength(1);
  });

  it('replays a client creation without its secret, and stores no secret', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = { 'idempotency-key': 'new-client' };
    const first = await send(t.ctx, 'POST', `${api(tenant.id)}/clients`, { name: 'sync', scopes: ['ous:read'] }, headers);
    const secret = first.json().data.client_secret as string;
    expect(secret.length).toBeGreaterThan(20);
    const retry = await send(t.ctx, 'POST', `${api(tenant.id)}/clients`, { name: 'sync', scopes: ['ous:read'] }, headers);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json().data).toEqual({ ...first.json().data, client_secret: null });
    // The secret is answered once and never cached, replay or not; the ETag is the client's as GET shows it.
    expect([first.headers['cache-control'], retry.headers['cache-control']]).toEqual(['no-store', 'no-store']);
    const got = await get(t.ctx, `${api(tenant.id)}/clients/${first.json().data.id}`);
    expect([first.headers.etag, retry.headers.etag]).toEqual([got.headers.etag, got.headers.etag]);
    const stored = await t.ctx.store.db.selectFrom('idempotency_keys').selectAll().where('key', '=', 'new-client').execute();
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(secret);
  });
});

describe('dry_run', () => {
  it.each([
    ['BLOCK', 'frontend', { ous_deleted: 1, ous_moved: 0, users_moved: 0 }],
    ['MOVE_UP', 'backend', { ous_deleted: 1, ous_moved: 1, users_moved: 1 }],
    ['CASCADE', 'eng', { ous_deleted: 4, ous_moved: 0, users_moved: 4 }],
  ] as const)('answers a %s delete with what it would do, changes nothing and writes no event; the real delete then does that', async (strategy, which, outcome) => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const url = `${api(tenant.id)}/ous/${tree[which].id}?strategy=${strategy}`;
    const before = { tree: await treeOf(t.ctx, tenant.id), seq: await head(t.ctx, tenant.id) };
    expect(expectData(await send(t.ctx, 'DELETE', `${url}&dry_run=true`))).toEqual(outcome);
    expect({ tree: await treeOf(t.ctx, tenant.id), seq: await head(t.ctx, tenant.id) }).toEqual(before);
    expect((await send(t.ctx, 'DELETE', url)).statusCode).toBe(204);
    const events = (await get(t.ctx, `${api(tenant.id)}/events?after=${before.seq}`)).json().data as { type: string }[];
    expect(events.filter((e) => e.type === 'ou.deleted')).toHaveLength(outcome.ous_deleted);
    expect(events.filter((e) => e.type === 'ou.moved')).toHaveLength(outcome.ous_moved);
    expect(events.filter((e) => e.type === 'user.moved')).toHaveLength(outcome.users_moved);
  });

  it('checks If-Match as the real call does: 412 with a stale ETag, the dry run with the current one', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const url = `${api(tenant.id)}/ous/${tree.frontend.id}`;
    const etag = (await get(t.ctx, url)).headers.etag as string;
    expectError(await send(t.ctx, 'DELETE', `${url}?dry_run=true`, undefined, { 'if-match': '"stale"' }), 412, 'precondition_failed');
    expectError(await send(t.ctx, 'PATCH', `${url}?dry_run=true`, { name: 'UI' }, { 'if-match': '"stale"' }), 412, 'precondition_failed');
    expect((await send(t.ctx, 'DELETE', `${url}?dry_run=true`, undefined, { 'if-match': etag })).statusCode).toBe(200);
    expect((await send(t.ctx, 'PATCH', `${url}?dry_run=true`, { name: 'UI' }, { 'if-match': etag })).statusCode).toBe(200);
    expect((await get(t.ctx, url)).headers.etag).toBe(etag);
  });

  it('answers a dry-run delete with the same 409 as the real one', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    expectError(await send(t.ctx, 'DELETE', `${api(tenant.id)}/ous/${tree.eng.id}?dry_run=true`), 409, 'ou.not_empty');
  });

  it('answers a dry-run PATCH with the OU as it would be and how many descendant paths would change, changing nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const before = { tree: await treeOf(t.ctx, tenant.id), seq: await head(t.ctx, tenant.id) };
    const response = await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${tree.eng.id}?dry_run=true`, { name: 'R&D' });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toMatchObject({ id: tree.eng.id, name: 'R&D', path: '/R&D' });
    expect(response.json().meta.dry_run).toEqual({ descendant_paths_changed: 3 });
    const moved = await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${tree.db.id}?dry_run=true`, { parent_id: tree.sales.id });
    expect(moved.json().data.path).toBe('/Sales/Db');
    expect(moved.json().meta.dry_run).toEqual({ descendant_paths_changed: 0 });
    expect({ tree: await treeOf(t.ctx, tenant.id), seq: await head(t.ctx, tenant.id) }).toEqual(before);
    expectError(await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${tree.eng.id}?dry_run=true`, { parent_id: tree.db.id }), 409, 'ou.cycle');
    expectError(await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${tree.eng.id}?dry_run=true`, { name: 'sales' }), 409, 'ou.name_conflict');
  });
});

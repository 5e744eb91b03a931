import { describe, expect, it } from 'vitest';
import { type EventData, createEventService } from '../../src/services/event-service.js';
import { ChangeSignal } from '../../src/services/change-signal.js';
import { expectError, expectValidation } from '../helpers/assertions.js';
import { createOu, createSampleTree, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useSharedApp } from '../helpers/test-app.js';

/*
 * GET /api/v1/tenants/{tenant_id}/events: the change feed and audit log (docs/events.md).
 * Each test makes its own tenant, so one app serves the whole file.
 */

const t = useSharedApp();
const api = (tenantId: string) => `/api/v1/tenants/${tenantId}`;

/** An event as the feed answers it. */
type Event = EventData;

async function feed(ctx: TestContext, tenantId: string, query: Record<string, string> = {}, headers = ctx.platformHeaders) {
  const response = await ctx.app.inject({ method: 'GET', url: `${api(tenantId)}/events`, query, headers });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as { data: Event[]; next: number };
}

/** Every event of the tenant after `after`, page by page. */
async function allEvents(ctx: TestContext, tenantId: string, after = 0): Promise<Event[]> {
  const events: Event[] = [];
  for (;;) {
    const page = await feed(ctx, tenantId, { after: String(after), limit: '1000' });
    events.push(...page.data);
    if (page.data.length === 0) return events;
    after = page.next;
  }
}

const send = (ctx: TestContext, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = {}) =>
  ctx.app.inject({ method, url, payload, headers: { ...ctx.platformHeaders, ...headers } });

describe('the change feed', () => {
  it('reads on from next_cursor exactly as from after=next, with the filters it was taken under, and refuses one of another feed with 422', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    for (const name of ['A', 'B', 'C', 'D']) await createOu(t.ctx, tenant.id, { name });
    const expected = await allEvents(t.ctx, tenant.id);
    const byCursor: Event[] = [];
    let page = await feed(t.ctx, tenant.id, { limit: '2' });
    for (;;) {
      byCursor.push(...page.data);
      if (page.data.length === 0) break;
      const cursor = (page as unknown as { next_cursor: string }).next_cursor;
      const byAfter = await feed(t.ctx, tenant.id, { limit: '2', after: String(page.next) });
      page = await feed(t.ctx, tenant.id, { limit: '2', cursor });
      expect(page.data).toEqual(byAfter.data);
    }
    expect(byCursor).toEqual(expected);
    // Filters are part of the cursor: ou.* read on by cursor lists only OU events.
    const ous = await feed(t.ctx, tenant.id, { type: 'ou.*', limit: '1' });
    const rest = await feed(t.ctx, tenant.id, { type: 'ou.*', cursor: (ous as unknown as { next_cursor: string }).next_cursor });
    expect([...ous.data, ...rest.data].map((e) => e.type)).toEqual(['ou.created', 'ou.created', 'ou.created', 'ou.created']);
    const cursor = (ous as unknown as { next_cursor: string }).next_cursor;
    for (const [tenantId, query] of [
      [tenant.id, { cursor }],
      [tenant.id, { cursor, type: 'user.*' }],
      [other.id, { cursor, type: 'ou.*' }],
      [tenant.id, { cursor: 'garbage' }],
    ] as const) {
      const response = await t.ctx.app.inject({ method: 'GET', url: `${api(tenantId)}/events`, query, headers: t.ctx.platformHeaders });
      expectValidation(response, ['query', 'cursor'], 'value_error.cursor');
    }
  });

  it('records every write as one event per resource, with seqs 1, 2, 3, … and no gap', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    const user = await createUser(t.ctx, tenant.id, { ou_id: ou.id });
    await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${ou.id}`, { description: 'builders' });
    await send(t.ctx, 'PATCH', `${api(tenant.id)}/users/${user.id}`, { display_name: 'Ada' });
    await send(t.ctx, 'DELETE', `${api(tenant.id)}/users/${user.id}`);
    await send(t.ctx, 'PATCH', api(tenant.id), { name: 'Renamed tenant' });
    const events = await allEvents(t.ctx, tenant.id);
    expect(events.map((e) => [e.seq, e.type, e.resource])).toEqual([
      [1, 'tenant.created', { type: 'tenant', id: tenant.id }],
      [2, 'ou.created', { type: 'ou', id: ou.id }],
      [3, 'user.created', { type: 'user', id: user.id }],
      [4, 'ou.updated', { type: 'ou', id: ou.id }],
      [5, 'user.updated', { type: 'user', id: user.id }],
      [6, 'user.deleted', { type: 'user', id: user.id }],
      [7, 'tenant.updated', { type: 'tenant', id: tenant.id }],
    ]);
    expect(events[6].data).toEqual({ before: { name: tenant.name }, after: { name: 'Renamed tenant' } });
    expect(events.every((e) => /^evt_/.test(e.id) && e.tenant_id === tenant.id)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('carries before and after of the fields that changed, and nothing else', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', description: 'old' });
    await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${ou.id}`, { description: 'new', custom_attributes: { cost_center: 7 } });
    const [created, updated] = (await allEvents(t.ctx, tenant.id)).slice(1);
    expect(created.data).toEqual({
      before: null,
      after: { name: 'Eng', path: '/Eng', parent_id: null, description: 'old', custom_attributes: null, external_id: null },
    });
    expect(updated.data).toEqual({ before: { description: 'old', custom_attributes: null }, after: { description: 'new', custom_attributes: { cost_center: 7 } } });
  });

  it('records a rename as one ou.updated with the old and new path, not one event per descendant', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const before = (await feed(t.ctx, tenant.id)).next;
    await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${tree.eng.id}`, { name: 'R&D' });
    const events = await allEvents(t.ctx, tenant.id, before);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'ou.updated', resource: { id: tree.eng.id }, data: { before: { name: 'Eng', path: '/Eng' }, after: { name: 'R&D', path: '/R&D' } } });
  });

  it('records a move as ou.moved with parent_id and path, and a user changing OU as user.moved', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const before = (await feed(t.ctx, tenant.id)).next;
    await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${tree.backend.id}`, { parent_id: tree.sales.id });
    await send(t.ctx, 'PATCH', `${api(tenant.id)}/users/${tree.users.nowhere.id}`, { ou_id: tree.sales.id });
    const [moved, userMoved] = await allEvents(t.ctx, tenant.id, before);
    expect(moved).toMatchObject({
      type: 'ou.moved',
      data: { before: { parent_id: tree.eng.id, path: '/Eng/Backend' }, after: { parent_id: tree.sales.id, path: '/Sales/Backend' } },
    });
    expect(userMoved).toMatchObject({ type: 'user.moved', resource: { id: tree.users.nowhere.id }, data: { before: { ou_id: null }, after: { ou_id: tree.sales.id } } });
  });

  it('records a MOVE_UP delete as its users moved, its children moved, then the OU deleted, all with the request id as correlation id', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const before = (await feed(t.ctx, tenant.id)).next;
    const response = await send(t.ctx, 'DELETE', `${api(tenant.id)}/ous/${tree.backend.id}?strategy=MOVE_UP`, undefined, { 'x-request-id': 'move-up-1' });
    expect(response.statusCode).toBe(204);
    const events = await allEvents(t.ctx, tenant.id, before);
    expect(events.map((e) => [e.type, e.resource.id])).toEqual([
      ['user.moved', tree.users.backend1.id],
      ['ou.moved', tree.db.id],
      ['ou.deleted', tree.backend.id],
    ]);
    expect(events[1].data).toEqual({ before: { parent_id: tree.backend.id, path: '/Eng/Backend/Db' }, after: { parent_id: tree.eng.id, path: '/Eng/Db' } });
    expect(events.every((e) => e.request_id === 'move-up-1' && e.correlation_id === 'move-up-1')).toBe(true);
  });

  it('records a CASCADE delete as every user of the subtree moved, then every OU of it deleted, deepest first', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const before = (await feed(t.ctx, tenant.id)).next;
    await send(t.ctx, 'DELETE', `${api(tenant.id)}/ous/${tree.eng.id}?strategy=CASCADE`);
    const events = await allEvents(t.ctx, tenant.id, before);
    const moved = events.filter((e) => e.type === 'user.moved');
    expect(moved.map((e) => e.resource.id).sort()).toEqual([tree.users.eng1.id, tree.users.eng2.id, tree.users.backend1.id, tree.users.db1.id].sort());
    expect(moved.every((e) => e.data.after?.ou_id === null)).toBe(true);
    const deleted = events.filter((e) => e.type === 'ou.deleted').map((e) => e.data.before?.path);
    expect(deleted).toEqual(['/Eng/Backend/Db', '/Eng/Backend', '/Eng/Frontend', '/Eng']);
    expect(events.slice(0, moved.length).every((e) => e.type === 'user.moved')).toBe(true);
  });

  it('writes no event for a write that fails or changes nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng', description: 'same' });
    const head = (await feed(t.ctx, tenant.id)).next;
    expectError(await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'eng' }), 409, 'ou.name_conflict');
    expectError(await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/ou_missing`, { name: 'X' }), 404, 'ou.not_found');
    expect((await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${ou.id}`, { description: 'same' })).statusCode).toBe(200);
    expect(await allEvents(t.ctx, tenant.id, head)).toEqual([]);
  });

  it('names the actor from the token: an Arbor client with its client id', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['ous:write', 'events:read']);
    await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: 'By tenant token' }, headers);
    const events = await allEvents(t.ctx, tenant.id);
    expect(events[0].actor).toEqual({ type: 'client', id: 'test-platform', client_id: 'test-platform' });
    expect(events[1].actor).toEqual({ type: 'client', id: `test-${tenant.id}`, client_id: `test-${tenant.id}` });
  });

  it('never shows a client secret or its hash', async () => {
    const tenant = await createTenant(t.ctx);
    const created = await send(t.ctx, 'POST', `${api(tenant.id)}/clients`, { name: 'reader', scopes: ['ous:read'] });
    const { id, client_secret } = created.json().data as { id: string; client_secret: string };
    await send(t.ctx, 'DELETE', `${api(tenant.id)}/clients/${id}`);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/events`, headers: t.ctx.platformHeaders });
    expect(response.body).not.toContain(client_secret);
    expect(response.body).not.toContain('scrypt$');
    const types = (response.json().data as Event[]).map((e) => [e.type, e.data]);
    // The client's tenant-wide tenant_admin assignment comes and goes with it (docs/delegated-admin.md).
    const assignment = { principal: { type: 'client', id }, role: 'tenant_admin', ou_id: null, expires_at: null };
    expect(types.slice(1)).toEqual([
      ['client.created', { before: null, after: { name: 'reader', scopes: ['ous:read'] } }],
      ['role_assignment.created', { before: null, after: assignment }],
      ['role_assignment.deleted', { before: assignment, after: null }],
      ['client.deleted', { before: { name: 'reader', scopes: ['ous:read'] }, after: null }],
    ]);
  });

  it('keeps seqs per tenant: another tenant\'s writes take none of this tenant\'s numbers', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    await createOu(t.ctx, a.id);
    await createOu(t.ctx, b.id);
    await createOu(t.ctx, a.id);
    expect((await allEvents(t.ctx, a.id)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await allEvents(t.ctx, b.id)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('keeps a deleted tenant\'s feed, ending with tenant.deleted, and answers 404 for a tenant that never existed', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id);
    expect((await send(t.ctx, 'DELETE', api(tenant.id))).statusCode).toBe(204);
    expect((await allEvents(t.ctx, tenant.id)).map((e) => e.type)).toEqual(['tenant.created', 'ou.created', 'tenant.deleted']);
    expectError(await t.ctx.app.inject({ method: 'GET', url: `${api('tnt_nope')}/events`, headers: t.ctx.platformHeaders }), 404, 'tenant.not_found');
  });
});

describe('reading the feed', () => {
  it('pages with limit and next, and filters by type (exact and resource.*) and by resource_id, moving the cursor past what did not match', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const first = await feed(t.ctx, tenant.id, { limit: '2' });
    expect(first.data.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.next).toBe(2);
    expect((await feed(t.ctx, tenant.id, { after: '2', limit: '2' })).data.map((e) => e.seq)).toEqual([3, 4]);
    const head = (await allEvents(t.ctx, tenant.id)).length;
    const users = await feed(t.ctx, tenant.id, { type: 'user.*' });
    expect(users.data.map((e) => e.type)).toEqual(Array(5).fill('user.created'));
    expect(users.next).toBe(head);
    expect((await feed(t.ctx, tenant.id, { type: 'tenant.created,ou.created' })).data).toHaveLength(6);
    const history = await feed(t.ctx, tenant.id, { resource_id: tree.eng.id });
    expect(history.data.map((e) => [e.type, e.resource.id])).toEqual([['ou.created', tree.eng.id]]);
    expect((await feed(t.ctx, tenant.id, { after: String(head) })).data).toEqual([]);
  });

  it('reads newest first with order=desc, page by page with next_cursor down to the oldest, the asc feed reversed', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Eng' });
    for (const description of ['one', 'two', 'three', 'four']) await send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${ou.id}`, { description });
    await createOu(t.ctx, tenant.id, { name: 'Other' });
    for (const filter of [{}, { resource_id: ou.id }, { type: 'ou.updated' }] as Record<string, string>[]) {
      const oldestFirst = (await feed(t.ctx, tenant.id, { ...filter, limit: '1000' })).data;
      const newestFirst: Event[] = [];
      let page = await feed(t.ctx, tenant.id, { ...filter, order: 'desc', limit: '2' });
      // Until the listing ends: the page that reads the oldest event has no next cursor.
      for (let pages = 0; ; pages++) {
        expect(pages).toBeLessThan(10);
        newestFirst.push(...page.data);
        const cursor = (page as unknown as { next_cursor: string | null }).next_cursor;
        if (cursor === null) break;
        page = await feed(t.ctx, tenant.id, { ...filter, order: 'desc', limit: '2', cursor });
      }
      expect(newestFirst.map((e) => e.seq)).toEqual(oldestFirst.map((e) => e.seq).reverse());
      expect(newestFirst.length).toBeGreaterThan(1);
    }
    // `after` still bounds it below: the events after seq 3, newest first.
    const head = (await allEvents(t.ctx, tenant.id)).length;
    expect((await feed(t.ctx, tenant.id, { order: 'desc', after: '3' })).data.map((e) => e.seq)).toEqual(Array.from({ length: head - 3 }, (_, i) => head - i));
  });

  it('refuses order=desc with wait (422 at query.wait), and a cursor of the other order or another lower bound (422 at query.cursor)', async () => {
    const tenant = await createTenant(t.ctx);
    for (const name of ['A', 'B']) await createOu(t.ctx, tenant.id, { name });
    const get = (query: Record<string, string>) => t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/events`, query, headers: t.ctx.platformHeaders });
    expectValidation(await get({ order: 'desc', wait: '1' }), ['query', 'wait']);
    expectValidation(await get({ order: 'sideways' }), ['query', 'order']);
    const cursorOf = async (query: Record<string, string>) => ((await get({ ...query, limit: '1' })).json() as { next_cursor: string }).next_cursor;
    const asc = await cursorOf({});
    const desc = await cursorOf({ order: 'desc' });
    expectValidation(await get({ order: 'desc', cursor: asc }), ['query', 'cursor'], 'value_error.cursor');
    expectValidation(await get({ cursor: desc }), ['query', 'cursor'], 'value_error.cursor');
    expectValidation(await get({ order: 'desc', after: '1', cursor: desc }), ['query', 'cursor'], 'value_error.cursor');
    expect((await get({ order: 'desc', cursor: desc })).statusCode).toBe(200);
  });

  it('refuses a wait of more than 30 seconds with 422 at query.wait', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/events`, query: { wait: '31' }, headers: t.ctx.platformHeaders });
    expectValidation(response, ['query', 'wait']);
  });

  it('refuses an unknown event type with 422 at query.type', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/events`, query: { type: 'ou.renamed' }, headers: t.ctx.platformHeaders });
    expectValidation(response, ['query', 'type']);
  });

  it('needs events:read: a tenant token without it gets 403, another tenant\'s token 403', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const url = `${api(tenant.id)}/events`;
    expectError(await t.ctx.app.inject({ method: 'GET', url, headers: await t.ctx.headersFor(tenant.id) }), 403, 'auth.insufficient_scope');
    expectError(await t.ctx.app.inject({ method: 'GET', url, headers: await t.ctx.headersFor(other.id, ['events:read']) }), 403, 'auth.wrong_tenant');
    expect((await t.ctx.app.inject({ method: 'GET', url, headers: await t.ctx.headersFor(tenant.id, ['events:read']) })).statusCode).toBe(200);
  });

  it('holds an empty answer with wait until a write commits, then returns it at once', async () => {
    const tenant = await createTenant(t.ctx);
    const head = (await feed(t.ctx, tenant.id)).next;
    const started = Date.now();
    const waiting = feed(t.ctx, tenant.id, { after: String(head), wait: '20' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ou = await createOu(t.ctx, tenant.id, { name: 'Woke it' });
    const page = await waiting;
    expect(page.data.map((e) => [e.type, e.resource.id])).toEqual([['ou.created', ou.id]]);
    // Woken by the commit (300 ms in), not by the end of the 20-s wait: a generous bound for a busy machine.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('returns an empty page with the same cursor when the wait ends without an event', async () => {
    const tenant = await createTenant(t.ctx);
    const head = (await feed(t.ctx, tenant.id)).next;
    const started = Date.now();
    const page = await feed(t.ctx, tenant.id, { after: String(head), wait: '1' });
    expect(page).toEqual({ data: [], next: head, next_cursor: expect.any(String), meta: expect.any(Object) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  /** Prunes as an instance would ten days from now, with a retention of one day: every event so far has expired. */
  async function pruneTenDaysLater(ctx: TestContext): Promise<void> {
    const signal = new ChangeSignal(ctx.store.db, 100);
    const later = createEventService({ store: ctx.store, signal, retentionDays: 1, now: () => Date.now() + 10 * 86_400_000 });
    try {
      await later.pruneExpired();
    } finally {
      signal.close();
    }
  }

  it('answers 410 events.cursor_expired for a cursor older than what retention kept, and serves the feed from there', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id);
    await createOu(t.ctx, tenant.id);
    await pruneTenDaysLater(t.ctx);
    // A live tenant keeps its newest event (seq 3), so its next seq follows it.
    expect((await allEvents(t.ctx, tenant.id, 2)).map((e) => e.seq)).toEqual([3]);
    for (const after of ['0', '1']) {
      const response = await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/events`, query: { after }, headers: t.ctx.platformHeaders });
      expect(expectError(response, 410, 'events.cursor_expired')).toMatch(/up to seq 2 .*Re-read a snapshot/);
    }
    await createOu(t.ctx, tenant.id);
    expect((await feed(t.ctx, tenant.id, { after: '2' })).data.map((e) => e.seq)).toEqual([3, 4]);
    // Newest first reads what is kept, from the newest down: never 410.
    expect((await feed(t.ctx, tenant.id, { order: 'desc' })).data.map((e) => e.seq)).toEqual([4, 3]);
  });

  it('removes a deleted tenant\'s whole feed once it has expired, so its feed is then 404', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id);
    expect((await send(t.ctx, 'DELETE', api(tenant.id))).statusCode).toBe(204);
    expect((await allEvents(t.ctx, tenant.id)).map((e) => e.type)).toEqual(['tenant.created', 'ou.created', 'tenant.deleted']);
    await pruneTenDaysLater(t.ctx);
    expectError(await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/events`, headers: t.ctx.platformHeaders }), 404, 'tenant.not_found');
  });

  it('keeps events younger than the retention', async () => {
    const tenant = await createTenant(t.ctx);
    await createOu(t.ctx, tenant.id);
    const signal = new ChangeSignal(t.ctx.store.db, 100);
    const today = createEventService({ store: t.ctx.store, signal, retentionDays: 1 });
    await today.pruneExpired();
    signal.close();
    expect((await allEvents(t.ctx, tenant.id)).map((e) => e.seq)).toEqual([1, 2]);
  });
});

describe('snapshots', () => {
  it('says in meta.event_seq which seq the tree and every list reflect', async () => {
    const tenant = await createTenant(t.ctx);
    const tree = await createSampleTree(t.ctx, tenant.id);
    const head = (await feed(t.ctx, tenant.id)).next;
    for (const url of [`${api(tenant.id)}/ous/tree`, `${api(tenant.id)}/ous`, `${api(tenant.id)}/users`, `${api(tenant.id)}/ous/${tree.eng.id}/users?include_nested=true`, `${api(tenant.id)}/clients`]) {
      const response = await t.ctx.app.inject({ method: 'GET', url, headers: t.ctx.platformHeaders });
      expect(response.json().meta.event_seq, url).toBe(head);
    }
  });

  it('lets a consumer read the tree at N, then the feed after N, and miss or repeat nothing under concurrent writes', async () => {
    const tenant = await createTenant(t.ctx);
    const roots = await Promise.all([1, 2, 3].map((i) => createOu(t.ctx, tenant.id, { name: `Root ${i}` })));
    // Writes racing the snapshot read: creates under each root and renames of the roots.
    const writes = Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 4 === 3
          ? send(t.ctx, 'PATCH', `${api(tenant.id)}/ous/${roots[i % 3].id}`, { name: `Root ${i % 3 + 1} v${i}` })
          : send(t.ctx, 'POST', `${api(tenant.id)}/ous`, { name: `Child ${i}`, parent_id: roots[i % 3].id }),
      ),
    );
    const snapshot = (await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/ous/tree`, headers: t.ctx.platformHeaders })).json();
    await writes;
    // The consumer's model: id -> {name, parent}, from the snapshot, then the feed after its seq.
    const model = new Map<string, { name: string; parent_id: string | null }>();
    const walk = (nodes: { id: string; name: string; children: unknown[] }[], parent: string | null) => {
      for (const node of nodes) {
        model.set(node.id, { name: node.name, parent_id: parent });
        walk(node.children as never, node.id);
      }
    };
    walk(snapshot.data, null);
    for (const event of await allEvents(t.ctx, tenant.id, snapshot.meta.event_seq)) {
      if (event.type === 'ou.created') {
        expect(model.has(event.resource.id), `created twice: ${event.resource.id}`).toBe(false);
        model.set(event.resource.id, { name: event.data.after?.name as string, parent_id: event.data.after?.parent_id as string | null });
      } else if (event.type === 'ou.updated') {
        model.set(event.resource.id, { ...(model.get(event.resource.id) as { name: string; parent_id: string | null }), name: event.data.after?.name as string });
      }
    }
    const final = new Map<string, { name: string; parent_id: string | null }>();
    const truth = (await t.ctx.app.inject({ method: 'GET', url: `${api(tenant.id)}/ous/tree`, headers: t.ctx.platformHeaders })).json();
    const walkTruth = (nodes: { id: string; name: string; children: unknown[] }[], parent: string | null) => {
      for (const node of nodes) {
        final.set(node.id, { name: node.name, parent_id: parent });
        walkTruth(node.children as never, node.id);
      }
    };
    walkTruth(truth.data, null);
    expect(Object.fromEntries(model)).toEqual(Object.fromEntries(final));
    expect(final.size).toBe(3 + 18);
  });
});

describe('ARBOR_FEED_MAX_WAIT_SECONDS', () => {
  const short = useSharedApp({ feedMaxWaitSeconds: 1 });

  it('shortens a longer wait to it: an empty answer after a second, not after the 20 asked for', async () => {
    const tenant = await createTenant(short.ctx);
    const head = (await feed(short.ctx, tenant.id)).next;
    const started = Date.now();
    const page = await feed(short.ctx, tenant.id, { after: String(head), wait: '20' });
    expect(page.data).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

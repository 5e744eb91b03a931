import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { EventData } from '../../src/services/event-service.js';
import type { WebhookData, WebhookDeliveryData } from '../../src/services/webhook-rules.js';
import { RFC3339_UTC, expectData, expectError, expectNoContent, expectPage, expectPageData, expectValidation } from '../helpers/assertions.js';
import { EVERY_TENANT_SCOPE, delegatedClient, regionalTenant } from '../helpers/delegation.js';
import { createOu, createTenant } from '../helpers/factories.js';
import { type TestContext, createTestContext, grantRole, useSharedApp } from '../helpers/test-app.js';
import { isPostgresPass } from '../helpers/test-store.js';
import { testWebhooks } from '../helpers/webhooks.js';

/*
 * The webhook subscriptions API (docs/webhooks.md): create, list, get, update, delete, rotate the
 * secret, ping, list and retry deliveries; URL checks (SSRF), who may use it, and that the signing
 * secret is shown once and stored sealed, never in plain text (not in the row, the events or the
 * idempotency table). No dispatcher runs here, so pings stay pending: how deliveries are sent,
 * signed, retried and ordered is tested in test/webhooks/. Each test makes its own tenant.
 */

const t = useSharedApp();
const api = (tenantId: string) => `/api/v1/tenants/${tenantId}`;
const hooks = (tenantId: string) => `${api(tenantId)}/webhooks`;
const hook = (tenantId: string, webhookId: string) => `${hooks(tenantId)}/${webhookId}`;

/** Standard Webhooks: `whsec_` + base64 of the key. */
const SECRET_FORMAT = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
const DAY_MS = 24 * 3_600_000;

type Headers = Record<string, string>;

// The shapes the API answers with, as the service declares them.
type Webhook = WebhookData;
type Delivery = WebhookDeliveryData;

const get = (ctx: TestContext, url: string, headers: Headers, query: Record<string, string> = {}) => ctx.app.inject({ method: 'GET', url, headers, query });
const send = (ctx: TestContext, method: 'POST' | 'PATCH' | 'DELETE', url: string, headers: Headers, payload?: object) =>
  ctx.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });

/** A tenant and the headers of its tenant administrator with every tenant scope (webhooks:* included). */
async function tenantWithAdmin(ctx: TestContext) {
  const tenant = await createTenant(ctx);
  return { tenantId: tenant.id, headers: await ctx.headersFor(tenant.id, EVERY_TENANT_SCOPE) };
}

async function createWebhook(ctx: TestContext, tenantId: string, headers: Headers, payload: object = { url: 'http://receiver.test/hook' }) {
  return expectData(await send(ctx, 'POST', hooks(tenantId), headers, payload), 201) as Webhook & { secret: string };
}

async function ping(ctx: TestContext, tenantId: string, webhookId: string, headers: Headers): Promise<Delivery> {
  return expectData(await send(ctx, 'POST', `${hook(tenantId, webhookId)}/ping`, headers), 202) as Delivery;
}

/** The tenant's change feed after `after`. */
async function events(ctx: TestContext, tenantId: string, after = 0): Promise<EventData[]> {
  const response = await get(ctx, `${api(tenantId)}/events`, ctx.platformHeaders, { after: String(after), limit: '1000' });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data as EventData[];
}

async function lastSeq(ctx: TestContext, tenantId: string): Promise<number> {
  return (await events(ctx, tenantId)).at(-1)?.seq ?? 0;
}

const webhookRows = (ctx: TestContext, tenantId: string) => ctx.store.db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId).execute();
const deliveryRows = (ctx: TestContext, tenantId: string, webhookId?: string) => {
  const query = ctx.store.db.selectFrom('webhook_deliveries').selectAll().where('tenant_id', '=', tenantId);
  return (webhookId === undefined ? query : query.where('webhook_id', '=', webhookId)).execute();
};
const webhookRow = async (ctx: TestContext, tenantId: string, webhookId: string) =>
  ctx.store.db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId).where('id', '=', webhookId).executeTakeFirstOrThrow();
const eventRows = (ctx: TestContext, tenantId: string) => ctx.store.db.selectFrom('events').selectAll().where('tenant_id', '=', tenantId).execute();

/** A refused URL is a 422 in the shape of every 422: one issue at body.url, its type the reason's code. */
function expectUrlRefused(response: LightMyRequestResponse, code: string, msg: unknown = expect.any(String)): void {
  expect(response.statusCode, response.body).toBe(422);
  expect(response.json(), `the 422 body for code ${code}`).toEqual({ detail: [{ loc: ['body', 'url'], msg, type: code }] });
}

/** The base64 key inside a `whsec_` secret: what a leak would most likely show. */
const keyOf = (secret: string) => secret.slice('whsec_'.length);

describe('creating a webhook', () => {
  it('returns the secret once, in the Standard Webhooks format, with cache-control: no-store; GET and list never show it', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const response = await send(t.ctx, 'POST', hooks(tenantId), headers, { url: 'http://receiver.test/hook' });
    const created = expectData(response, 201) as Webhook & { secret: string };
    expect(response.headers['cache-control']).toBe('no-store');
    expect(created.secret).toMatch(SECRET_FORMAT);
    expect(Buffer.from(keyOf(created.secret), 'base64')).toHaveLength(32);
    // The ETag is the digest of what a GET shows, not of the secret.
    expect(response.headers.etag).toBeDefined();

    const read = await get(t.ctx, hook(tenantId, created.id), headers);
    const shown = expectData(read);
    expect(shown).not.toHaveProperty('secret');
    expect(read.headers.etag).toBe(response.headers.etag);
    expect(read.body).not.toContain(keyOf(created.secret));

    const list = await get(t.ctx, hooks(tenantId), headers);
    const items = expectPageData(list) as Webhook[];
    expect(items.map((w) => w.id)).toEqual([created.id]);
    expect(items[0]).not.toHaveProperty('secret');
    expect(list.body).not.toContain(keyOf(created.secret));

    // Another subscription, another secret.
    const other = await createWebhook(t.ctx, tenantId, headers);
    expect(other.secret).not.toBe(created.secret);
  });

  it('stores the secret sealed (v1.…): neither the webhooks row nor the events contain it', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/sealed', description: 'sealed' });
    const row = await webhookRow(t.ctx, tenantId, created.id);
    expect(row.secret).toMatch(/^v1\./);
    expect(row.secret).not.toContain(keyOf(created.secret));
    expect(row.previous_secret).toBeNull();

    const rows = await eventRows(t.ctx, tenantId);
    expect(rows.map((e) => e.type)).toContain('webhook.created');
    for (const event of rows) {
      expect(event.data).not.toContain(keyOf(created.secret));
      expect(event.data).not.toContain(row.secret);
    }
    const feed = await get(t.ctx, `${api(tenantId)}/events`, t.ctx.platformHeaders, { limit: '1000' });
    expect(feed.body).not.toContain(keyOf(created.secret));
    expect(feed.body).not.toContain('whsec_');
  });

  it('replays an Idempotency-Key with secret null and keeps no copy of the secret in the idempotency table', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const keyed = { ...headers, 'idempotency-key': `create-${tenantId}` };
    const payload = { url: 'http://receiver.test/once', event_types: ['ou.*'] };
    const first = await send(t.ctx, 'POST', hooks(tenantId), keyed, payload);
    const created = expectData(first, 201) as Webhook & { secret: string };
    expect(created.secret).toMatch(SECRET_FORMAT);

    const replay = await send(t.ctx, 'POST', hooks(tenantId), keyed, payload);
    const replayed = expectData(replay, 201) as Webhook & { secret: string | null };
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replayed.secret).toBeNull();
    const { secret: _secret, ...withoutSecret } = created;
    expect(replayed).toEqual({ ...withoutSecret, secret: null });
    expect(replay.body).not.toContain(keyOf(created.secret));

    expect(await webhookRows(t.ctx, tenantId)).toHaveLength(1);
    expect((await events(t.ctx, tenantId)).filter((e) => e.type === 'webhook.created')).toHaveLength(1);
    const stored = await t.ctx.store.db.selectFrom('idempotency_keys').selectAll().where('key', '=', `create-${tenantId}`).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0].response_body).toContain(created.id);
    expect(stored[0].response_body).not.toContain(keyOf(created.secret));
    expect(stored[0].response_headers ?? '').not.toContain(keyOf(created.secret));
  });

  it("defaults event_types to ['*'], enabled to true, description to null and last_event_seq to the tenant's last seq before it", async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    await createOu(t.ctx, tenantId, { name: 'Before' });
    await createOu(t.ctx, tenantId, { name: 'Also before' });
    const before = await lastSeq(t.ctx, tenantId);
    expect(before).toBeGreaterThanOrEqual(3);

    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/defaults' });
    expect(created).toEqual({
      id: expect.stringMatching(/^wh_/),
      url: 'http://receiver.test/defaults',
      description: null,
      event_types: ['*'],
      enabled: true,
      disabled_reason: null,
      last_event_seq: before,
      next_attempt_at: null,
      failing_since: null,
      previous_secret_expires_at: null,
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: created.created_at,
      secret: expect.stringMatching(SECRET_FORMAT),
    });

    // Its own webhook.created is the first event it is owed.
    const [event] = await events(t.ctx, tenantId, before);
    expect(event).toMatchObject({ seq: before + 1, type: 'webhook.created', resource: { type: 'webhook', id: created.id } });
    expect(event.data).toEqual({
      before: null,
      // The path (often the receiver's own token) is not in the feed: its origin is.
      after: { url: 'http://receiver.test/…', description: null, event_types: ['*'], enabled: true, disabled_reason: null },
    });
  });

  it('records a URL in events by its origin only, while the subscription itself shows it whole', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const seq = await lastSeq(t.ctx, tenantId);
    const token = 'T0001/B0002/XXXXSECRETXXXX';
    const created = await createWebhook(t.ctx, tenantId, headers, { url: `http://receiver.test/services/${token}?key=abc` });
    expect(created.url).toBe(`http://receiver.test/services/${token}?key=abc`);
    const bare = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test' });
    await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { url: 'http://receiver.test/services/other' });
    const recorded = await events(t.ctx, tenantId, seq);
    expect(recorded.map((e) => e.data)).toEqual([
      { before: null, after: expect.objectContaining({ url: 'http://receiver.test/…' }) },
      { before: null, after: expect.objectContaining({ url: 'http://receiver.test' }) },
      // A new path of the same origin is still a change, recorded as one.
      { before: { url: 'http://receiver.test/…' }, after: { url: 'http://receiver.test/…' } },
    ]);
    expect(bare.url).toBe('http://receiver.test');
    expect(JSON.stringify(await eventRows(t.ctx, tenantId))).not.toContain('SECRET');
  });

  it('creates a paused subscription (disabled_reason manual) when enabled is false', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/paused', enabled: false, description: 'later' });
    expect(created).toMatchObject({ enabled: false, disabled_reason: 'manual', description: 'later' });
    expect(expectData(await get(t.ctx, hook(tenantId, created.id), headers))).toMatchObject({ enabled: false, disabled_reason: 'manual' });
  });

  it('accepts exact event names, resource wildcards and *, and removes duplicates', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const mixed = await createWebhook(t.ctx, tenantId, headers, {
      url: 'http://receiver.test/types',
      event_types: ['ou.*', 'user.*', 'ou.moved', 'ou.*', 'webhook.created', 'user.*', 'role_assignment.*', 'ou.moved'],
    });
    expect(mixed.event_types).toEqual(['ou.*', 'user.*', 'ou.moved', 'webhook.created', 'role_assignment.*']);
    expect((expectData(await get(t.ctx, hook(tenantId, mixed.id), headers)) as Webhook).event_types).toEqual(mixed.event_types);
    expect(JSON.parse((await webhookRow(t.ctx, tenantId, mixed.id)).event_types)).toEqual(mixed.event_types);

    const everything = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/all', event_types: ['*', '*'] });
    expect(everything.event_types).toEqual(['*']);
  });

  it('rejects unknown event types with 422 naming each of them, and creates nothing', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const seq = await lastSeq(t.ctx, tenantId);
    const response = await send(t.ctx, 'POST', hooks(tenantId), headers, {
      url: 'http://receiver.test/unknown',
      event_types: ['ou.*', 'ou.renamed', 'nope.*', 'ou', 'user.created'],
    });
    const issues = expectValidation(response, ['body', 'event_types']);
    const message = issues.find((i) => i.loc.join('.') === 'body.event_types')?.msg ?? '';
    for (const unknown of ["'ou.renamed'", "'nope.*'", "'ou'"]) expect(message).toContain(unknown);
    // Only the unknown ones are named as such (the message goes on to list the valid types).
    const named = message.split(' Use ')[0];
    expect(named).not.toContain("'ou.*'");
    expect(named).not.toContain("'user.created'");
    expect(await webhookRows(t.ctx, tenantId)).toEqual([]);
    expect(await events(t.ctx, tenantId, seq)).toEqual([]);
  });
});

describe('webhook URLs (SSRF) where insecure URLs are not allowed', () => {
  const strict = useSharedApp({ webhooks: testWebhooks({ allowInsecure: false }) });

  /** Every URL refused here, with the code it gets. */
  const REFUSED: Array<[string, string]> = [
    ['http://public.test/hook', 'webhook.url_insecure'],
    ['https://private10.test/x', 'webhook.url_forbidden'],
    ['https://metadata.test/x', 'webhook.url_forbidden'],
    ['https://receiver.test/x', 'webhook.url_forbidden'], // loopback
    ['https://[::1]/x', 'webhook.url_forbidden'],
    ['https://169.254.169.254/x', 'webhook.url_forbidden'],
    ['https://nowhere.test/x', 'webhook.url_unresolvable'],
    ['ftp://public.test/x', 'webhook.url_invalid'],
    ['not a url', 'webhook.url_invalid'],
    ['https://user:pass@public.test/x', 'webhook.url_invalid'],
  ];

  it('requires https: http answers 422 webhook.url_insecure, https to a public host is accepted', async () => {
    const { tenantId, headers } = await tenantWithAdmin(strict.ctx);
    expectUrlRefused(await send(strict.ctx, 'POST', hooks(tenantId), headers, { url: 'http://public.test/hook' }), 'webhook.url_insecure', expect.stringContaining('https://'));
    expect(await webhookRows(strict.ctx, tenantId)).toEqual([]);
    const created = await createWebhook(strict.ctx, tenantId, headers, { url: 'https://public.test/hook' });
    expect(created.url).toBe('https://public.test/hook');
  });

  it('refuses URLs that are insecure, invalid, resolve to a non-public address or to nothing, with the right code, and writes nothing', async () => {
    const { tenantId, headers } = await tenantWithAdmin(strict.ctx);
    const seq = await lastSeq(strict.ctx, tenantId);
    for (const [url, code] of REFUSED) expectUrlRefused(await send(strict.ctx, 'POST', hooks(tenantId), headers, { url }), code);
    expect(await webhookRows(strict.ctx, tenantId)).toEqual([]);
    expect(await events(strict.ctx, tenantId, seq)).toEqual([]);
  });

  it('checks a new URL on PATCH the same way, and leaves the webhook as it was', async () => {
    const { tenantId, headers } = await tenantWithAdmin(strict.ctx);
    const created = await createWebhook(strict.ctx, tenantId, headers, { url: 'https://public.test/hook' });
    const seq = await lastSeq(strict.ctx, tenantId);
    for (const [url, code] of REFUSED) expectUrlRefused(await send(strict.ctx, 'PATCH', hook(tenantId, created.id), headers, { url }), code);
    expect((expectData(await get(strict.ctx, hook(tenantId, created.id), headers)) as Webhook).url).toBe('https://public.test/hook');
    expect(await events(strict.ctx, tenantId, seq)).toEqual([]);

    const moved = expectData(await send(strict.ctx, 'PATCH', hook(tenantId, created.id), headers, { url: 'https://public6.test/v2' })) as Webhook;
    expect(moved.url).toBe('https://public6.test/v2');
  });
});

describe('webhook URLs where insecure URLs are allowed (tests, local development)', () => {
  it('allows http and loopback receivers, and still refuses private and metadata addresses', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    expect((await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/plain' })).url).toBe('http://receiver.test/plain');
    expect((await createWebhook(t.ctx, tenantId, headers, { url: 'http://127.0.0.1:9/x' })).url).toBe('http://127.0.0.1:9/x');
    for (const url of ['http://private10.test/x', 'http://metadata.test/x', 'http://169.254.169.254/latest/meta-data/']) {
      expectUrlRefused(await send(t.ctx, 'POST', hooks(tenantId), headers, { url }), 'webhook.url_forbidden');
    }
    expect(await webhookRows(t.ctx, tenantId)).toHaveLength(2);
  });
});

describe('reading webhooks', () => {
  it('lists the subscriptions of the tenant only, paginated', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const other = await tenantWithAdmin(t.ctx);
    await createWebhook(t.ctx, other.tenantId, other.headers);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createWebhook(t.ctx, tenantId, headers, { url: `http://receiver.test/${i}` })).id);
    const first = expectPage(await get(t.ctx, hooks(tenantId), headers, { per_page: '2' }));
    expect(first.pagination).toEqual({ page: 1, per_page: 2, total_items: 3, total_pages: 2 });
    const second = expectPage(await get(t.ctx, hooks(tenantId), headers, { per_page: '2', page: '2' }));
    expect([...first.data, ...second.data].map((w: Webhook) => w.id).sort()).toEqual([...ids].sort());
  });

  it('answers 304 to If-None-Match with the current ETag', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const etag = (await get(t.ctx, hook(tenantId, created.id), headers)).headers.etag as string;
    const cached = await get(t.ctx, hook(tenantId, created.id), { ...headers, 'if-none-match': etag });
    expect(cached.statusCode).toBe(304);
    expect(cached.body).toBe('');
  });

  it('answers 404 webhook.not_found for a webhook of another tenant, whatever the request', async () => {
    const owner = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, owner.tenantId, owner.headers);
    const delivery = await ping(t.ctx, owner.tenantId, created.id, owner.headers);
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const url = hook(tenantId, created.id);
    expectError(await get(t.ctx, url, headers), 404, 'webhook.not_found');
    expectError(await get(t.ctx, `${url}/deliveries`, headers), 404, 'webhook.not_found');
    expectError(await send(t.ctx, 'PATCH', url, headers, { description: 'mine' }), 404, 'webhook.not_found');
    expectError(await send(t.ctx, 'POST', `${url}/rotate-secret`, headers), 404, 'webhook.not_found');
    expectError(await send(t.ctx, 'POST', `${url}/ping`, headers), 404, 'webhook.not_found');
    expectError(await send(t.ctx, 'POST', `${url}/deliveries/${delivery.id}/retry`, headers), 404, 'webhook.not_found');
    expectError(await send(t.ctx, 'DELETE', url, headers), 404, 'webhook.not_found');
    // The owner's subscription is untouched.
    expect(await webhookRows(t.ctx, owner.tenantId)).toHaveLength(1);
    expect(await deliveryRows(t.ctx, owner.tenantId)).toHaveLength(1);
    expect(await deliveryRows(t.ctx, tenantId)).toEqual([]);
  });
});

describe('updating a webhook', () => {
  it('changes url, description and event_types, and records only the changed fields in webhook.updated', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/a', description: 'first', event_types: ['ou.*'] });
    const seq = await lastSeq(t.ctx, tenantId);

    const first = expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { url: 'http://receiver.test/b', description: null })) as Webhook;
    expect(first).toMatchObject({ url: 'http://receiver.test/b', description: null, event_types: ['ou.*'], enabled: true });
    const second = expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { event_types: ['user.*', 'ou.moved', 'user.*'] })) as Webhook;
    expect(second).toMatchObject({ url: 'http://receiver.test/b', description: null, event_types: ['user.*', 'ou.moved'] });
    const third = expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { description: 'second' })) as Webhook;
    expect(third.description).toBe('second');
    expect(expectData(await get(t.ctx, hook(tenantId, created.id), headers))).toEqual(third);

    const updates = await events(t.ctx, tenantId, seq);
    expect(updates.map((e) => [e.type, e.resource.id])).toEqual([
      ['webhook.updated', created.id],
      ['webhook.updated', created.id],
      ['webhook.updated', created.id],
    ]);
    expect(updates.map((e) => e.data)).toEqual([
      { before: { url: 'http://receiver.test/…', description: 'first' }, after: { url: 'http://receiver.test/…', description: null } },
      { before: { event_types: ['ou.*'] }, after: { event_types: ['user.*', 'ou.moved'] } },
      { before: { description: null }, after: { description: 'second' } },
    ]);
  });

  it('rejects unknown event types on PATCH with 422 and changes nothing', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/a', event_types: ['ou.*'] });
    const issues = expectValidation(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { event_types: ['ou.exploded'] }), ['body', 'event_types']);
    expect(issues.map((i) => i.msg).join(' ')).toContain("'ou.exploded'");
    expect((expectData(await get(t.ctx, hook(tenantId, created.id), headers)) as Webhook).event_types).toEqual(['ou.*']);
  });

  it('pauses with enabled false (disabled_reason manual) and resumes with enabled true, clearing disabled_reason, failing_since and next_attempt_at', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const seq = await lastSeq(t.ctx, tenantId);
    const paused = expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { enabled: false })) as Webhook;
    expect(paused).toMatchObject({ enabled: false, disabled_reason: 'manual' });
    expect((await events(t.ctx, tenantId, seq)).map((e) => e.data)).toEqual([
      { before: { enabled: true, disabled_reason: null }, after: { enabled: false, disabled_reason: 'manual' } },
    ]);

    const resumed = expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { enabled: true })) as Webhook;
    expect(resumed).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null, next_attempt_at: null });

    // As the dispatcher leaves a subscription it gave up on after days of failures.
    const failingSince = new Date(Date.now() - 6 * DAY_MS).toISOString();
    const nextAttempt = new Date(Date.now() + 3_600_000).toISOString();
    await t.ctx.store.db
      .updateTable('webhooks')
      .set({ enabled: 0, disabled_reason: 'failing', failing_since: failingSince, next_attempt_at: nextAttempt })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', created.id)
      .execute();
    expect(expectData(await get(t.ctx, hook(tenantId, created.id), headers))).toMatchObject({
      enabled: false,
      disabled_reason: 'failing',
      failing_since: failingSince,
      next_attempt_at: nextAttempt,
    });
    const revived = expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { enabled: true })) as Webhook;
    expect(revived).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null, next_attempt_at: null });
    const row = await webhookRow(t.ctx, tenantId, created.id);
    expect([Number(row.enabled), row.disabled_reason, row.failing_since, row.next_attempt_at]).toEqual([1, null, null, null]);
  });

  it('answers 412 precondition_failed to a stale If-Match, and changes nothing', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/etag', description: 'v0' });
    const etag = (await get(t.ctx, hook(tenantId, created.id), headers)).headers.etag as string;
    const first = await send(t.ctx, 'PATCH', hook(tenantId, created.id), { ...headers, 'if-match': etag }, { description: 'v1' });
    expect(expectData(first).description).toBe('v1');
    expect(first.headers.etag).not.toBe(etag);

    const seq = await lastSeq(t.ctx, tenantId);
    expectError(await send(t.ctx, 'PATCH', hook(tenantId, created.id), { ...headers, 'if-match': etag }, { description: 'v2' }), 412, 'precondition_failed');
    expectError(await send(t.ctx, 'DELETE', hook(tenantId, created.id), { ...headers, 'if-match': etag }), 412, 'precondition_failed');
    expectError(await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/rotate-secret`, { ...headers, 'if-match': etag }), 412, 'precondition_failed');
    expect(expectData(await get(t.ctx, hook(tenantId, created.id), headers)).description).toBe('v1');
    expect(await events(t.ctx, tenantId, seq)).toEqual([]);
  });

  it('writes no event for a PATCH that changes nothing', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/same', description: 'same', event_types: ['ou.*', 'user.*'] });
    const seq = await lastSeq(t.ctx, tenantId);
    const same = await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, {
      url: 'http://receiver.test/same',
      description: 'same',
      event_types: ['ou.*', 'user.*', 'ou.*'],
      enabled: true,
    });
    const { secret: _secret, ...shown } = created;
    expect(expectData(same)).toEqual(shown);
    expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, {}));
    expect(await events(t.ctx, tenantId, seq)).toEqual([]);
  });
});

describe('deleting a webhook', () => {
  it('deletes the subscription and its deliveries (not another one’s), and records webhook.deleted', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const doomed = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/doomed', description: 'doomed', event_types: ['ou.*'] });
    const kept = await createWebhook(t.ctx, tenantId, headers, { url: 'http://receiver.test/kept' });
    await ping(t.ctx, tenantId, doomed.id, headers);
    await ping(t.ctx, tenantId, doomed.id, headers);
    const keptDelivery = await ping(t.ctx, tenantId, kept.id, headers);
    expect(await deliveryRows(t.ctx, tenantId, doomed.id)).toHaveLength(2);
    const seq = await lastSeq(t.ctx, tenantId);

    expectNoContent(await send(t.ctx, 'DELETE', hook(tenantId, doomed.id), headers));
    expect(await deliveryRows(t.ctx, tenantId, doomed.id)).toEqual([]);
    expect((await webhookRows(t.ctx, tenantId)).map((w) => w.id)).toEqual([kept.id]);
    expect((await deliveryRows(t.ctx, tenantId, kept.id)).map((d) => d.id)).toEqual([keptDelivery.id]);
    expectError(await get(t.ctx, hook(tenantId, doomed.id), headers), 404, 'webhook.not_found');
    expectError(await send(t.ctx, 'DELETE', hook(tenantId, doomed.id), headers), 404, 'webhook.not_found');

    const [deleted, ...rest] = await events(t.ctx, tenantId, seq);
    expect(rest).toEqual([]);
    expect(deleted).toMatchObject({ type: 'webhook.deleted', resource: { type: 'webhook', id: doomed.id } });
    expect(deleted.data).toEqual({
      before: { url: 'http://receiver.test/…', description: 'doomed', event_types: ['ou.*'], enabled: true, disabled_reason: null },
      after: null,
    });
  });
});

describe('rotating the secret', () => {
  it('issues a new secret and signs with the old one for 24 hours, keeping it sealed; the event carries neither', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const sealedBefore = (await webhookRow(t.ctx, tenantId, created.id)).secret;
    const seq = await lastSeq(t.ctx, tenantId);

    const response = await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/rotate-secret`, headers);
    const rotated = expectData(response, 200) as Webhook & { secret: string };
    expect(response.headers['cache-control']).toBe('no-store');
    expect(rotated.secret).toMatch(SECRET_FORMAT);
    expect(Buffer.from(keyOf(rotated.secret), 'base64')).toHaveLength(32);
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.previous_secret_expires_at).toMatch(RFC3339_UTC);
    expect(Math.abs(Date.parse(rotated.previous_secret_expires_at as string) - (Date.now() + DAY_MS))).toBeLessThan(60_000);

    const row = await webhookRow(t.ctx, tenantId, created.id);
    expect(row.previous_secret).toBe(sealedBefore);
    expect(row.secret).toMatch(/^v1\./);
    expect(row.secret).not.toBe(sealedBefore);
    expect(row.secret).not.toContain(keyOf(rotated.secret));
    expect(row.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);

    const shown = expectData(await get(t.ctx, hook(tenantId, created.id), headers));
    expect(shown).not.toHaveProperty('secret');
    expect(shown.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);

    const [event, ...rest] = await events(t.ctx, tenantId, seq);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ type: 'webhook.secret_rotated', resource: { type: 'webhook', id: created.id } });
    expect(event.data).toEqual({ before: null, after: { previous_secret_expires_at: rotated.previous_secret_expires_at } });
    for (const stored of await eventRows(t.ctx, tenantId)) {
      for (const leak of [keyOf(created.secret), keyOf(rotated.secret), sealedBefore, row.secret]) expect(stored.data).not.toContain(leak);
    }
  });
});

describe('pings and deliveries', () => {
  it('answers a ping retried with the same Idempotency-Key with the first answer, and queues one message', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const keyed = { ...headers, 'idempotency-key': `ping-${created.id}` };
    const first = await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/ping`, keyed);
    const again = await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/ping`, keyed);
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().data).toEqual(first.json().data);
    expect(await deliveryRows(t.ctx, tenantId, created.id)).toHaveLength(1);
  });

  it('queues a ping as a pending delivery outside the sequence, shown in the deliveries', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const delivery = await ping(t.ctx, tenantId, created.id, headers);
    expect(delivery).toEqual({
      id: expect.stringMatching(/^dlv_/),
      webhook_id: created.id,
      event_id: expect.stringMatching(/^evt_/),
      event_seq: null,
      event_type: 'webhook.ping',
      status: 'pending',
      in_sequence: false,
      attempts: 0,
      next_attempt_at: expect.stringMatching(RFC3339_UTC),
      last_attempt_at: null,
      last_response_status: null,
      last_latency_ms: null,
      last_error: null,
      last_response_body: null,
      created_at: expect.stringMatching(RFC3339_UTC),
      updated_at: expect.stringMatching(RFC3339_UTC),
    });
    const list = expectPage(await get(t.ctx, `${hook(tenantId, created.id)}/deliveries`, headers));
    expect(list.data).toEqual([delivery]);
    expect(list.pagination.total_items).toBe(1);

    // A paused subscription is pinged too.
    await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { enabled: false });
    expect((await ping(t.ctx, tenantId, created.id, headers)).status).toBe('pending');
  });

  it('lists deliveries newest first and filters them by status', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const older = await ping(t.ctx, tenantId, created.id, headers);
    await new Promise((resolve) => setTimeout(resolve, 5)); // ids order by the millisecond
    const newer = await ping(t.ctx, tenantId, created.id, headers);
    await t.ctx.store.db.updateTable('webhook_deliveries').set({ status: 'failed', attempts: 8 }).where('tenant_id', '=', tenantId).where('id', '=', older.id).execute();

    const url = `${hook(tenantId, created.id)}/deliveries`;
    const ids = async (query: Record<string, string> = {}) => ((expectPageData(await get(t.ctx, url, headers, query)) as Delivery[]).map((d) => d.id));
    expect(await ids()).toEqual([newer.id, older.id]);
    expect(await ids({ status: 'failed' })).toEqual([older.id]);
    expect(await ids({ status: 'pending' })).toEqual([newer.id]);
    expect(await ids({ status: 'delivered' })).toEqual([]);
    expect(await ids({ per_page: '1', page: '2' })).toEqual([older.id]);
    expectValidation(await get(t.ctx, url, headers, { status: 'lost' }));
  });

  it('retries a failed delivery: it becomes pending again, on its own (in_sequence false)', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const delivery = await ping(t.ctx, tenantId, created.id, headers);
    // As the dispatcher leaves an in-sequence event it gave up on.
    await t.ctx.store.db
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', in_sequence: 1, attempts: 8, next_attempt_at: null, last_error: 'HTTP 500' })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', delivery.id)
      .execute();

    const retried = expectData(await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/deliveries/${delivery.id}/retry`, headers), 202) as Delivery & { next_attempt_at: string };
    expect(retried).toMatchObject({ id: delivery.id, status: 'pending', in_sequence: false, attempts: 8 });
    expect(retried.next_attempt_at).toMatch(RFC3339_UTC);
    const [row] = await deliveryRows(t.ctx, tenantId, created.id);
    expect([row.status, Number(row.in_sequence), row.next_attempt_at]).toEqual(['pending', 0, retried.next_attempt_at]);
    expect((expectPageData(await get(t.ctx, `${hook(tenantId, created.id)}/deliveries`, headers, { status: 'pending' })) as Delivery[]).map((d) => d.id)).toEqual([delivery.id]);
  });

  it('answers 404 webhook_delivery.not_found to a retry of a delivery of another webhook', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const first = await createWebhook(t.ctx, tenantId, headers);
    const second = await createWebhook(t.ctx, tenantId, headers);
    const delivery = await ping(t.ctx, tenantId, first.id, headers);
    await t.ctx.store.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('tenant_id', '=', tenantId).where('id', '=', delivery.id).execute();

    expectError(await send(t.ctx, 'POST', `${hook(tenantId, second.id)}/deliveries/${delivery.id}/retry`, headers), 404, 'webhook_delivery.not_found');
    expectError(await send(t.ctx, 'POST', `${hook(tenantId, first.id)}/deliveries/dlv_doesnotexist/retry`, headers), 404, 'webhook_delivery.not_found');
    const [row] = await deliveryRows(t.ctx, tenantId, first.id);
    expect(row.status).toBe('failed');
  });

  it('answers 409 webhook_delivery.in_flight to a retry of a delivery being sent right now (its lease held)', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const delivery = await ping(t.ctx, tenantId, created.id, headers);
    const leased = new Date(Date.now() + 60_000).toISOString();
    await t.ctx.store.db.updateTable('webhook_deliveries').set({ lease_owner: 'elsewhere', lease_until: leased }).where('id', '=', delivery.id).execute();
    const retried = await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/deliveries/${delivery.id}/retry`, headers);
    expectError(retried, 409, 'webhook_delivery.in_flight');
    // Once the lease has run out, the same retry is taken.
    await t.ctx.store.db.updateTable('webhook_deliveries').set({ lease_until: new Date(Date.now() - 1000).toISOString() }).where('id', '=', delivery.id).execute();
    expect((await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/deliveries/${delivery.id}/retry`, headers)).statusCode).toBe(202);
  });

  it('answers 409 webhook.disabled to a retry of the pending head of a disabled webhook, and tries it at once when enabled', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const delivery = await ping(t.ctx, tenantId, created.id, headers);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    // The head of the ordered stream, waiting for its next attempt.
    await t.ctx.store.db
      .updateTable('webhook_deliveries')
      .set({ in_sequence: 1, attempts: 2, next_attempt_at: later })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', delivery.id)
      .execute();
    expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { enabled: false }));

    const retry = `${hook(tenantId, created.id)}/deliveries/${delivery.id}/retry`;
    expect(expectError(await send(t.ctx, 'POST', retry, headers), 409, 'webhook.disabled')).toContain('enabled: true');
    const [row] = await deliveryRows(t.ctx, tenantId, created.id);
    expect([row.status, Number(row.in_sequence), row.next_attempt_at]).toEqual(['pending', 1, later]);

    expectData(await send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { enabled: true }));
    const retried = expectData(await send(t.ctx, 'POST', retry, headers), 202) as Delivery & { next_attempt_at: string };
    expect(retried).toMatchObject({ status: 'pending', in_sequence: true, attempts: 2 });
    expect(Date.parse(retried.next_attempt_at)).toBeLessThan(Date.parse(later));
  });
});

describe('who may manage webhooks', () => {
  it('refuses a tenant_admin scoped to an OU subtree: 403 auth.outside_scope on create and list', async () => {
    const world = await regionalTenant(t.ctx);
    const scoped = await delegatedClient(t.ctx, world.tenantId, 'tenant_admin', [world.emea.id]);
    expectError(await send(t.ctx, 'POST', hooks(world.tenantId), scoped.headers, { url: 'http://receiver.test/scoped' }), 403, 'auth.outside_scope');
    expectError(await get(t.ctx, hooks(world.tenantId), scoped.headers), 403, 'auth.outside_scope');
    expect(await webhookRows(t.ctx, world.tenantId)).toEqual([]);
  });

  it('refuses an ou_admin assigned tenant-wide, which holds no webhooks permission: 403 auth.no_role', async () => {
    const tenant = await createTenant(t.ctx);
    const subject = `ou-admin-${tenant.id}`;
    await grantRole(t.ctx.store, tenant.id, subject, 'ou_admin', null);
    const token = await t.ctx.tokens.sign({ subject, tenantId: tenant.id, scopes: ['admin:read', 'admin:write'] });
    const headers = { authorization: `Bearer ${token}` };
    // It is an administrator of OUs everywhere: the token and the role work there.
    expectData(await send(t.ctx, 'POST', `${api(tenant.id)}/ous`, headers, { name: 'Mine' }), 201);
    expectError(await send(t.ctx, 'POST', hooks(tenant.id), headers, { url: 'http://receiver.test/ou-admin' }), 403, 'auth.no_role');
    expectError(await get(t.ctx, hooks(tenant.id), headers), 403, 'auth.no_role');
    expect(await webhookRows(t.ctx, tenant.id)).toEqual([]);
  });

  it('refuses writes to a token with only webhooks:read: 403 auth.insufficient_scope', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const reader = await t.ctx.headersFor(tenantId, ['webhooks:read']);
    expect((expectPageData(await get(t.ctx, hooks(tenantId), reader)) as Webhook[]).map((w) => w.id)).toEqual([created.id]);
    expectPage(await get(t.ctx, `${hook(tenantId, created.id)}/deliveries`, reader));
    expectError(await send(t.ctx, 'POST', hooks(tenantId), reader, { url: 'http://receiver.test/reader' }), 403, 'auth.insufficient_scope');
    expectError(await send(t.ctx, 'PATCH', hook(tenantId, created.id), reader, { enabled: false }), 403, 'auth.insufficient_scope');
    expectError(await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/rotate-secret`, reader), 403, 'auth.insufficient_scope');
    expectError(await send(t.ctx, 'POST', `${hook(tenantId, created.id)}/ping`, reader), 403, 'auth.insufficient_scope');
    expectError(await send(t.ctx, 'DELETE', hook(tenantId, created.id), reader), 403, 'auth.insufficient_scope');
    expect(await webhookRows(t.ctx, tenantId)).toHaveLength(1);
    expect(await deliveryRows(t.ctx, tenantId)).toEqual([]);
  });

  it('refuses a token without any webhooks scope: 403 auth.insufficient_scope on read', async () => {
    const { tenantId } = await tenantWithAdmin(t.ctx);
    const ousOnly = await t.ctx.headersFor(tenantId, ['ous:read', 'ous:write']);
    expectError(await get(t.ctx, hooks(tenantId), ousOnly), 403, 'auth.insufficient_scope');
  });
});

describe('a PostgreSQL-configured server without ARBOR_SECRETS_KEY', () => {
  it('answers 503 webhook.secrets_key_missing to create and rotate-secret, and writes nothing', async () => {
    // The store is still the test store: databaseUrl is only consulted for the key fallback.
    const ctx = await createTestContext({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', secretsKey: null });
    try {
      const { tenantId, headers } = await tenantWithAdmin(ctx);
      const seq = await lastSeq(ctx, tenantId);
      const response = await send(ctx, 'POST', hooks(tenantId), headers, { url: 'http://receiver.test/nokey' });
      expect(expectError(response, 503, 'webhook.secrets_key_missing')).toContain('ARBOR_SECRETS_KEY');
      expect(await webhookRows(ctx, tenantId)).toEqual([]);
      expect(await events(ctx, tenantId, seq)).toEqual([]);

      // A subscription made while a key was configured: rotating needs the key too.
      const now = new Date().toISOString();
      await ctx.store.db
        .insertInto('webhooks')
        .values({
          tenant_id: tenantId,
          id: 'wh_madewithakey',
          url: 'http://receiver.test/old',
          description: null,
          event_types: '["*"]',
          enabled: 1,
          disabled_reason: null,
          secret: 'v1.key.iv.tag.data',
          previous_secret: null,
          previous_secret_expires_at: null,
          cursor_seq: seq,
          next_attempt_at: null,
          failing_since: null,
          lease_owner: null,
          lease_until: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      expectError(await send(ctx, 'POST', `${hook(tenantId, 'wh_madewithakey')}/rotate-secret`, headers), 503, 'webhook.secrets_key_missing');
      expect((await webhookRow(ctx, tenantId, 'wh_madewithakey')).secret).toBe('v1.key.iv.tag.data');
      expect(await events(ctx, tenantId, seq)).toEqual([]);
      // Reading still works.
      expect((expectPageData(await get(ctx, hooks(tenantId), headers)) as Webhook[]).map((w) => w.id)).toEqual(['wh_madewithakey']);
    } finally {
      await ctx.close();
    }
  });
});

describe('deleting the tenant', () => {
  it("deletes the tenant's webhooks and deliveries, and no other tenant's", async () => {
    const doomed = await tenantWithAdmin(t.ctx);
    const kept = await tenantWithAdmin(t.ctx);
    for (const { tenantId, headers } of [doomed, kept]) {
      const created = await createWebhook(t.ctx, tenantId, headers);
      await ping(t.ctx, tenantId, created.id, headers);
    }
    expect(await webhookRows(t.ctx, doomed.tenantId)).toHaveLength(1);
    expect(await deliveryRows(t.ctx, doomed.tenantId)).toHaveLength(1);

    expectNoContent(await send(t.ctx, 'DELETE', `/api/v1/tenants/${doomed.tenantId}`, t.ctx.platformHeaders));
    expect(await webhookRows(t.ctx, doomed.tenantId)).toEqual([]);
    expect(await deliveryRows(t.ctx, doomed.tenantId)).toEqual([]);
    expect(await webhookRows(t.ctx, kept.tenantId)).toHaveLength(1);
    expect(await deliveryRows(t.ctx, kept.tenantId)).toHaveLength(1);
  });
});

describe.skipIf(!isPostgresPass)('a PATCH beside the dispatcher (PostgreSQL: they write concurrently)', () => {
  it('writes only the fields it changes: a delivery recorded between its read and its write is kept', async () => {
    const { tenantId, headers } = await tenantWithAdmin(t.ctx);
    const created = await createWebhook(t.ctx, tenantId, headers);
    const recordedAt = new Date().toISOString();
    let patched: Promise<LightMyRequestResponse> | undefined;
    // The dispatcher's write holds the row while the PATCH reads it (the old values) and then waits to write.
    await t.ctx.store.db.transaction().execute(async (trx) => {
      await trx.updateTable('webhooks').set({ cursor_seq: 4242, failing_since: recordedAt, next_attempt_at: recordedAt }).where('id', '=', created.id).execute();
      patched = send(t.ctx, 'PATCH', hook(tenantId, created.id), headers, { description: 'edited meanwhile' });
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    expect((await patched)?.statusCode).toBe(200);
    const row = await webhookRow(t.ctx, tenantId, created.id);
    expect(row).toMatchObject({ description: 'edited meanwhile', failing_since: recordedAt, next_attempt_at: recordedAt });
    expect(Number(row.cursor_seq)).toBe(4242);
  });
});

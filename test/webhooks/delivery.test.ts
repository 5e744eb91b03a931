import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { createOu, createTenant } from '../helpers/factories.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.js';
import { TEST_HOSTS, testLookup, testWebhooks, trippedAddresses } from '../helpers/webhooks.js';

/**
 * Delivery, end to end: the app's dispatcher sends to a real receiver on loopback, which checks
 * every signature with the `standardwebhooks` package (test/helpers/webhook-receiver.ts). Retry
 * schedules are milliseconds here; the defaults are in config.ts and docs/webhooks.md.
 */

interface World {
  ctx: TestContext;
  receiver: Receiver;
  tenantId: string;
  headers: Record<string, string>;
}

const open: { ctx?: TestContext; receiver?: Receiver }[] = [];

afterEach(async () => {
  for (const { ctx, receiver } of open.splice(0)) {
    await ctx?.close();
    await receiver?.close();
  }
});

async function world(webhooks: Partial<Config['webhooks']> = {}, lookup?: typeof testLookup): Promise<World> {
  const receiver = await startReceiver();
  const ctx = await createTestContext({ webhooks: testWebhooks({ dispatch: true, retryScheduleMs: [0, 30, 30, 30], ...webhooks }) }, lookup ? { webhookLookup: lookup } : {});
  open.push({ ctx, receiver });
  const tenant = await createTenant(ctx);
  return { ctx, receiver, tenantId: tenant.id, headers: await ctx.headersFor(tenant.id, ['admin:read', 'admin:write']) };
}

async function subscribe(w: World, body: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  const response = await w.ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${w.tenantId}/webhooks`, headers: w.headers, payload: { url: w.receiver.url, event_types: ['ou.*'], ...body } });
  expect(response.statusCode, response.body).toBe(201);
  const { id, secret } = response.json().data as { id: string; secret: string };
  w.receiver.setSecrets([secret]);
  return { id, secret };
}

async function api(w: World, method: 'GET' | 'POST' | 'PATCH', path: string, payload?: object) {
  const response = await w.ctx.app.inject({ method, url: `/api/v1/tenants/${w.tenantId}${path}`, headers: w.headers, ...(payload ? { payload } : {}) });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json().data;
}

async function deliveries(w: World, webhookId: string): Promise<Record<string, any>[]> {
  return api(w, 'GET', `/webhooks/${webhookId}/deliveries?per_page=100`);
}

/** Polls `read` until `done` holds of its value (or fails after `timeoutMs`, showing the last value). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms; last value: ${JSON.stringify(value).slice(0, 800)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
    value = await read();
  }
  return value;
}

const seqs = (receiver: Receiver) => receiver.received.map((r) => r.body.data.seq as number);
const strictlyIncreasing = (list: number[]) => list.every((n, i) => i === 0 || n > list[i - 1]);

describe('webhook delivery', () => {
  it('delivers each event as Standard Webhooks: webhook-id the event id, data the event as the feed shows it, signed', async () => {
    const w = await world();
    await subscribe(w);
    const ou = await createOu(w.ctx, w.tenantId, { name: 'Signed' });
    await w.receiver.waitFor((r) => r.length >= 1);
    const [delivery] = w.receiver.received;
    const [event] = (await api(w, 'GET', '/events?type=ou.created')) as Record<string, any>[];
    expect(delivery.id).toBe(event.id);
    expect(delivery.body).toEqual({ type: 'ou.created', timestamp: event.occurred_at, data: event });
    expect(delivery.body.data.resource.id).toBe(ou.id);
    expect(delivery.verifiedBy).toEqual([0]);
    expect(delivery.signatures).toHaveLength(1);
    expect(Math.abs(delivery.timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(w.receiver.rejected).toEqual([]);
  });

  it("sends a traceparent that continues the trace of the request that made the change: the event's trace id, a new span id", async () => {
    const w = await world();
    await subscribe(w);
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const traced = await w.ctx.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${w.tenantId}/ous`,
      headers: { ...w.headers, traceparent: `00-${callerTrace}-${callerSpan}-01` },
      payload: { name: 'Traced' },
    });
    expect(traced.statusCode, traced.body).toBe(201);
    await createOu(w.ctx, w.tenantId, { name: 'Untraced' });
    await w.receiver.waitFor((r) => r.length >= 2);
    const events = (await api(w, 'GET', '/events?type=ou.created')) as Record<string, any>[];
    expect(events.map((e) => e.trace_id)).toEqual([callerTrace, expect.stringMatching(/^[0-9a-f]{32}$/)]);
    const spans = new Set<string>();
    for (const [i, delivery] of w.receiver.received.entries()) {
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(delivery.traceparent ?? '');
      expect(match, `traceparent of delivery ${i}: ${delivery.traceparent}`).not.toBeNull();
      expect(match![1]).toBe(events[i].trace_id);
      expect(delivery.body.data.trace_id).toBe(events[i].trace_id);
      expect(match![2]).not.toBe(callerSpan);
      expect(match![2]).not.toBe('0'.repeat(16));
      spans.add(match![2]);
    }
    expect(spans.size).toBe(2);
  });

  it('delivers a burst of 1,000 changes complete, in seq order, each once', async () => {
    const w = await world();
    await subscribe(w);
    for (let i = 0; i < 1000; i++) await createOu(w.ctx, w.tenantId, { name: `Burst ${i}` });
    await w.receiver.waitFor((r) => r.length >= 1000, 60_000);
    const feed = (await api(w, 'GET', '/events?type=ou.created&limit=1000')) as { seq: number; id: string }[];
    expect(feed).toHaveLength(1000);
    expect(seqs(w.receiver)).toEqual(feed.map((e) => e.seq));
    expect(w.receiver.distinct().duplicates).toBe(0);
    expect(w.receiver.rejected).toEqual([]);
  }, 120_000);

  it('sends only the event types subscribed to, and moves its cursor past the others', async () => {
    const w = await world();
    const { id } = await subscribe(w, { event_types: ['user.created', 'ou.deleted'] });
    const ou = await createOu(w.ctx, w.tenantId, { name: 'Filtered' });
    await api(w, 'POST', '/users', { email: 'filtered@example.com', ou_id: ou.id });
    await api(w, 'PATCH', `/ous/${ou.id}`, { description: 'changed' });
    await w.ctx.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${w.tenantId}/ous/${ou.id}?strategy=CASCADE`, headers: w.headers });
    await w.receiver.waitFor((r) => r.length >= 2);
    expect(w.receiver.received.map((r) => r.body.type)).toEqual(['user.created', 'ou.deleted']);
    const head = (await api(w, 'GET', '/events?limit=1000')) as { seq: number }[];
    const webhook = await eventually(() => api(w, 'GET', `/webhooks/${id}`), (wh) => wh.last_event_seq === head[head.length - 1].seq);
    expect(webhook.failing_since).toBeNull();
  });

  it('does not send event N+1 before N is delivered: a failing event holds the ones after it, then all arrive in order', async () => {
    const w = await world({ retryScheduleMs: [0, 100, 100, 100, 100] });
    const { id } = await subscribe(w);
    w.receiver.nextRequests(3, { kind: 'fail', status: 500, body: 'not now' });
    for (let i = 0; i < 5; i++) await createOu(w.ctx, w.tenantId, { name: `Held ${i}` });
    await w.receiver.waitFor((r) => r.filter((d) => d.body.type === 'ou.created').length >= 8);
    // The first event was tried four times before the second was sent at all.
    const arrivals = seqs(w.receiver);
    expect(arrivals.slice(0, 4).every((s) => s === arrivals[0])).toBe(true);
    expect(strictlyIncreasing(arrivals.slice(3))).toBe(true);
    expect([...new Set(arrivals)]).toHaveLength(5);
    const first = (await deliveries(w, id)).find((d) => d.event_seq === arrivals[0]);
    expect(first).toMatchObject({ status: 'delivered', attempts: 4, last_response_status: 204, in_sequence: true });
  });

  it('loses nothing while the receiver is down, and delivers everything in order once it is up', async () => {
    const w = await world({ retryScheduleMs: [0, 50, 100, 200, 400, 400, 400, 400, 400, 400, 400, 400] });
    await subscribe(w);
    await createOu(w.ctx, w.tenantId, { name: 'Before' });
    await w.receiver.waitFor((r) => r.length >= 1);
    await w.receiver.stop();
    for (let i = 0; i < 20; i++) await createOu(w.ctx, w.tenantId, { name: `While down ${i}` });
    await new Promise((resolve) => setTimeout(resolve, 600));
    await w.receiver.start();
    await w.receiver.waitFor((r) => new Set(r.map((d) => d.id)).size >= 21, 20_000);
    expect(seqs(w.receiver)).toEqual([...new Set(seqs(w.receiver))]);
    expect(strictlyIncreasing(seqs(w.receiver))).toBe(true);
    const feed = (await api(w, 'GET', '/events?type=ou.created&limit=100')) as { seq: number }[];
    expect(seqs(w.receiver)).toEqual(feed.map((e) => e.seq));
  });

  it('gives an event up after the last attempt of the schedule, marks it failed, and moves on to the next', async () => {
    const w = await world({ retryScheduleMs: [0, 20, 20] });
    const { id } = await subscribe(w);
    w.receiver.nextRequests(3, { kind: 'fail', status: 500 });
    await createOu(w.ctx, w.tenantId, { name: 'Given up' });
    await createOu(w.ctx, w.tenantId, { name: 'Next' });
    await w.receiver.waitFor((r) => r.length >= 4);
    const list = await eventually(() => deliveries(w, id), (l) => l.length === 2 && l.every((d) => d.status !== 'pending'));
    const bySeq = [...list].sort((a, b) => a.event_seq - b.event_seq);
    expect(bySeq[0]).toMatchObject({ status: 'failed', attempts: 3, last_response_status: 500, last_error: 'HTTP 500', next_attempt_at: null });
    expect(bySeq[1]).toMatchObject({ status: 'delivered', attempts: 1 });
    const webhook = await api(w, 'GET', `/webhooks/${id}`);
    expect(webhook).toMatchObject({ enabled: true, failing_since: null, last_event_seq: bySeq[1].event_seq });
  });

  it('honours Retry-After on 429 and 503 instead of the schedule', async () => {
    for (const status of [429, 503]) {
      const w = await world({ retryScheduleMs: [0, 10, 10] });
      const { id } = await subscribe(w);
      w.receiver.nextRequests(1, { kind: 'fail', status, retryAfter: '7' });
      await createOu(w.ctx, w.tenantId, { name: `Later ${status}` });
      const [pending] = await eventually(() => deliveries(w, id), (l) => l.length === 1 && l[0].attempts === 1);
      expect(pending.status).toBe('pending');
      expect(Date.parse(pending.next_attempt_at) - Date.parse(pending.last_attempt_at)).toBeGreaterThanOrEqual(7000);
      expect((await api(w, 'GET', `/webhooks/${id}`)).next_attempt_at).toBe(pending.next_attempt_at);
      // Asked to wait, the dispatcher does not call before then.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(w.receiver.received).toHaveLength(1);
    }
  });

  it('disables the subscription on 410 Gone, records it as an event, and resumes with the same event when enabled again', async () => {
    const w = await world();
    const { id } = await subscribe(w);
    w.receiver.nextRequests(1, { kind: 'fail', status: 410 });
    await createOu(w.ctx, w.tenantId, { name: 'Gone' });
    const disabled = await eventually(() => api(w, 'GET', `/webhooks/${id}`), (wh) => wh.enabled === false);
    expect(disabled.disabled_reason).toBe('gone');
    const [event] = (await api(w, 'GET', `/events?type=webhook.updated`)) as Record<string, any>[];
    expect(event).toMatchObject({ actor: { type: 'system', id: 'webhook-dispatcher' }, resource: { type: 'webhook', id }, data: { after: { enabled: false, disabled_reason: 'gone' } } });
    await createOu(w.ctx, w.tenantId, { name: 'While disabled' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(w.receiver.received).toHaveLength(1);
    await api(w, 'PATCH', `/webhooks/${id}`, { enabled: true });
    await w.receiver.waitFor((r) => r.length >= 3);
    expect(seqs(w.receiver)[1]).toBe(seqs(w.receiver)[0]);
    expect(w.receiver.received.map((r) => r.body.data.data.after?.name)).toEqual(['Gone', 'Gone', 'While disabled']);
  });

  it('disables a subscription that has had nothing but failures for ARBOR_WEBHOOK_DISABLE_AFTER_HOURS', async () => {
    const w = await world({ retryScheduleMs: [0, 50, 50], disableAfterMs: 400 });
    const { id } = await subscribe(w);
    w.receiver.setMode({ kind: 'fail', status: 500 });
    for (let i = 0; i < 10; i++) await createOu(w.ctx, w.tenantId, { name: `Failing ${i}` });
    const disabled = await eventually(() => api(w, 'GET', `/webhooks/${id}`), (wh) => wh.enabled === false);
    expect(disabled.disabled_reason).toBe('failing');
    expect(Date.parse(disabled.updated_at) - Date.parse(disabled.failing_since)).toBeGreaterThanOrEqual(400);
    const list = await deliveries(w, id);
    expect(list.some((d) => d.status === 'failed')).toBe(true);
    expect(list.every((d) => d.status !== 'delivered')).toBe(true);
  });

  it('follows no redirect: a 302 is a failed attempt, and nothing is sent where it points', async () => {
    const w = await world({ retryScheduleMs: [0] });
    const { id } = await subscribe(w);
    const elsewhere = await startReceiver();
    open.push({ receiver: elsewhere });
    w.receiver.setMode({ kind: 'redirect', location: elsewhere.url });
    await createOu(w.ctx, w.tenantId, { name: 'Redirected' });
    const [failed] = await eventually(() => deliveries(w, id), (l) => l.length === 1 && l[0].status === 'failed');
    expect(failed).toMatchObject({ last_response_status: 302, last_error: 'HTTP 302' });
    expect(elsewhere.received).toHaveLength(0);
    expect(elsewhere.rejected).toHaveLength(0);
  });

  it('gives up an attempt the receiver does not answer within the timeout', async () => {
    const w = await world({ retryScheduleMs: [0], timeoutMs: 300 });
    const { id } = await subscribe(w);
    w.receiver.setMode({ kind: 'hang' });
    await createOu(w.ctx, w.tenantId, { name: 'Hanging' });
    const [failed] = await eventually(() => deliveries(w, id), (l) => l.length === 1 && l[0].status === 'failed');
    expect(failed).toMatchObject({ last_response_status: null, last_error: 'timeout after 300 ms' });
    expect(failed.last_latency_ms).toBeGreaterThanOrEqual(300);
  });

  it('keeps at most 1 KiB of what a receiver answers, and none of it in events', async () => {
    const w = await world({ retryScheduleMs: [0] });
    const { id } = await subscribe(w);
    const answer = `${'é'.repeat(600)}TAIL-MARKER`;
    w.receiver.nextRequests(1, { kind: 'fail', status: 500, body: answer });
    await createOu(w.ctx, w.tenantId, { name: 'Chatty receiver' });
    const [failed] = await eventually(() => deliveries(w, id), (l) => l.length === 1 && l[0].status === 'failed');
    expect(Buffer.byteLength(failed.last_response_body)).toBeLessThanOrEqual(1024);
    expect(answer.startsWith(failed.last_response_body.replace(/\uFFFD$/, ''))).toBe(true);
    const stored = await w.ctx.store.db.selectFrom('webhook_deliveries').select('last_response_body').execute();
    expect(stored.every((row) => !row.last_response_body?.includes('TAIL-MARKER'))).toBe(true);
    const events = await w.ctx.store.db.selectFrom('events').select('data').execute();
    expect(events.some((row) => row.data.includes('éééé'))).toBe(false);
  });

  it('keeps an answer with NUL bytes as text any store takes, and the subscription moves on', async () => {
    const w = await world({ retryScheduleMs: [0] });
    const { id } = await subscribe(w);
    w.receiver.nextRequests(1, { kind: 'fail', status: 500, body: 'binary\u0000answer' });
    await createOu(w.ctx, w.tenantId, { name: 'Binary answer' });
    await createOu(w.ctx, w.tenantId, { name: 'After it' });
    const list = await eventually(() => deliveries(w, id), (l) => l.length === 2 && l.every((d) => d.status !== 'pending'));
    const failed = list.find((d) => d.status === 'failed');
    expect(failed?.last_response_body).toBe('binary\uFFFDanswer');
    expect(list.filter((d) => d.status === 'delivered')).toHaveLength(1);
  });

  it('signs under both secrets for the overlap after a rotation, then under the new one only', async () => {
    const w = await world();
    const { id, secret: old } = await subscribe(w);
    const rotated = await api(w, 'POST', `/webhooks/${id}/rotate-secret`);
    w.receiver.setSecrets([old, rotated.secret]);
    await createOu(w.ctx, w.tenantId, { name: 'During the overlap' });
    await w.receiver.waitFor((r) => r.length >= 1);
    expect(w.receiver.received[0].verifiedBy).toEqual([0, 1]);
    expect(w.receiver.received[0].signatures).toHaveLength(2);
    // The overlap is over.
    await w.ctx.store.db.updateTable('webhooks').set({ previous_secret_expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', id).execute();
    await createOu(w.ctx, w.tenantId, { name: 'After the overlap' });
    await w.receiver.waitFor((r) => r.length >= 2);
    expect(w.receiver.received[1].verifiedBy).toEqual([1]);
    expect(w.receiver.received[1].signatures).toHaveLength(1);
  });

  it('sends a ping to a paused subscription too, and none of the events it holds', async () => {
    const w = await world();
    const { id } = await subscribe(w, { enabled: false });
    await createOu(w.ctx, w.tenantId, { name: 'Held while paused' });
    const ping = await api(w, 'POST', `/webhooks/${id}/ping`);
    await w.receiver.waitFor((r) => r.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(w.receiver.received.map((r) => r.id)).toEqual([ping.event_id]);
  });

  it('sends a ping at once on its own, and re-sends a given-up delivery on request', async () => {
    const w = await world({ retryScheduleMs: [0] });
    const { id } = await subscribe(w);
    const ping = await api(w, 'POST', `/webhooks/${id}/ping`);
    await w.receiver.waitFor((r) => r.length >= 1);
    expect(w.receiver.received[0]).toMatchObject({ id: ping.event_id, body: { type: 'webhook.ping', data: { webhook_id: id, delivery_id: ping.id } } });
    const sent = await eventually(() => deliveries(w, id), (l) => l[0]?.status === 'delivered');
    expect(sent[0]).toMatchObject({ id: ping.id, attempts: 1, in_sequence: false });
    w.receiver.nextRequests(1, { kind: 'fail', status: 500 });
    await createOu(w.ctx, w.tenantId, { name: 'Resent' });
    const failed = (await eventually(() => deliveries(w, id), (l) => l.some((d) => d.status === 'failed'))).find((d) => d.status === 'failed');
    const retried = await api(w, 'POST', `/webhooks/${id}/deliveries/${failed?.id}/retry`);
    expect(retried).toMatchObject({ status: 'pending', in_sequence: false });
    await w.receiver.waitFor((r) => r.length >= 3);
    expect(w.receiver.received[2].id).toBe(failed?.event_id);
    const done = await eventually(() => deliveries(w, id), (l) => l.find((d) => d.id === failed?.id)?.status === 'delivered');
    expect(done.find((d) => d.id === failed?.id)?.attempts).toBe(2);
  });
});

describe('webhook delivery beside the API', () => {
  it('serves API writes and reads while every delivery slot hangs on a receiver: no request waits for a delivery', async () => {
    const w = await world({ retryScheduleMs: [0], timeoutMs: 8000, concurrency: 2 });
    const subscriptions = [];
    for (let i = 0; i < 4; i++) subscriptions.push(await subscribe(w));
    const hooks = subscriptions.map((s) => s.id);
    w.receiver.setSecrets(subscriptions.map((s) => s.secret));
    w.receiver.setMode({ kind: 'hang' });
    await createOu(w.ctx, w.tenantId, { name: 'Starts the hang' });
    await w.receiver.waitFor((r) => r.length >= 2);
    for (let i = 0; i < 50; i++) {
      await createOu(w.ctx, w.tenantId, { name: `Meanwhile ${i}` });
      await api(w, 'GET', '/ous?per_page=5');
    }
    // Every attempt is still in flight (none recorded), and the requests above were all answered.
    for (const id of hooks) expect(await deliveries(w, id)).toEqual([]);
    // ARBOR_WEBHOOK_CONCURRENCY (2) subscriptions at a time: the other two wait for a free slot.
    expect(w.receiver.received).toHaveLength(2);
  });
});

describe('webhook delivery refuses internal addresses at connect time', () => {
  it('refuses a host that resolved to a public address at creation and to a private one at delivery (DNS rebinding), sending nothing', async () => {
    const answers: Record<string, string> = { 'rebind.test': TEST_HOSTS['public.test'][0] };
    const rebinding: typeof testLookup = async (hostname) => (answers[hostname] ? [{ address: answers[hostname], family: 4 }] : testLookup(hostname));
    const w = await world({ retryScheduleMs: [0], allowInsecure: false }, rebinding);
    const created = await w.ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${w.tenantId}/webhooks`, headers: w.headers, payload: { url: 'https://rebind.test/hook' } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().data.id as string;
    answers['rebind.test'] = '10.0.0.7';
    const tripped = trippedAddresses.length;
    await createOu(w.ctx, w.tenantId, { name: 'Rebound' });
    const failed = await eventually(() => deliveries(w, id), (l) => l.some((d) => d.event_type === 'ou.created' && d.status === 'failed'));
    expect(failed.find((d) => d.event_type === 'ou.created')?.last_error).toBe('refused: private address 10.0.0.7');
    // Not even an attempt to connect reached the tripwire that stands in for the network.
    expect(trippedAddresses.length).toBe(tripped);
  });
});

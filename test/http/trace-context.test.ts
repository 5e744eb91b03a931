import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { QUIET_ENV } from '../helpers/test-app.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * W3C Trace Context on every request: a valid `traceparent`'s trace id (else a new one) is in
 * every log line of the request and in every event it writes, as the change feed shows them.
 */

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const traceparent = (traceId = TRACE) => `00-${traceId}-b7ad6b7169203331-01`;
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;

interface World {
  built: App;
  lines: Record<string, unknown>[];
  headers: Record<string, string>;
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** An app on a test store whose JSON log lines are captured, and a platform token. */
async function world(): Promise<World> {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const store = await openTestStore();
  const built = await buildApp(loadConfig({ ...QUIET_ENV, DATABASE_URL: 'sqlite::memory:' }), { store, logStream: stream, bootstrapAdminClient: false });
  cleanup = async () => {
    await built.app.close();
    await closeTestStore(store);
  };
  const token = await built.tokens.sign({ subject: 'trace-test', scopes: ['platform:admin'] });
  return { built, lines, headers: { authorization: `Bearer ${token}` } };
}

/** Creates a tenant and an OU in it, the OU with `headers`; returns the tenant and the events of the OU's request. */
async function createOuWith(w: World, headers: Record<string, string>) {
  const tenant = await w.built.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: w.headers, payload: { name: `Traced ${Math.random()}` } });
  expect(tenant.statusCode, tenant.body).toBe(201);
  const tenantId = tenant.json().data.id as string;
  const created = await w.built.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/ous`, headers: { ...w.headers, ...headers }, payload: { name: 'Traced' } });
  expect(created.statusCode, created.body).toBe(201);
  const requestId = created.headers['x-request-id'] as string;
  const feed = await w.built.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events`, headers: w.headers });
  expect(feed.statusCode, feed.body).toBe(200);
  const events = (feed.json().data as Record<string, unknown>[]).filter((e) => e.request_id === requestId);
  expect(events.length).toBeGreaterThan(0);
  return { tenantId, requestId, events, tenantRequestId: tenant.headers['x-request-id'] as string };
}

const linesOf = (w: World, requestId: string) => w.lines.filter((line) => line.request_id === requestId);

describe('traceparent', () => {
  it("puts a valid header's trace id in every event the request wrote and in every log line of the request", async () => {
    const w = await world();
    const { events, requestId } = await createOuWith(w, { traceparent: traceparent(), 'x-request-id': 'traced-create' });
    expect(requestId).toBe('traced-create');
    expect(events.map((e) => e.trace_id)).toEqual(events.map(() => TRACE));
    const lines = linesOf(w, requestId);
    expect(lines.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(lines.every((l) => l.trace_id === TRACE)).toBe(true);
  });

  it('ignores an invalid header, never refusing the request, and uses a fresh trace id instead', async () => {
    const w = await world();
    const invalid = [
      `00-${TRACE.toUpperCase()}-b7ad6b7169203331-01`,
      `00-${'0'.repeat(32)}-b7ad6b7169203331-01`,
      `ff-${TRACE}-b7ad6b7169203331-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      'garbage',
    ];
    const seen = new Set<string>();
    for (const [i, header] of invalid.entries()) {
      const { events, requestId } = await createOuWith(w, { traceparent: header, 'x-request-id': `invalid-${i}` });
      const traceId = events[0].trace_id as string;
      expect(traceId, header).toMatch(TRACE_ID);
      expect(traceId).not.toBe(TRACE);
      expect(header).not.toContain(traceId);
      expect(events.every((e) => e.trace_id === traceId)).toBe(true);
      expect(linesOf(w, requestId).every((l) => l.trace_id === traceId)).toBe(true);
      seen.add(traceId);
    }
    expect(seen.size).toBe(invalid.length);
  });

  it('gives a request without one a trace id of its own: in its logs and its events, different for each request', async () => {
    const w = await world();
    const { events, requestId, tenantRequestId } = await createOuWith(w, {});
    const traceId = events[0].trace_id as string;
    expect(traceId).toMatch(TRACE_ID);
    expect(linesOf(w, requestId).every((l) => l.trace_id === traceId)).toBe(true);
    const other = linesOf(w, tenantRequestId)[0]?.trace_id as string;
    expect(other).toMatch(TRACE_ID);
    expect(other).not.toBe(traceId);
  });

  it('carries one trace id through a request that writes many events, and a read request logs its own', async () => {
    const w = await world();
    const { tenantId } = await createOuWith(w, {});
    const child = await w.built.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/ous`, headers: w.headers, payload: { name: 'Child' } });
    const parentId = child.json().data.id as string;
    for (const name of ['A', 'B']) await w.built.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/ous`, headers: w.headers, payload: { name, parent_id: parentId } });
    const remove = await w.built.app.inject({
      method: 'DELETE',
      url: `/api/v1/tenants/${tenantId}/ous/${parentId}?strategy=CASCADE`,
      headers: { ...w.headers, traceparent: traceparent(), 'x-request-id': 'cascade' },
    });
    expect(remove.statusCode, remove.body).toBeLessThan(300);
    const feed = await w.built.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events?limit=100`, headers: w.headers });
    const deleted = (feed.json().data as Record<string, unknown>[]).filter((e) => e.request_id === 'cascade');
    expect(deleted.length).toBeGreaterThanOrEqual(3);
    expect(new Set(deleted.map((e) => e.trace_id))).toEqual(new Set([TRACE]));

    await w.built.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous`, headers: { ...w.headers, traceparent: traceparent('1'.repeat(32)), 'x-request-id': 'read' } });
    expect(linesOf(w, 'read').map((l) => l.trace_id)).toEqual(['1'.repeat(32), '1'.repeat(32)]);
  });
});

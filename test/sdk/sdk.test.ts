import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveOpenApiDocument } from '../../src/cli/api-reference-pages.js';
import {
  ArborAuthError,
  type ArborClient,
  createArborClient,
  createApiClient,
  createOu,
  createUser,
  each,
  follow,
  getOu,
  listEvents,
  listOuUsers,
  listOus,
  updateOu,
} from '../../sdk/src/index.js';
import { ROOT } from '../helpers/server-process.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';

/**
 * @arbor/sdk against a real Arbor listening on a socket: the generated operations, and the parts
 * written by hand (tokens, retries with Idempotency-Key, `each`, `follow`). And the generated code
 * is current: made from the document the app serves.
 */

let ctx: TestContext;
let baseUrl: string;
let tenantId: string;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  ctx = await createTestContext();
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as { port: number }).port}`;
  const tenant = await ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: ctx.platformHeaders, payload: { name: 'SDK Co' } });
  tenantId = tenant.json().data.id;
  const client = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/clients`,
    headers: await ctx.headersFor(tenantId, ['clients:write', 'ous:read', 'ous:write', 'users:read', 'users:write', 'events:read']),
    payload: { name: 'sdk', scopes: ['ous:read', 'ous:write', 'users:read', 'users:write', 'events:read'] },
  });
  expect(client.statusCode, client.body).toBe(201);
  credentials = { clientId: client.json().data.id, clientSecret: client.json().data.client_secret };
});
afterAll(async () => {
  // Keep-alive sockets of fetch's pool would hold the close back.
  ctx.app.server.closeAllConnections();
  await ctx.close();
});

/** A fetch that counts requests by path and lets a test tamper with them. */
function countingFetch(tamper?: (request: Request, n: number) => Promise<Response | undefined> | undefined) {
  const counts = new Map<string, number>();
  let n = 0;
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    n++;
    return (await tamper?.(request, n)) ?? fetch(request);
  };
  return { fetch: wrapped as typeof fetch, count: (path: string) => counts.get(path) ?? 0 };
}

describe('@arbor/sdk', () => {
  it('creates and reads OUs and lists an OU’s users with typed answers, getting one token for many calls', async () => {
    const counter = countingFetch();
    const arbor = createArborClient({ baseUrl, credentials, fetch: counter.fetch });
    const { data: created } = await createOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { name: 'Typed' } });
    const ou = created.data;
    expect(ou.path).toBe('/Typed');
    await createUser({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { email: 'typed@x.io', ou_id: ou.id } });
    const [read, users] = await Promise.all([
      getOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId, ou_id: ou.id } }),
      listOuUsers({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId, ou_id: ou.id } }),
    ]);
    expect(read.data.data.name).toBe('Typed');
    // Typed rows (UserResponse), not unknown[].
    expect(users.data.data.map((user) => user.email)).toEqual(['typed@x.io']);
    expect(counter.count('/oauth/token')).toBe(1);
  });

  it('answers a 404 with the typed error body, not a throw, unless asked to throw', async () => {
    const arbor = createArborClient({ baseUrl, credentials });
    const missing = await getOu({ client: arbor.client, path: { tenant_id: tenantId, ou_id: 'ou_missing' } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toEqual({ detail: expect.any(String), code: 'ou.not_found' });
    await expect(getOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId, ou_id: 'ou_missing' } })).rejects.toEqual(expect.objectContaining({ code: 'ou.not_found' }));
  });

  it('gets a new token once after a 401, and retries the call', async () => {
    const counter = countingFetch(async (request, n) => {
      // The first API call carries a token the server does not know.
      if (n === 2) return fetch(new Request(request, { headers: { ...Object.fromEntries(request.headers), authorization: 'Bearer not-a-token' } }));
      return undefined;
    });
    const arbor = createArborClient({ baseUrl, credentials, fetch: counter.fetch });
    const { data } = await listOus({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId } });
    expect(data.pagination.total_items).toBeGreaterThanOrEqual(1);
    expect(counter.count('/oauth/token')).toBe(2);
  });

  it('retries a create whose answer was lost with the same Idempotency-Key: the OU is created once', async () => {
    let lost = 0;
    const counter = countingFetch(async (request) => {
      if (request.method === 'POST' && new URL(request.url).pathname.endsWith('/ous') && lost === 0) {
        lost++;
        // The request reaches Arbor and the OU is created; its answer is lost on the way back.
        await (await fetch(request.clone())).arrayBuffer();
        return new Response('{"detail":"bad gateway"}', { status: 502, headers: { 'content-type': 'application/json' } });
      }
      return undefined;
    });
    const arbor = createArborClient({ baseUrl, credentials, fetch: counter.fetch, maxRetryDelayMs: 50 });
    const { data, response } = await createOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { name: 'Once' } });
    expect(response.headers.get('idempotent-replayed')).toBe('true');
    const all = await listOus({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, query: { search: 'Once' } });
    expect(all.data.data.map((item) => item.id)).toEqual([data.data.id]);
  });

  it('waits as Retry-After says and tries again after a 503, up to its attempts', async () => {
    let refused = 0;
    const counter = countingFetch(async (request) => {
      if (request.method === 'GET' && refused < 2) {
        refused++;
        return new Response('{"detail":"overloaded","code":"server.overloaded"}', { status: 503, headers: { 'retry-after': '0', 'content-type': 'application/json' } });
      }
      return undefined;
    });
    const arbor = createArborClient({ baseUrl, credentials, fetch: counter.fetch });
    const { response } = await listOus({ client: arbor.client, path: { tenant_id: tenantId } });
    expect(response.status).toBe(200);
    const stubborn = createArborClient({ baseUrl, credentials, attempts: 2, fetch: countingFetch(async (request) => (request.method === 'GET' ? new Response('{}', { status: 503, headers: { 'retry-after': '0' } }) : undefined)).fetch });
    expect((await listOus({ client: stubborn.client, path: { tenant_id: tenantId } })).response.status).toBe(503);
  });

  it('retries a write answered 409 idempotency.in_progress with the same key, and gets its answer', async () => {
    let keys: string[] = [];
    const counter = countingFetch(async (request) => {
      if (request.method !== 'POST' || !new URL(request.url).pathname.endsWith('/ous')) return undefined;
      keys.push(request.headers.get('idempotency-key') ?? '');
      if (keys.length === 1) return new Response('{"detail":"still running","code":"idempotency.in_progress"}', { status: 409, headers: { 'content-type': 'application/json', 'retry-after': '0' } });
      return undefined;
    });
    const arbor = createArborClient({ baseUrl, credentials, fetch: counter.fetch });
    const { response } = await createOu({ client: arbor.client, path: { tenant_id: tenantId }, body: { name: 'In progress' } });
    expect(response.status).toBe(201);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    keys = [];
  });

  it('stops waiting to retry as soon as the caller aborts', async () => {
    const arbor = createArborClient({
      baseUrl,
      credentials,
      fetch: countingFetch(async (request) => (request.method === 'GET' ? new Response('{}', { status: 503, headers: { 'retry-after': '8' } }) : undefined)).fetch,
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    // Without the abort it would wait 8 s, try again, and answer the 503.
    const result = await listOus({ client: arbor.client, path: { tenant_id: tenantId }, signal: controller.signal });
    expect(result.response).toBeUndefined();
    expect((result.error as Error).name).toBe('AbortError');
  });

  it('walks every item of a listing by cursor with each()', async () => {
    const arbor = createArborClient({ baseUrl, credentials });
    const parent = (await createOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { name: 'Many' } })).data.data;
    for (let i = 0; i < 25; i++) await createOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { name: `Child ${String(i).padStart(2, '0')}`, parent_id: parent.id } });
    const names: string[] = [];
    for await (const ou of each(arbor, listOus, { path: { tenant_id: tenantId }, query: { parent_id: parent.id, per_page: 10 } })) names.push(ou.name);
    expect(names).toEqual(Array.from({ length: 25 }, (_, i) => `Child ${String(i).padStart(2, '0')}`));
  });

  it('walks an OU\'s history newest first with each(), and stops at its first event (order=desc ends its listing)', async () => {
    const arbor = createArborClient({ baseUrl, credentials });
    const ou = (await createOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { name: 'Audited' } })).data.data;
    for (const description of ['one', 'two', 'three', 'four']) {
      await updateOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId, ou_id: ou.id }, body: { description } });
    }
    const types: string[] = [];
    for await (const event of each(arbor, listEvents, { path: { tenant_id: tenantId }, query: { resource_id: ou.id, order: 'desc' as const, limit: 2 } })) types.push(event.type);
    expect(types).toEqual(['ou.updated', 'ou.updated', 'ou.updated', 'ou.updated', 'ou.created']);
  });

  it('follows the change feed: an event of a write made meanwhile arrives, and the loop ends when aborted', async () => {
    const arbor: ArborClient = createArborClient({ baseUrl, credentials });
    const controller = new AbortController();
    const seen: string[] = [];
    const reader = (async () => {
      for await (const event of follow(arbor, tenantId, { type: 'ou.created', wait: 1, signal: controller.signal })) seen.push(event.resource.id);
    })();
    const marker = (await createOu({ client: arbor.client, throwOnError: true, path: { tenant_id: tenantId }, body: { name: 'Followed' } })).data.data.id;
    for (let i = 0; i < 200 && !seen.includes(marker); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    controller.abort();
    await reader;
    expect(seen).toContain(marker);
  });

  it('says which client the token endpoint refused', async () => {
    const arbor = createArborClient({ baseUrl, credentials: { ...credentials, clientSecret: 'wrong-secret-000000' } });
    const error = await arbor.accessToken().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ArborAuthError);
    expect(error).toMatchObject({ status: 401, error: 'invalid_client', message: expect.stringContaining(credentials.clientId) });
  });

  it('names an API client operation createApiClient, leaving createClient to the HTTP client', () => {
    expect(typeof createApiClient).toBe('function');
  });
});

/** Every file under `dir`, by path relative to it, with its text. */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(dir, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return files;
}

describe('the generated SDK code', () => {
  it('is made from the document the app serves: sdk/openapi.json is current (else: npm run sdk:generate)', async () => {
    expect(JSON.parse(readFileSync(join(ROOT, 'sdk', 'openapi.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(await liveOpenApiDocument())));
  });

  it('is what the generator makes of sdk/openapi.json today (else: npm run sdk:generate)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'arbor-sdk-'));
    try {
      const cli = join(ROOT, 'node_modules', '@hey-api', 'openapi-ts', 'bin', 'run.js');
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, [cli, '--input', join(ROOT, 'sdk', 'openapi.json'), '--output', out, '--client', '@hey-api/client-fetch'], { cwd: join(ROOT, 'sdk'), timeout: 120_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stdout}${stderr}`)) : resolve(),
        ),
      );
      expect(tree(out)).toEqual(tree(join(ROOT, 'sdk', 'src', 'generated')));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

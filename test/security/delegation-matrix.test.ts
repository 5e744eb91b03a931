import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredRoute } from '../../src/app.js';
import { PLATFORM_SCOPE } from '../../src/services/token-service.js';
import { changedTables, storeDigest } from '../fuzz/store-digest.js';
import { delegatedClient, regionalTenant } from '../helpers/delegation.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';

/**
 * The delegation matrix: every route the app registers with a tenant scope × every place a
 * resource can be relative to a principal scoped to /Acme/EMEA (tenant_admin there, so every
 * permission reaches the subtree and no further):
 *
 *   inside      /Acme/EMEA/Paris, its user, a client and an assignment there
 *   root        /Acme/EMEA itself
 *   ancestor    /Acme
 *   sibling     /Acme/Americas
 *   other       the same kinds of resources in another tenant (named through this tenant's URL)
 *   moved-out   /Acme/EMEA/Lyon, seen by the principal's token, then moved under /Acme/Americas
 *
 * The routes come from the app (`routes` of buildApp): a route added later is in the matrix, and
 * a path parameter or a body this file does not know fails it loudly rather than skipping it.
 * Outside places must answer like a missing resource (404) or refuse (403), change nothing in the
 * store, and mention nothing of what is there (names, paths, emails, other ids).
 */

type Place = 'inside' | 'root' | 'ancestor' | 'sibling' | 'other' | 'moved-out';
const OUTSIDE: readonly Place[] = ['ancestor', 'sibling', 'other', 'moved-out'];

interface PlaceIds {
  ou_id: string;
  user_id: string;
  client_id: string;
  assignment_id: string;
  /** A webhook of the place's tenant and a delivery of it: tenant-level, refused to a scoped principal everywhere. */
  webhook_id: string;
  delivery_id: string;
  /** An import job of the place's tenant (a dry run), started by the principal itself inside its subtree, by a platform admin elsewhere. */
  import_id: string;
  /** The place's OU path: an import's body names it. */
  ou_path: string;
  /** Text that identifies what is there, besides the ids a request names itself. */
  secrets: string[];
}

let ctx: TestContext;
let tenantId: string;
let headers: Record<string, string>;
const places = {} as Record<Place, PlaceIds>;
let routes: RegisteredRoute[];
let sequence = 0;
/** A user placed in the moved-out OU after the move: nothing about it may reach the principal. */
let afterTheMove: string;

/** An OU's user, a viewer client at it and that client's assignment. */
async function placeAt(tenant: string, ou: { id: string; name: string; path: string }, label: string, own = false): Promise<PlaceIds> {
  const user = await createUser(ctx, tenant, { ou_id: ou.id, email: `${label}-user@matrix.example` });
  const client = await delegatedClient(ctx, tenant, 'viewer', [ou.id], ['ous:read']);
  // A second assignment of the client, the one the matrix names: deleting it leaves the client
  // its first (a client without any is visible to tenant-wide readers only).
  const second = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant}/role-assignments`,
    headers: ctx.platformHeaders,
    payload: { principal: { type: 'client', id: client.id }, role: 'ou_admin', ou_id: ou.id },
  });
  expect(second.statusCode, second.body).toBe(201);
  const webhook = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant}/webhooks`,
    headers: ctx.platformHeaders,
    payload: { url: `http://receiver.test/${label}` },
  });
  expect(webhook.statusCode, webhook.body).toBe(201);
  const webhookId = webhook.json().data.id as string;
  const ping = await ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenant}/webhooks/${webhookId}/ping`, headers: ctx.platformHeaders });
  expect(ping.statusCode, ping.body).toBe(202);
  const imported = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant}/imports?dry_run=true`,
    headers: own ? headers : ctx.platformHeaders,
    payload: { ous: [{ path: `${ou.path}/Imported ${label}` }] },
  });
  expect(imported.statusCode, imported.body).toBe(202);
  await settled(tenant, imported.json().data.id as string);
  return {
    ou_id: ou.id,
    user_id: user.id,
    client_id: client.id,
    assignment_id: second.json().data.id as string,
    webhook_id: webhookId,
    delivery_id: ping.json().data.id as string,
    import_id: imported.json().data.id as string,
    ou_path: ou.path,
    secrets: [ou.name, ou.path, user.email],
  };
}

/** Waits until an import job is no longer running; returns it as a platform admin sees it. */
async function settled(tenant: string, importId: string): Promise<{ state: string; rejected: { reason: string }[] }> {
  for (let i = 0; i < 500; i++) {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant}/imports/${importId}`, headers: ctx.platformHeaders });
    expect(response.statusCode, response.body).toBe(200);
    const job = response.json().data;
    if (job.state !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`import ${importId} still running`);
}

const isImport = (route: RegisteredRoute) => route.method === 'POST' && route.url.endsWith('/imports');

beforeAll(async () => {
  ctx = await createTestContext();
  routes = ctx.routes.filter((route) => route.scope !== undefined && route.scope !== PLATFORM_SCOPE && route.method !== 'HEAD');
  const world = await regionalTenant(ctx);
  tenantId = world.tenantId;
  const admin = await delegatedClient(ctx, tenantId, 'tenant_admin', [world.emea.id]);
  headers = admin.headers;
  places.inside = await placeAt(tenantId, { ...world.paris, name: 'Paris-x' }, 'inside', true);
  places.inside.secrets = [];
  places.root = await placeAt(tenantId, world.emea, 'root', true);
  places.root.secrets = [];
  places.ancestor = await placeAt(tenantId, { ...world.acme, name: 'Acme' }, 'ancestor');
  // The ancestor's name is in every visible path (/Acme/EMEA/…): its user must not leak. (Ids a
  // request names itself may come back in its 404's detail; the list test checks ids.)
  places.ancestor.secrets = ['ancestor-user@matrix.example'];
  places.sibling = await placeAt(tenantId, world.americas, 'sibling');
  const otherTenant = await createTenant(ctx);
  const foreign = await createOu(ctx, otherTenant.id, { name: 'Foreign Branch' });
  places.other = await placeAt(otherTenant.id, foreign, 'other');
  places.other.secrets.push(otherTenant.id);
  const lyon = await createOu(ctx, tenantId, { name: 'Lyon', parent_id: world.paris.id });
  places['moved-out'] = await placeAt(tenantId, lyon, 'moved');
  // Seen by the principal's token, then moved out by a tenant-wide administrator.
  expect((await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${lyon.id}`, headers })).statusCode).toBe(200);
  const moved = await ctx.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${tenantId}/ous/${lyon.id}`, headers: ctx.platformHeaders, payload: { parent_id: world.americas.id } });
  expect(moved.statusCode).toBe(200);
  // What was in the subtree before the move stays in the principal's history (its events); what
  // happens there after it must not reach the principal.
  afterTheMove = (await createUser(ctx, tenantId, { ou_id: lyon.id, email: 'after-the-move@matrix.example' })).id;
  places['moved-out'].secrets = ['after-the-move@matrix.example'];
});

afterAll(async () => {
  await ctx?.close();
});

const label = (route: RegisteredRoute) => `${route.method} ${route.url}`;

function fill(route: RegisteredRoute, ids: PlaceIds): string {
  return route.url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => {
    if (name === 'tenant_id') return tenantId;
    const value = (ids as unknown as Record<string, string>)[name];
    if (value === undefined) throw new Error(`delegation matrix: no id for :${name} in ${label(route)}; teach PlaceIds about it`);
    return value;
  });
}

/** A body that names the place's OU where the route takes one, and otherwise would succeed inside. */
function bodyFor(route: RegisteredRoute, ids: PlaceIds): object | undefined {
  if (!['POST', 'PUT', 'PATCH'].includes(route.method)) return undefined;
  const n = ++sequence;
  const url = route.url;
  if (/\/users$/.test(url)) return { email: `m${n}@matrix.example`, ou_id: ids.ou_id };
  if (/\/users\/:user_id$/.test(url)) return { display_name: `Changed ${n}` };
  if (/\/ous$/.test(url)) return { name: `M ${n}`, parent_id: ids.ou_id };
  if (/\/ous\/:ou_id$/.test(url)) return { description: `changed ${n}` };
  if (/\/clients$/.test(url)) return { name: `M ${n}`, scopes: ['ous:read'], ou_ids: [ids.ou_id], role: 'viewer' };
  if (/\/role-assignments$/.test(url)) return { principal: { type: 'external', id: `matrix-${n}` }, role: 'viewer', ou_id: ids.ou_id };
  if (/\/tenants\/:tenant_id$/.test(url)) return { name: `M ${n}` };
  if (/\/webhooks$/.test(url)) return { url: `http://receiver.test/m-${n}` };
  if (/\/webhooks\/:webhook_id$/.test(url)) return { description: `M ${n}` };
  if (/\/imports$/.test(url)) return { ous: [{ path: `${ids.ou_path}/M ${n}` }] };
  if (/\/webhooks\/:webhook_id\/(rotate-secret|ping|deliveries\/:delivery_id\/retry)$/.test(url)) return undefined;
  throw new Error(`delegation matrix: no body for ${label(route)}; teach bodyFor() about it`);
}

/**
 * What a response shows, less the one thing a scoped reader is meant to see of the outside: the
 * feed's `ou.moved` / `user.moved` event of a resource that left its subtree says where it went
 * (docs/delegated-admin.md). Everything else of the feed is checked.
 */
function visibleText(route: RegisteredRoute, body: string): string {
  if (!route.url.endsWith('/events')) return body;
  const parsed = JSON.parse(body) as { data?: { type: string }[] };
  return JSON.stringify({ ...parsed, data: (parsed.data ?? []).filter((event) => !event.type.endsWith('.moved')) });
}

/** Deletes last, and those that take others with them (a client its assignment, an OU its users' placement) after those. */
function writesLast(list: RegisteredRoute[]): RegisteredRoute[] {
  const rank = (route: RegisteredRoute) =>
    route.method !== 'DELETE' ? 0 : route.url.includes('/role-assignments') ? 1 : route.url.includes('/users') ? 2 : route.url.includes('/clients') ? 3 : 4;
  return [...list].sort((a, b) => rank(a) - rank(b));
}

async function call(route: RegisteredRoute, ids: PlaceIds) {
  const payload = bodyFor(route, ids);
  return ctx.app.inject({ method: route.method as 'GET', url: fill(route, ids), headers, ...(payload ? { payload } : {}) });
}

/** Every matrix route, with what a request at each place must get. */
describe('delegation matrix', () => {
  it('covers every route with a tenant scope, role assignments included', () => {
    const urls = routes.map(label);
    expect(urls).toContain('POST /api/v1/tenants/:tenant_id/role-assignments');
    expect(urls).toContain('GET /api/v1/tenants/:tenant_id/events');
    expect(urls).toContain('POST /api/v1/tenants/:tenant_id/webhooks');
    expect(urls.length).toBeGreaterThanOrEqual(24);
  });

  for (const place of OUTSIDE) {
    it(`leaks nothing and changes nothing at ${place}, on every route`, async () => {
      const leaks: string[] = [];
      for (const route of routes) {
        const ids = places[place];
        const before = await storeDigest(ctx.store);
        const response = await call(route, ids);
        const where = `${label(route)} at ${place} -> ${response.statusCode}`;
        // An import reads its file before it looks at the tenant: it is accepted (a job row,
        // the request's own record), and then every entry outside the subtree is refused and
        // nothing else changes. Its job is waited for, so that nothing lands after the digest.
        if (isImport(route) && response.statusCode === 202) {
          const job = await settled(tenantId, response.json().data.id as string);
          if (job.state !== 'failed' || !job.rejected.every((r) => /outside the subtrees you administer|neither in the file nor in the tenant/.test(r.reason))) {
            leaks.push(`${where}: the import was not refused entry by entry: ${JSON.stringify(job).slice(0, 300)}`);
          }
          const changed = changedTables(before, await storeDigest(ctx.store)).filter((t) => t !== 'store_probe' && t !== 'import_jobs');
          if (changed.length > 0) leaks.push(`${where} changed ${changed.join(', ')}`);
          continue;
        }
        const after = await storeDigest(ctx.store);
        for (const secret of ids.secrets) if (visibleText(route, response.body).includes(secret)) leaks.push(`${where} mentions ${secret}`);
        if (route.tenantWide) {
          if (response.statusCode !== 403) leaks.push(`${where}: a tenant-level route must refuse a scoped principal`);
          continue;
        }
        // Lists and the feed take no id of the place: they answer 200, over what is visible.
        if (route.method === 'GET' && !/:(ou|user|client|assignment|import)_id/.test(route.url)) {
          if (response.statusCode !== 200) leaks.push(`${where}: a list must answer 200`);
          continue;
        }
        if (![403, 404].includes(response.statusCode)) leaks.push(`${where}: expected 404 (or 403), got ${response.body.slice(0, 200)}`);
        const changed = changedTables(before, after).filter((t) => t !== 'store_probe');
        if (changed.length > 0) leaks.push(`${where} changed ${changed.join(', ')}`);
      }
      expect(leaks).toEqual([]);
    });
  }

  it('answers every route inside the subtree (reads 200, writes 2xx), and refuses only changes of the root itself', async () => {
    const wrong: string[] = [];
    for (const place of ['inside', 'root'] as const) {
      for (const route of writesLast(routes)) {
        if (route.tenantWide) continue;
        const response = await call(route, places[place]);
        const where = `${label(route)} at ${place} -> ${response.statusCode} ${response.body.slice(0, 160)}`;
        if (isImport(route) && response.statusCode === 202) {
          const job = await settled(tenantId, response.json().data.id as string);
          if (job.state !== 'succeeded') wrong.push(`${where}: the import ${JSON.stringify(job).slice(0, 300)}`);
          continue;
        }
        const deletesTheRoot = place === 'root' && route.method === 'DELETE' && route.url.endsWith('/ous/:ou_id');
        if (deletesTheRoot) {
          if (response.statusCode !== 403 || response.json().code !== 'auth.scope_root') wrong.push(where);
        } else if (response.statusCode >= 300 && !(route.method === 'DELETE' && response.statusCode === 409)) {
          // A BLOCK delete of an OU with users is a 409 conflict, not a refusal.
          wrong.push(where);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('lists nothing from outside its subtree on any list route', async () => {
    const leaks: string[] = [];
    for (const route of routes.filter((r) => r.method === 'GET' && !r.tenantWide && !/:(ou|user|client|assignment|import)_id/.test(r.url))) {
      const response = await ctx.app.inject({ method: 'GET', url: fill(route, places.inside), headers, query: route.url.endsWith('/events') ? { limit: '1000' } : { per_page: '100' } });
      expect(response.statusCode, label(route)).toBe(200);
      const isFeed = route.url.endsWith('/events');
      for (const place of OUTSIDE) {
        const { ou_id, user_id, client_id, assignment_id } = places[place];
        // The ancestor's id is the parent_id of the scope's root, a field of the contract. The
        // moved-out OU's history from before the move stays on the feed; after it, nothing.
        const ids = place === 'ancestor' ? [user_id, client_id, assignment_id] : place === 'moved-out' && isFeed ? [afterTheMove] : [ou_id, user_id, client_id, assignment_id];
        for (const secret of ids) if (visibleText(route, response.body).includes(secret)) leaks.push(`${label(route)} lists ${place}'s ${secret}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});

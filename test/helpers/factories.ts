import type { TestContext } from './test-app.js';

/** Factories create data through the real API, so every test row went through the same rules. */

let sequence = 0;
const next = () => ++sequence;

async function post<T>(ctx: TestContext, url: string, payload: object, headers = ctx.platformHeaders): Promise<T> {
  const response = await ctx.app.inject({ method: 'POST', url, headers, payload });
  if (response.statusCode !== 201) throw new Error(`factory POST ${url} -> ${response.statusCode} ${response.body}`);
  return response.json().data as T;
}

export interface TenantData {
  id: string;
  name: string;
  slug: string;
}

export interface OuData {
  id: string;
  name: string;
  path: string;
  parent_id: string | null;
}

export interface UserData {
  id: string;
  email: string;
  ou_id: string | null;
  created_at: string;
}

export function createTenant(ctx: TestContext, fields: { name?: string; slug?: string } = {}): Promise<TenantData> {
  const n = next();
  return post(ctx, '/api/v1/tenants', { name: fields.name ?? `Tenant ${n}`, ...(fields.slug ? { slug: fields.slug } : {}) });
}

export function createOu(
  ctx: TestContext,
  tenantId: string,
  fields: { name?: string; parent_id?: string | null; description?: string; custom_attributes?: Record<string, unknown> } = {},
): Promise<OuData> {
  return post(ctx, `/api/v1/tenants/${tenantId}/ous`, { name: `OU ${next()}`, ...fields });
}

export function createUser(
  ctx: TestContext,
  tenantId: string,
  fields: { email?: string; display_name?: string; ou_id?: string | null; status?: 'active' | 'disabled' } = {},
): Promise<UserData> {
  return post(ctx, `/api/v1/tenants/${tenantId}/users`, { email: `user${next()}@example.com`, ...fields });
}

/**
 * A three-level tree with users, names chosen for readable assertions:
 *   /Eng (2 users) ├ /Eng/Backend (1 user) │ └ /Eng/Backend/Db (1 user) └ /Eng/Frontend
 *   /Sales
 */
export async function createSampleTree(ctx: TestContext, tenantId: string) {
  const eng = await createOu(ctx, tenantId, { name: 'Eng' });
  const backend = await createOu(ctx, tenantId, { name: 'Backend', parent_id: eng.id });
  const db = await createOu(ctx, tenantId, { name: 'Db', parent_id: backend.id });
  const frontend = await createOu(ctx, tenantId, { name: 'Frontend', parent_id: eng.id });
  const sales = await createOu(ctx, tenantId, { name: 'Sales' });
  const users = {
    eng1: await createUser(ctx, tenantId, { ou_id: eng.id }),
    eng2: await createUser(ctx, tenantId, { ou_id: eng.id }),
    backend1: await createUser(ctx, tenantId, { ou_id: backend.id }),
    db1: await createUser(ctx, tenantId, { ou_id: db.id }),
    nowhere: await createUser(ctx, tenantId),
  };
  return { eng, backend, db, frontend, sales, users };
}

import { expect } from 'vitest';
import { TENANT_SCOPES } from '../../src/services/token-service.js';
import type { TestContext } from './test-app.js';
import { createOu, createTenant, createUser } from './factories.js';

export const EVERY_TENANT_SCOPE: string[] = [...TENANT_SCOPES];

export type RoleName = 'tenant_admin' | 'ou_admin' | 'user_manager' | 'viewer';

/**
 * A client made through the API with `role` at each of `ouIds` (or tenant-wide for null), and a
 * token for it carrying `scopes`: a delegated principal exactly as an administrator would make one.
 */
export async function delegatedClient(
  ctx: TestContext,
  tenantId: string,
  role: RoleName,
  ouIds: string[] | null,
  scopes: string[] = EVERY_TENANT_SCOPE,
): Promise<{ id: string; headers: Record<string, string> }> {
  const response = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/clients`,
    headers: ctx.platformHeaders,
    payload: { name: `${role} ${ouIds?.join(',') ?? 'tenant'}`, scopes, role, ...(ouIds ? { ou_ids: ouIds } : {}) },
  });
  expect(response.statusCode, response.body).toBe(201);
  const id = response.json().data.id as string;
  const token = await ctx.tokens.sign({ subject: id, tenantId, scopes });
  return { id, headers: { authorization: `Bearer ${token}` } };
}

/**
 * The tenant every delegation test works in:
 *   /Acme ├ /Acme/EMEA (e1) │ ├ /Acme/EMEA/Paris (p1, p2) │ └ /Acme/EMEA/Berlin
 *         └ /Acme/Americas (a1)
 *   /Other (o1) ; nowhere: a user in no OU
 */
export async function regionalTenant(ctx: TestContext) {
  const tenant = await createTenant(ctx);
  const t = tenant.id;
  const acme = await createOu(ctx, t, { name: 'Acme' });
  const emea = await createOu(ctx, t, { name: 'EMEA', parent_id: acme.id });
  const paris = await createOu(ctx, t, { name: 'Paris', parent_id: emea.id });
  const berlin = await createOu(ctx, t, { name: 'Berlin', parent_id: emea.id });
  const americas = await createOu(ctx, t, { name: 'Americas', parent_id: acme.id });
  const other = await createOu(ctx, t, { name: 'Other' });
  const users = {
    e1: await createUser(ctx, t, { ou_id: emea.id }),
    p1: await createUser(ctx, t, { ou_id: paris.id }),
    p2: await createUser(ctx, t, { ou_id: paris.id }),
    a1: await createUser(ctx, t, { ou_id: americas.id }),
    o1: await createUser(ctx, t, { ou_id: other.id }),
    nowhere: await createUser(ctx, t),
  };
  return { tenantId: t, acme, emea, paris, berlin, americas, other, users };
}

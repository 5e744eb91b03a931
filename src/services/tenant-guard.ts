import type { TenantRepository } from '../db/repositories/tenant-repository.js';
import { NotFoundError } from '../errors.js';

export function tenantNotFound(tenantId: string): NotFoundError {
  return new NotFoundError('tenant.not_found', `Tenant '${tenantId}' does not exist.`);
}

/** Throws 404 `tenant.not_found` unless the tenant exists. */
export async function requireTenant(repos: { tenants: Pick<TenantRepository, 'exists'> }, tenantId: string): Promise<void> {
  if (!(await repos.tenants.exists(tenantId))) throw tenantNotFound(tenantId);
}

/**
 * The 404 for a missing row of a tenant: says `tenant.not_found` when the tenant itself is
 * missing, so a caller with a typo in the tenant id learns which id is wrong.
 */
export async function notFoundIn(repos: { tenants: Pick<TenantRepository, 'exists'> }, tenantId: string, error: NotFoundError): Promise<NotFoundError> {
  return (await repos.tenants.exists(tenantId)) ? error : tenantNotFound(tenantId);
}

import type { OrgUnitRepository } from '../db/repositories/org-unit-repository.js';
import { ForbiddenError } from '../errors.js';
import { TENANT_SCOPES, type TenantScope, grants } from './token-service.js';

/** A right in a tenant: the same names as the token scopes that carry it. */
export type Permission = TenantScope;

/**
 * The built-in roles, each a fixed set of permissions (docs/delegated-admin.md has the same
 * table). An assignment gives its role's permissions over the whole tenant or one OU's subtree;
 * a token uses only those of them its scopes also grant.
 */
export const ROLE_PERMISSIONS = {
  tenant_admin: [...TENANT_SCOPES],
  ou_admin: ['ous:read', 'ous:write', 'users:read', 'users:write', 'events:read', 'roles:read', 'roles:write'],
  user_manager: ['ous:read', 'users:read', 'users:write', 'events:read'],
  viewer: ['ous:read', 'users:read', 'events:read'],
} as const satisfies Record<string, readonly Permission[]>;

export type Role = keyof typeof ROLE_PERMISSIONS;
export const ROLES = Object.keys(ROLE_PERMISSIONS) as Role[];

/** Where a principal may use one permission: the whole tenant, or the subtrees of these OUs (maybe none). */
export type Reach = 'tenant' | readonly string[];

/** Who a tenant principal is, as its role assignments name it. */
export interface PrincipalRef {
  type: 'client' | 'external';
  id: string;
}

/** What one request may do, permission by permission (computed by access-service.ts per request). */
export interface Access {
  /** Null for a platform principal, which is not subject to assignments. */
  readonly principal: PrincipalRef | null;
  reach(permission: Permission): Reach;
}

/** A platform principal's access: everything, everywhere. */
export const FULL_ACCESS: Access = { principal: null, reach: () => 'tenant' };

export interface AssignmentGrant {
  role: string;
  ou_id: string | null;
}

/**
 * The token's scopes intersected with what the assignments grant: a permission the token lacks
 * reaches nowhere, whatever the roles say, and one no assignment grants reaches nowhere, whatever
 * the token says. Several assignments add up (the union of their subtrees).
 */
export function accessFrom(principal: PrincipalRef, tokenScopes: ReadonlySet<string>, assignments: readonly AssignmentGrant[]): Access {
  const reaches = new Map<Permission, Reach>();
  for (const permission of TENANT_SCOPES) {
    if (!grants(tokenScopes, permission)) {
      reaches.set(permission, []);
      continue;
    }
    const ous = new Set<string>();
    let tenantWide = false;
    for (const assignment of assignments) {
      const permissions: readonly string[] = ROLE_PERMISSIONS[assignment.role as Role] ?? [];
      if (!permissions.includes(permission)) continue;
      if (assignment.ou_id === null) tenantWide = true;
      else ous.add(assignment.ou_id);
    }
    reaches.set(permission, tenantWide ? 'tenant' : [...ous]);
  }
  return { principal, reach: (permission) => reaches.get(permission) ?? [] };
}

/** True when `reach` covers nothing at all. */
export const reachesNothing = (reach: Reach) => reach !== 'tenant' && reach.length === 0;

/** True when an OU with `idPath` lies in `reach` (its id_path names every ancestor: no query). */
export function reachCovers(reach: Reach, idPath: string): boolean {
  return reach === 'tenant' || reach.some((id) => idPath.includes(`/${id}/`));
}

/** The subtrees a scoped reach resolves to, as of now: each root's id_path and path. */
export interface Subtrees {
  ids: string[];
  idPaths: string[];
  paths: string[];
}

/**
 * Resolves a scoped reach to its subtrees' current roots (null for the whole tenant): roots that
 * no longer exist are dropped, and so is a root inside another's subtree (its rights are already
 * covered), so that the ranges a query filters on never overlap. Read it in the same snapshot or
 * transaction as the rows it filters.
 */
export async function resolveSubtrees(orgUnits: Pick<OrgUnitRepository, 'getIdPaths'>, tenantId: string, reach: Reach): Promise<Subtrees | null> {
  if (reach === 'tenant') return null;
  const rows = reach.length === 0 ? [] : await orgUnits.getIdPaths(tenantId, reach);
  const outermost = rows.filter((row) => !rows.some((other) => other !== row && row.id_path.startsWith(other.id_path)));
  outermost.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ids: outermost.map((r) => r.id), idPaths: outermost.map((r) => r.id_path), paths: outermost.map((r) => r.path) };
}

/**
 * True when the OU `id` is a root of the principal's scope for `reach`: no OU above it is in
 * reach. Renaming, moving or deleting it would change the scope itself, so it is refused.
 */
export function isScopeRoot(reach: Reach, ou: { id: string; id_path: string }): boolean {
  if (reach === 'tenant') return false;
  const above = ou.id_path.slice(0, -(ou.id.length + 1));
  return reach.includes(ou.id) && !reach.some((id) => above.includes(`/${id}/`));
}

/** 403 for a request that may see a resource but not do this to it (existence is no secret then). */
export function outsideScope(detail: string): ForbiddenError {
  return new ForbiddenError('auth.outside_scope', detail);
}

export const scopeRootRefused = (path: string) =>
  new ForbiddenError(
    'auth.scope_root',
    `'${path}' is the root of this principal's delegated scope: it may edit its description and attributes and create children, but not rename, move or delete it. Ask a tenant-wide administrator.`,
  );

export const tenantWideOnly = (what: string) =>
  outsideScope(`${what} needs a tenant-wide role assignment; this principal's roles cover OU subtrees only.`);

/**
 * Throws unless the principal may use `permission` at `target` (an OU; null: the tenant's top
 * level, which needs a tenant-wide reach): 404 from `notFound` when it may not even see the OU
 * with `readPermission` (as if it did not exist), 403 when it sees it but may not do this there.
 */
export function assertReach(
  access: Access,
  permission: Permission,
  readPermission: Permission,
  target: { id_path: string; path: string } | null,
  notFound: () => Error,
): void {
  const reach = access.reach(permission);
  if (target === null) {
    if (reach !== 'tenant') throw tenantWideOnly('Acting at the top level of the tenant (outside every OU)');
    return;
  }
  if (reachCovers(reach, target.id_path)) return;
  if (!reachCovers(access.reach(readPermission), target.id_path)) throw notFound();
  throw outsideScope(`'${target.path}' is outside this principal's scope for ${permission}.`);
}

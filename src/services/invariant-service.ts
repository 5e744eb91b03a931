import type { Executor } from '../db/store.js';
import { repositories } from '../db/repositories/index.js';
import { type OrgUnitRow, idsOnPath } from '../db/repositories/org-unit-repository.js';
import { nameKey } from '../lib/name-key.js';
import { ouNameKey } from './org-unit-names.js';

/**
 * Recomputes everything the store derives or maintains about a tenant's hierarchy from
 * `parent_id` and the users table, and lists every disagreement. Empty means consistent.
 * Reads the whole tenant: for checks and tests, not for request paths.
 */
export async function findInvariantViolations(db: Executor, tenantId: string, maxDepth: number): Promise<string[]> {
  const repos = repositories(db);
  const ous = await repos.orgUnits.listAllForCheck(tenantId);
  const userCounts = await repos.users.countByOu(tenantId);
  const byId = new Map(ous.map((ou) => [ou.id, ou]));
  const violations: string[] = [];
  const childCounts = new Map<string, number>();
  const siblingKeys = new Set<string>();

  for (const ou of ous) {
    if (ou.parent_id !== null) {
      if (!byId.has(ou.parent_id)) violations.push(`${ou.id}: parent ${ou.parent_id} does not exist in the tenant`);
      childCounts.set(ou.parent_id, (childCounts.get(ou.parent_id) ?? 0) + 1);
    }
    const siblingKey = `${ou.parent_id ?? ''}\u0000${ouNameKey(ou.name)}`;
    if (siblingKeys.has(siblingKey)) violations.push(`${ou.id}: name '${ou.name}' is used twice among siblings`);
    siblingKeys.add(siblingKey);

    const chain: OrgUnitRow[] = [];
    const seen = new Set<string>();
    let cursor: OrgUnitRow | undefined = ou;
    while (cursor) {
      if (seen.has(cursor.id)) {
        violations.push(`${ou.id}: cycle through ${cursor.id}`);
        break;
      }
      seen.add(cursor.id);
      chain.unshift(cursor);
      cursor = cursor.parent_id === null ? undefined : byId.get(cursor.parent_id);
    }
    const path = `/${chain.map((c) => c.name).join('/')}`;
    const idPath = `/${chain.map((c) => c.id).join('/')}/`;
    if (ou.path !== path) violations.push(`${ou.id}: path '${ou.path}' should be '${path}'`);
    if (ou.id_path !== idPath) violations.push(`${ou.id}: id_path '${ou.id_path}' should be '${idPath}'`);
    if (ou.depth !== chain.length) violations.push(`${ou.id}: depth ${ou.depth} should be ${chain.length}`);
    if (ou.depth > maxDepth) violations.push(`${ou.id}: depth ${ou.depth} exceeds the limit ${maxDepth}`);
    if (ou.name_key !== ouNameKey(ou.name)) violations.push(`${ou.id}: name_key is stale`);
  }
  for (const ou of ous) {
    const children = childCounts.get(ou.id) ?? 0;
    const users = userCounts.get(ou.id) ?? 0;
    if (ou.child_ou_count !== children) violations.push(`${ou.id}: child_ou_count ${ou.child_ou_count} should be ${children}`);
    if (ou.user_count !== users) violations.push(`${ou.id}: user_count ${ou.user_count} should be ${users}`);
  }
  // Subtree user counts: each OU's direct users added to itself and every ancestor.
  const subtreeCounts = new Map<string, number>();
  for (const ou of ous) {
    const users = userCounts.get(ou.id) ?? 0;
    for (const id of idsOnPath(ou.id_path)) subtreeCounts.set(id, (subtreeCounts.get(id) ?? 0) + users);
  }
  for (const ou of ous) {
    const expected = subtreeCounts.get(ou.id) ?? 0;
    if (ou.subtree_user_count !== expected) violations.push(`${ou.id}: subtree_user_count ${ou.subtree_user_count} should be ${expected}`);
  }
  const tenant = await repos.tenants.getById(tenantId);
  if (tenant && tenant.ou_count !== ous.length) violations.push(`tenant ${tenantId}: ou_count ${tenant.ou_count} should be ${ous.length}`);
  // The tenant's own search key (an instance older than migration 0012 writes none).
  if (tenant && tenant.name_key !== nameKey(tenant.name)) violations.push(`tenant ${tenantId}: name_key is stale`);
  for (const ouId of userCounts.keys()) {
    if (!byId.has(ouId)) violations.push(`users in OU ${ouId}, which does not exist in the tenant`);
  }
  return violations;
}

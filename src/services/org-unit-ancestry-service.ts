import { type Access, reachCovers, resolveSubtrees } from './access.js';
import { pick } from '../db/repositories/index.js';
import type { OrgUnitListRow } from '../db/repositories/org-unit-repository.js';
import { idsOnPath } from '../db/repositories/org-unit-repository.js';
import type { Store } from '../db/store.js';
import { ouNotFound } from './org-unit-rules.js';
import type { OrgUnitAncestor } from './org-unit-types.js';
import { notFoundIn } from './tenant-guard.js';

function toAncestor(row: OrgUnitListRow & { position: number }): OrgUnitAncestor {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    parent_id: row.parent_id,
    user_count: row.user_count,
    child_ou_count: row.child_ou_count,
    nested_user_count: row.subtree_user_count,
    position: row.position,
  };
}

/** Paths compare as the lists order them: byte by byte (UTF-8), not by UTF-16 code units. */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Where an OU is in the tree a principal browses: the OU and the ancestors the principal sees,
 * root first, each with its position in the list a tree browser reads it from (its parent's
 * children, or the top level). A console opens its tree down to an OU found by search with it,
 * reading one page of each list, where it would otherwise read every page until the OU showed.
 */
export function createOrgUnitAncestryService({ store }: { store: Pick<Store, 'snapshot'> }) {
  return {
    async ancestry(access: Access, tenantId: string, id: string): Promise<OrgUnitAncestor[]> {
      const reach = access.reach('ous:read');
      return store.snapshot(async (db) => {
        const repos = pick(db, ['orgUnits', 'tenants']);
        const ou = await repos.orgUnits.getById(tenantId, id);
        // Not visible is not there: 404, as for GET of the OU.
        if (!ou || !reachCovers(reach, ou.id_path)) throw await notFoundIn(repos, tenantId, ouNotFound(id));
        const ids = idsOnPath(ou.id_path);
        const rows = new Map((await repos.orgUnits.withSiblingPositions(tenantId, ids)).map((row) => [row.id, row]));
        // The chain starts where the principal's sight does: the tenant's top, or its subtree's root.
        const chain = ids.map((ancestorId) => rows.get(ancestorId)!).filter((row) => row !== undefined && reachCovers(reach, row.id_path));
        if (reach === 'tenant') return chain.map(toAncestor);
        // A scoped principal's top level is its subtrees' roots (as top_level=true lists them).
        const subtrees = await resolveSubtrees(repos.orgUnits, tenantId, reach);
        const [top, ...below] = chain;
        const position = (subtrees?.paths ?? []).filter((path) => byBytes(path, top.path) < 0).length;
        return [toAncestor({ ...top, position }), ...below.map(toAncestor)];
      });
    },
  };
}

export type OrgUnitAncestryService = ReturnType<typeof createOrgUnitAncestryService>;

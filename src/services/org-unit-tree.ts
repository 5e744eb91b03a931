import type { TreeRow } from '../db/repositories/org-unit-repository.js';
import { RequestValidationError } from '../errors.js';
import type { Subtrees } from './access.js';
import type { OrgUnitTreeEntry } from './org-unit-types.js';

const SURROGATE = /[\ud800-\udfff]/;

/**
 * Orders strings by Unicode code point, as a binary UTF-8 collation does. JavaScript's `<`
 * compares UTF-16 units, which differs only when a character beyond U+FFFF meets one in
 * U+E000..U+FFFF; such strings take the slower exact path.
 */
export function compareCodePoints(a: string, b: string): number {
  if (SURROGATE.test(a) || SURROGATE.test(b)) return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

const bySiblingOrder = (a: OrgUnitTreeEntry, b: OrgUnitTreeEntry) => compareCodePoints(a.name_key, b.name_key) || compareCodePoints(a.id, b.id);

export const treeTooLarge = (tenantId: string, count: number, cap: number) =>
  new RequestValidationError([
    {
      loc: ['path', 'tenant_id'],
      msg:
        `Tenant ${tenantId} has ${count} OUs, more than the tree returns at once (${cap}, ARBOR_TREE_MAX_OUS). ` +
        `Page instead: GET /api/v1/tenants/${tenantId}/ous?parent_id=<id> lists one level at a time, ` +
        `GET /api/v1/tenants/${tenantId}/ous pages through all of them in path order.`,
      type: 'tree_too_large',
    },
  ]);

/**
 * The whole tenant as nested entries, from rows in no particular order; siblings ordered by
 * name (case-insensitively, by code point, then id), the same on every store. Sorting here
 * costs less than the ORDER BY did (a temporary B-tree: 0.4 s at 10^5 OUs on SQLite), and the
 * rows themselves become the nodes: at 10^5 OUs every extra object or string per OU shows in
 * the server's peak memory (docs/benchmarks.md).
 */
export function assembleTree(rows: TreeRow[], subtrees: Subtrees | null = null): OrgUnitTreeEntry[] {
  const byId = new Map<string, OrgUnitTreeEntry>();
  const entries = rows.map((row) => {
    const entry: OrgUnitTreeEntry = Object.assign(row, { children: [] as OrgUnitTreeEntry[] });
    byId.set(row.id, entry);
    return entry;
  });
  const roots: OrgUnitTreeEntry[] = [];
  // A scoped principal's roots are its subtrees' roots; their ancestors show only in their paths.
  const scopeRoots = new Set(subtrees?.ids);
  for (const entry of entries) {
    if (entry.parent_id === null || scopeRoots.has(entry.id)) roots.push(entry);
    else byId.get(entry.parent_id)?.children.push(entry);
  }
  for (const entry of entries) if (entry.children.length > 1) entry.children.sort(bySiblingOrder);
  if (!subtrees) return roots.sort(bySiblingOrder);
  // In the order of their paths (resolveSubtrees sorted them), each written below its parent's path.
  return subtrees.ids.flatMap((id, i) => {
    const root = byId.get(id);
    if (!root) return [];
    const path = subtrees.paths[i];
    return [Object.assign(root, { basePath: path.slice(0, path.length - root.name.length - 1) })];
  });
}

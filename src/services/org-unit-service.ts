import { LRUCache } from 'lru-cache';
import { type Access, assertReach, isScopeRoot, reachCovers, resolveSubtrees, scopeRootRefused } from './access.js';
import { pick } from '../db/repositories/index.js';
import type { OrgUnitListFilter, OrgUnitListRow, OrgUnitRow } from '../db/repositories/org-unit-repository.js';
import { onUniqueViolation } from '../db/store-errors.js';
import { dialectOf } from '../db/sql.js';
import type { Store } from '../db/store.js';
import { newId } from '../lib/ids.js';
import { type Page, type PageRequest, RankIndexNotKept, readListing } from '../lib/pagination.js';
import { RankIndexes } from '../lib/rank-index.js';
import { encodeAttributes, sameAttributes } from './json-attributes.js';
import { DELETE_STRATEGIES } from './org-unit-delete.js';
import { normalizeOuName, ouNameKey } from './org-unit-names.js';
import {
  OU_EVENT_FIELDS,
  cycle,
  depthExceeded,
  nameConflict,
  ouEventFields,
  ouExternalIdConflict,
  ouNotFound,
  parentIdPathOf,
  parentNotFound,
  parentPathOf,
  toDetail,
  topLevelWithParent,
} from './org-unit-rules.js';
import { assembleTree, treeTooLarge } from './org-unit-tree.js';
import { OrgUnitDetailCache, type RenderedDetail, renderDetail } from './org-unit-detail-cache.js';
import type {
  DeleteStrategy,
  OrgUnitCreateInput,
  OrgUnitDeleteOutcome,
  OrgUnitDetail,
  OrgUnitListItem,
  OrgUnitTreeEntry,
  OrgUnitUpdateInput,
  OrgUnitUpdateResult,
} from './org-unit-types.js';
import { notFoundIn, requireTenant, tenantNotFound } from './tenant-guard.js';
import { type Change, type WriteScope, changedFields, createOneStatementWrite, createUnitOfWork } from './unit-of-work.js';
import type { WriteContext } from './write-context.js';

export type * from './org-unit-types.js';
export { compareCodePoints } from './org-unit-tree.js';

export interface OrgUnitServiceDeps {
  store: Pick<Store, 'db' | 'transaction' | 'snapshot' | 'lockedStatement'>;
  maxDepth: number;
  /** Most OUs the whole-tenant tree returns at once (ARBOR_TREE_MAX_OUS); default: no cap. */
  treeMaxOus?: number;
  now?: () => string;
  /** Told after a write committed events (wakes feed readers). */
  onEventsCommitted?: (tenantId: string) => void;
  /** Told after a delete, which takes the role assignments at the deleted OUs with it. */
  onRolesChanged?: () => void;
  /** The rank indexes of deep list pages (tests pass one with few keys, so short lists use it). */
  rankIndexes?: RankIndexes;
  /** Rendered answers of OUs with children (tests pass their own to inspect it). */
  detailCache?: OrgUnitDetailCache;
  /**
   * Whether a page of the whole OU list is read as one statement once the tenant was seen
   * (listWholeInOneStatement). Default: on PostgreSQL, where it saves three round trips; not on
   * SQLite, where the snapshot's two reads cost less than the one joined statement (A/B: 739
   * against 898 µs of server CPU a middle page). Tests turn it on for both stores.
   */
  listInOneStatement?: boolean;
}

/** Tenants whose OU count and version an instance keeps, to plan a list page before reading it. */
const TENANTS_PAGED = 10_000;

function toListItem(row: OrgUnitListRow): OrgUnitListItem {
  return { id: row.id, name: row.name, path: row.path, parent_id: row.parent_id, user_count: row.user_count, child_ou_count: row.child_ou_count, nested_user_count: row.subtree_user_count };
}

/** Search counts kept per instance (a few dozen bytes each). */
const SEARCH_COUNTS_KEPT = 10_000;

const READS = ['tenants', 'orgUnits'] as const;
type Reads = Pick<import('../db/repositories/index.js').Repositories, (typeof READS)[number]>;
type Scope = WriteScope<'orgUnits' | 'users' | 'tenants' | 'roleAssignments'>;

/** The hierarchy rules: names, paths, depth, cycles, counts; deletes in org-unit-delete.ts. */
export function createOrgUnitService({
  store,
  maxDepth,
  treeMaxOus = Number.POSITIVE_INFINITY,
  now,
  onEventsCommitted,
  onRolesChanged,
  rankIndexes = new RankIndexes(),
  detailCache = new OrgUnitDetailCache(),
  listInOneStatement = dialectOf(store.db) === 'postgres',
}: OrgUnitServiceDeps) {
  const read = pick(store.db, READS);
  const write = createUnitOfWork(['orgUnits', 'users', 'tenants', 'roleAssignments'], { store, now, onEventsCommitted });
  const oneStatement = createOneStatementWrite({ store, now, onEventsCommitted });
  const searchCounts = new LRUCache<string, number>({ max: SEARCH_COUNTS_KEPT });
  // Answers being read and rendered, by OrgUnitDetailCache.answerKey.
  const renderings = new Map<string, Promise<RenderedDetail>>();
  // The tenant's OU count and version as this instance last read them in a list's snapshot.
  const tenantPaging = new LRUCache<string, { ouCount: number; ouVersion: number }>({ max: TENANTS_PAGED });

  async function getOrThrow(repos: Pick<Reads, 'orgUnits' | 'tenants'>, tenantId: string, id: string): Promise<OrgUnitRow> {
    const row = await repos.orgUnits.getById(tenantId, id);
    if (!row) throw await notFoundIn(repos, tenantId, ouNotFound(id));
    return row;
  }

  /** The OU, if the principal may see it (404 otherwise, as if it did not exist). */
  async function getVisible(repos: Pick<Reads, 'orgUnits' | 'tenants'>, access: Access, tenantId: string, id: string): Promise<OrgUnitRow> {
    const row = await getOrThrow(repos, tenantId, id);
    if (!reachCovers(access.reach('ous:read'), row.id_path) && !reachCovers(access.reach('ous:write'), row.id_path)) throw ouNotFound(id);
    return row;
  }

  /** The OU, if the principal may change it: 404 if it cannot see it, 403 if it sees but may not write it. */
  async function getWritable(repos: Pick<Reads, 'orgUnits' | 'tenants'>, access: Access, tenantId: string, id: string): Promise<OrgUnitRow> {
    const row = await getOrThrow(repos, tenantId, id);
    assertReach(access, 'ous:write', 'ous:read', row, () => ouNotFound(id));
    return row;
  }

  function newOuRow(tenantId: string, parent: OrgUnitRow | undefined, name: string, input: OrgUnitCreateInput, timestamp: string) {
    const id = newId('ou');
    return {
      tenant_id: tenantId,
      id,
      parent_id: parent?.id ?? null,
      name,
      name_key: ouNameKey(name),
      description: input.description ?? null,
      custom_attributes: encodeAttributes(input.custom_attributes),
      external_id: input.external_id ?? null,
      path: `${parent?.path ?? ''}/${name}`,
      id_path: `${parent?.id_path ?? '/'}${id}/`,
      depth: (parent?.depth ?? 0) + 1,
      created_at: timestamp,
      updated_at: timestamp,
    };
  }

  function created(row: ReturnType<typeof newOuRow>): Change {
    return { type: 'ou.created', resource: { type: 'ou', id: row.id }, before: null, after: ouEventFields(row), ouPaths: [row.id_path] };
  }

  function createdDetail(row: ReturnType<typeof newOuRow>): OrgUnitDetail {
    return toDetail({ ...row, child_ou_count: 0, user_count: 0, subtree_user_count: 0, children_version: 0 }, []);
  }

  /**
   * A create as one statement under the tenant's lock (createOneStatementWrite; PostgreSQL): the
   * parent is read first, without the lock, and the statement lands only if the parent's
   * id_path and path are still those read. Undefined when the request is not one for it, or when
   * the parent is missing, out of the principal's reach, too deep, changed since it was read, or
   * the name is taken: `create` then takes the unit of work, which answers each of those.
   */
  async function createInOneStatement(
    ctx: WriteContext,
    access: Access,
    tenantId: string,
    input: OrgUnitCreateInput,
    name: string,
  ): Promise<OrgUnitDetail | undefined> {
    // An external_id is checked for a taker under the lock (the unique index would say only "taken").
    if (!oneStatement.applies(ctx) || input.external_id != null) return undefined;
    const parent = input.parent_id != null ? await read.orgUnits.getById(tenantId, input.parent_id) : undefined;
    const reach = access.reach('ous:write');
    if (input.parent_id != null ? !parent || !reachCovers(reach, parent.id_path) : reach !== 'tenant') return undefined;
    if ((parent?.depth ?? 0) + 1 > maxDepth) return undefined;
    return oneStatement.write(ctx, tenantId, (timestamp) => {
      const row = newOuRow(tenantId, parent, name, input, timestamp);
      return {
        change: created(row),
        statement: (event) => read.orgUnits.insertWithEvent(row, parent ?? null, event),
        result: createdDetail(row),
      };
    });
  }

  /** What an OU listing is besides its total and its read: its id, key, and rank index at `version`. */
  function ouListing(tenantId: string, repoFilter: OrgUnitListFilter, idPaths: readonly string[] | null, version: number, build: (step: number) => Promise<string[]>) {
    return {
      // The top level is a listing of its own; every other listing's id (and so its cursors) as before it existed.
      id: ['ous', tenantId, repoFilter.parentId ?? null, repoFilter.search ?? null, idPaths, ...(repoFilter.roots === undefined ? [] : ['top_level'])],
      keyOf: (row: OrgUnitListRow) => row.path,
      // The OU version orders the rank index too: only OU writes change which OUs a list holds.
      ranks: {
        cache: rankIndexes,
        version,
        build,
        // A search steps over every OU that does not match: its index pays from page 2 on.
        ...(repoFilter.search !== undefined ? { minOffset: 0 } : {}),
      },
    };
  }

  /**
   * A page of the whole tenant's list (no search, no parent, a tenant-wide reader) in one
   * statement, with no transaction: its window is planned from the tenant's OU count and version
   * as this instance last saw them, and the statement returns the tenant's, from the same
   * snapshot as the page. Undefined, for `list` to read it in a snapshot, when they differ (an OU
   * write came between), when none was seen yet, when the tenant is missing, or when the page
   * needs a rank index not kept for that version (building one takes the snapshot too).
   */
  async function listWholeInOneStatement(tenantId: string, pageRequest: PageRequest): Promise<Page<OrgUnitListItem> | undefined> {
    const seen = tenantPaging.get(tenantId);
    if (!seen) return undefined;
    // Each read must find the tenant as seen: the window was planned from it.
    let event_seq: number | undefined;
    let consistent = true;
    let page: Page<OrgUnitListRow>;
    // keptOnly: a rank index is built in the snapshot of a page that needs one, never here.
    const listing = ouListing(tenantId, {}, null, seen.ouVersion, () => Promise.reject(new RankIndexNotKept()));
    try {
      page = await readListing<OrgUnitListRow>(pageRequest, {
        ...listing,
        ranks: { ...listing.ranks, keptOnly: true },
        total: seen.ouCount,
        read: async (window) => {
          const listed = await read.orgUnits.listWholeWithTenant(tenantId, window);
          consistent &&= listed?.tenant.ou_version === seen.ouVersion && listed.tenant.ou_count === seen.ouCount;
          event_seq = listed?.tenant.event_seq;
          return listed?.rows ?? [];
        },
      });
    } catch (error) {
      if (error instanceof RankIndexNotKept) return undefined;
      throw error;
    }
    if (!consistent || event_seq === undefined) return undefined;
    return { ...page, items: page.items.map(toListItem), eventSeq: event_seq };
  }

  async function detail(repos: Pick<Reads, 'orgUnits'>, tenantId: string, row: OrgUnitRow): Promise<OrgUnitDetail> {
    const children = row.child_ou_count > 0 ? await repos.orgUnits.listChildren(tenantId, row.id) : [];
    return toDetail(row, children);
  }

  /**
   * Sets name and parent of `ou` and rewrites the derived columns of its subtree, in one
   * UPDATE; returns how many descendants' paths changed.
   */
  async function relocate(
    { repos, timestamp }: Scope,
    ou: OrgUnitRow,
    name: string,
    parent: { id: string | null; path: string; idPath: string; depth: number },
  ): Promise<number> {
    await onUniqueViolation(
      () => repos.orgUnits.update(ou.tenant_id, ou.id, { parent_id: parent.id, name, name_key: ouNameKey(name) }),
      () => nameConflict(name),
    );
    const rewritten = await repos.orgUnits.rewriteSubtree(
      ou.tenant_id,
      { idPath: ou.id_path, path: ou.path },
      { idPath: `${parent.idPath}${ou.id}/`, path: `${parent.path}/${name}` },
      parent.depth + 1 - ou.depth,
      timestamp,
    );
    return rewritten - 1;
  }

  async function rename(scope: Scope, ou: OrgUnitRow, name: string): Promise<number> {
    const descendants = await relocate(scope, ou, name, { id: ou.parent_id, path: parentPathOf(ou), idPath: parentIdPathOf(ou), depth: ou.depth - 1 });
    // A move changes both parents' counts, which records it; a rename in place must say so.
    await scope.repos.orgUnits.childrenChanged(ou.tenant_id, ou.parent_id);
    return descendants;
  }

  /** Moves `ou` (maybe renamed) under `parentId` (null: to the root), refusing cycles and excess depth. */
  async function move(scope: Scope, access: Access, ou: OrgUnitRow, name: string, parentId: string | null): Promise<number> {
    const { repos } = scope;
    if (parentId === ou.id) throw cycle();
    const parent = parentId === null ? undefined : await repos.orgUnits.getById(ou.tenant_id, parentId);
    if (parentId !== null && !parent) throw parentNotFound(parentId);
    // Into the principal's scope from outside, or out of it: both need rights on the destination.
    assertReach(access, 'ous:write', 'ous:read', parent ?? null, () => parentNotFound(parentId as string));
    if (parent?.id_path.startsWith(ou.id_path)) throw cycle();
    const target = { id: parentId, path: parent?.path ?? '', idPath: parent?.id_path ?? '/', depth: parent?.depth ?? 0 };
    const deepest = await repos.orgUnits.maxDepthInSubtree(ou.tenant_id, ou.id_path);
    if (deepest - ou.depth + target.depth + 1 > maxDepth) throw depthExceeded(maxDepth);
    const descendants = await relocate(scope, ou, name, target);
    await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: -1 });
    await repos.orgUnits.adjustCounts(ou.tenant_id, parentId, { childOus: 1 });
    // The subtree's users leave the old ancestors' subtree counts and join the new ones'.
    await repos.orgUnits.adjustSubtreeUserCounts(ou.tenant_id, parentIdPathOf(ou), -ou.subtree_user_count);
    await repos.orgUnits.adjustSubtreeUserCounts(ou.tenant_id, target.idPath, ou.subtree_user_count);
    return descendants;
  }

  /**
   * The OU's answer: kept (detailCache) while its row says its children are unchanged, else its
   * row and children read again in one snapshot and rendered.
   */
  async function rendered(row: OrgUnitRow): Promise<RenderedDetail> {
    if (row.child_ou_count === 0) return renderDetail(row, []);
    const kept = detailCache.get(row);
    if (kept) return kept;
    // Requests that miss the same answer at once share one read and render of it: after a write
    // to the OU with 10,000 children, 16 clients each read and rendered them (p99 1.3 s on
    // PostgreSQL). A request joins only a build for the row it read, never an older one.
    const flight = detailCache.answerKey(row);
    const pending = renderings.get(flight);
    if (pending) return pending;
    const rendering = store
      .snapshot(async (db) => {
        const repos = pick(db, READS);
        const current = await getOrThrow(repos, row.tenant_id, row.id);
        const answer = renderDetail(current, current.child_ou_count > 0 ? await repos.orgUnits.listChildren(current.tenant_id, current.id) : []);
        detailCache.set(current, answer);
        return answer;
      })
      .finally(() => renderings.delete(flight));
    renderings.set(flight, rendering);
    return rendering;
  }

  return {
    async get(access: Access, tenantId: string, id: string): Promise<OrgUnitDetail> {
      return detail(read, tenantId, await getVisible(read, access, tenantId, id));
    },

    /** GET's answer, rendered: one primary-key read when the OU's answer is kept. */
    async getRendered(access: Access, tenantId: string, id: string): Promise<RenderedDetail> {
      return rendered(await getVisible(read, access, tenantId, id));
    },

    /**
     * A page of the tenant's OUs by path: all, a name search, a parent's children, or with
     * `top_level` the roots the principal sees (the tenant's, or its subtrees').
     */
    async list(access: Access, tenantId: string, filter: { search?: string | null; parent_id?: string | null; top_level?: boolean }, pageRequest: PageRequest): Promise<Page<OrgUnitListItem>> {
      if (filter.top_level && filter.parent_id != null) throw topLevelWithParent();
      const whole = listInOneStatement && !filter.search && filter.parent_id == null && !filter.top_level && access.reach('ous:read') === 'tenant';
      const fast = whole ? await listWholeInOneStatement(tenantId, pageRequest) : undefined;
      if (fast) return fast;
      return store.snapshot(async (db) => {
        const repos = pick(db, READS);
        const tenant = await repos.tenants.getWithEventSeq(tenantId);
        if (!tenant) throw tenantNotFound(tenantId);
        tenantPaging.set(tenantId, { ouCount: tenant.ou_count, ouVersion: tenant.ou_version });
        const reach = access.reach('ous:read');
        const parentId = filter.parent_id ?? undefined;
        // The total comes from a maintained count where there is one: the tenant's OUs, or the
        // parent's direct children (all visible when the parent is: a scope is whole subtrees).
        // A name search, or a scoped principal's list, counts its matches.
        const parent = parentId === undefined ? undefined : await repos.orgUnits.getById(tenantId, parentId);
        if (parentId !== undefined && (!parent || !reachCovers(reach, parent.id_path))) throw parentNotFound(parentId);
        const subtrees = parent ? null : await resolveSubtrees(repos.orgUnits, tenantId, reach);
        // The top level a scoped principal sees is its subtrees' roots, all of which it sees.
        const scope = filter.top_level ? { roots: subtrees?.ids ?? ('tenant' as const) } : subtrees ? { withinPaths: subtrees.paths } : {};
        const repoFilter: OrgUnitListFilter = { search: filter.search || undefined, parentId, ...scope };
        let total = parent?.child_ou_count ?? tenant.ou_count;
        if (repoFilter.search !== undefined || subtrees || filter.top_level) {
          // A search counts its matches once per version of the tenant's OUs: paging through the
          // results, or a UI repeating a search, finds the count kept. Any OU write raises the
          // version, so a kept count is never stale, on any instance running this code (an
          // instance older than migration 0004 would not raise it: upgrade all before relying on it).
          const key = JSON.stringify([tenantId, tenant.ou_version, repoFilter.parentId ?? null, repoFilter.search ?? null, subtrees?.idPaths ?? null, filter.top_level === true]);
          const kept = searchCounts.get(key);
          total = kept ?? (await repos.orgUnits.count(tenantId, repoFilter));
          if (kept === undefined) searchCounts.set(key, total);
        }
        const page = await readListing<OrgUnitListRow>(pageRequest, {
          ...ouListing(tenantId, repoFilter, subtrees?.idPaths ?? null, tenant.ou_version, (step) => repos.orgUnits.rankKeys(tenantId, repoFilter, step)),
          total,
          read: (window) => repos.orgUnits.list(tenantId, repoFilter, window),
        });
        return { ...page, items: page.items.map(toListItem), eventSeq: tenant.event_seq };
      });
    },

    /** The whole tenant as nested entries (org-unit-tree.ts), and the event seq it reflects. */
    async tree(access: Access, tenantId: string): Promise<{ roots: OrgUnitTreeEntry[]; eventSeq: number }> {
      const { rows, eventSeq, subtrees } = await store.snapshot(async (db) => {
        const repos = pick(db, READS);
        const tenant = await repos.tenants.getWithEventSeq(tenantId);
        if (!tenant) throw tenantNotFound(tenantId);
        // The maintained count, read before the rows: a tree is built whole in memory, so a tenant
        // too large for it is told to page instead of costing the instance its memory.
        if (tenant.ou_count > treeMaxOus) throw treeTooLarge(tenantId, tenant.ou_count, treeMaxOus);
        const subtrees = await resolveSubtrees(repos.orgUnits, tenantId, access.reach('ous:read'));
        return { rows: await repos.orgUnits.listForTree(tenantId, subtrees?.idPaths), eventSeq: tenant.event_seq, subtrees };
      });
      return { roots: assembleTree(rows, subtrees), eventSeq };
    },

    async create(ctx: WriteContext, access: Access, tenantId: string, input: OrgUnitCreateInput): Promise<OrgUnitDetail> {
      const name = normalizeOuName(input.name);
      const fast = await createInOneStatement(ctx, access, tenantId, input, name);
      if (fast) return fast;
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        // The parent is found and its child count raised in one statement (a failure later rolls
        // both back); a parent found in the tenant proves the tenant exists.
        let parent: OrgUnitRow | undefined;
        if (input.parent_id != null) {
          parent = await repos.orgUnits.addChildTo(tenantId, input.parent_id);
          if (!parent) throw await notFoundIn(repos, tenantId, parentNotFound(input.parent_id));
          // Checked after the count was raised: a refusal rolls the whole write back.
          const parentId = input.parent_id;
          assertReach(access, 'ous:write', 'ous:read', parent, () => parentNotFound(parentId));
        } else {
          await requireTenant(repos, tenantId);
          assertReach(access, 'ous:write', 'ous:read', null, () => parentNotFound(''));
        }
        if ((parent?.depth ?? 0) + 1 > maxDepth) throw depthExceeded(maxDepth);
        const row = newOuRow(tenantId, parent, name, input, timestamp);
        if (row.external_id !== null && (await repos.orgUnits.getByExternalId(tenantId, row.external_id))) throw ouExternalIdConflict(row.external_id);
        await onUniqueViolation(() => repos.orgUnits.insert(row), () => nameConflict(name));
        scope.record(created(row));
        return createdDetail(row);
      });
    },

    /** Renames, moves and edits an OU; a rename or move rewrites every descendant's path (one event, for the OU). */
    async update(ctx: WriteContext, access: Access, tenantId: string, id: string, input: OrgUnitUpdateInput): Promise<OrgUnitUpdateResult> {
      const newName = input.name != null ? normalizeOuName(input.name) : undefined;
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        const ou = await getWritable(repos, access, tenantId, id);
        await scope.precondition(() => detail(repos, tenantId, ou));
        const name = newName ?? ou.name;
        const parentId = input.parent_id !== undefined ? input.parent_id : ou.parent_id;
        const edits: Parameters<typeof repos.orgUnits.update>[2] = {};
        if (input.description !== undefined && input.description !== ou.description) edits.description = input.description;
        if (input.custom_attributes !== undefined && !sameAttributes(ou.custom_attributes, input.custom_attributes)) {
          edits.custom_attributes = encodeAttributes(input.custom_attributes);
        }
        if (input.external_id !== undefined && input.external_id !== ou.external_id) {
          const holder = input.external_id === null ? undefined : await repos.orgUnits.getByExternalId(tenantId, input.external_id);
          if (holder) throw ouExternalIdConflict(input.external_id as string);
          edits.external_id = input.external_id;
        }
        // A PATCH of the values the OU already has changes nothing, not even updated_at: no event
        // is written for it, so nothing a feed consumer mirrors may differ either (and the ETag stays).
        if (parentId === ou.parent_id && name === ou.name && Object.keys(edits).length === 0) {
          return { ou: await detail(repos, tenantId, ou), descendantPathsChanged: 0 };
        }
        // The root of a delegated scope keeps its place and name: changing them changes the scope.
        if ((parentId !== ou.parent_id || name !== ou.name) && isScopeRoot(access.reach('ous:write'), ou)) throw scopeRootRefused(ou.path);
        let descendantPathsChanged = 0;
        if (parentId !== ou.parent_id) descendantPathsChanged = await move(scope, access, ou, name, parentId);
        else if (name !== ou.name) descendantPathsChanged = await rename(scope, ou, name);
        await repos.orgUnits.update(tenantId, id, { ...edits, updated_at: timestamp });
        const updated = await getOrThrow(repos, tenantId, id);
        const changed = changedFields(ouEventFields(ou), ouEventFields(updated), OU_EVENT_FIELDS);
        if (changed) {
          const type = updated.parent_id !== ou.parent_id ? 'ou.moved' : 'ou.updated';
          scope.record({ type, resource: { type: 'ou', id }, ...changed, ouPaths: [ou.id_path, updated.id_path] });
        }
        return { ou: await detail(repos, tenantId, updated), descendantPathsChanged };
      });
    },

    async delete(ctx: WriteContext, access: Access, tenantId: string, id: string, strategy: DeleteStrategy): Promise<OrgUnitDeleteOutcome> {
      const outcome = await write(ctx, tenantId, async (scope) => {
        const ou = await getWritable(scope.repos, access, tenantId, id);
        if (isScopeRoot(access.reach('ous:write'), ou)) throw scopeRootRefused(ou.path);
        await scope.precondition(() => detail(scope.repos, tenantId, ou));
        return DELETE_STRATEGIES[strategy](scope, ou);
      });
      if (!ctx.dryRun) onRolesChanged?.();
      return outcome;
    },
  };
}

export type OrgUnitService = ReturnType<typeof createOrgUnitService>;

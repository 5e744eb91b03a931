import { LRUCache } from 'lru-cache';
import type { Store } from '../db/database.js';
import { onUniqueViolation } from '../db/database.js';
import { type Repositories, repositories } from '../db/repositories/index.js';
import type { ChildSummary, OrgUnitRow } from '../db/repositories/org-unit-repository.js';
import { ConflictError, NotFoundError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { decodeAttributes, encodeAttributes } from './json-attributes.js';
import { toUserResponse } from './user-service.js';
import { normalizeOuName, ouNameKey } from './org-unit-names.js';
import { notFoundIn, requireTenant, tenantNotFound } from './tenant-guard.js';
import { type PageRequest, expectedRows, readPage, toPage } from './pagination.js';

export type DeleteStrategy = 'BLOCK' | 'MOVE_UP' | 'CASCADE';

export interface OrgUnitCreateInput {
  name: string;
  description?: string | null;
  parent_id?: string | null;
  custom_attributes?: Record<string, unknown> | null;
}

/** Absent fields stay as they are; see docs/org-units.md for what `null` means per field. */
export interface OrgUnitUpdateInput {
  name?: string | null;
  description?: string | null;
  parent_id?: string | null;
  custom_attributes?: Record<string, unknown> | null;
}

export interface OrgUnitChildInfo {
  ou_id: string;
  name: string;
  path: string;
  user_count: number;
}

export interface OrgUnitDetail {
  id: string;
  name: string;
  description: string | null;
  path: string;
  parent_id: string | null;
  child_ou_count: number;
  user_count: number;
  children: OrgUnitChildInfo[];
  custom_attributes: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

export interface OrgUnitListItem {
  id: string;
  name: string;
  path: string;
  parent_id: string | null;
  user_count: number;
}

/**
 * An OU as the tree is built: its row, with its children attached in sibling order. Its path
 * is not carried: it follows from its ancestors' names, and http/tree-json.ts writes it out.
 */
export interface OrgUnitTreeEntry {
  id: string;
  parent_id: string | null;
  name: string;
  name_key: string;
  children: OrgUnitTreeEntry[];
}

export interface OrgUnitServiceDeps {
  store: Pick<Store, 'db' | 'transaction'>;
  maxDepth: number;
  /** Most OUs the whole-tenant tree returns at once (ARBOR_TREE_MAX_OUS); default: no cap. */
  treeMaxOus?: number;
  now?: () => string;
}

/** Search counts kept per instance (a few dozen bytes each). */
const SEARCH_COUNTS_KEPT = 10_000;

const ouNotFound = (id: string) => new NotFoundError('ou.not_found', `OU '${id}' does not exist in this tenant.`);
const parentNotFound = (id: string) =>
  new NotFoundError('ou.parent_not_found', `Parent OU '${id}' does not exist in this tenant.`);
const nameConflict = (name: string) =>
  new ConflictError('ou.name_conflict', `An OU named '${name}' already exists at this level (names are compared case-insensitively).`);

function depthExceeded(maxDepth: number): ConflictError {
  return new ConflictError('ou.depth_exceeded', `This would place an OU deeper than the limit of ${maxDepth} levels (ARBOR_MAX_OU_DEPTH).`);
}

/** Path of the parent, derived from an OU's own path and name (`''` for a root). */
function parentPathOf(ou: Pick<OrgUnitRow, 'path' | 'name'>): string {
  return ou.path.slice(0, ou.path.length - ou.name.length - 1);
}

function toChildInfo(child: ChildSummary): OrgUnitChildInfo {
  return { ou_id: child.id, name: child.name, path: child.path, user_count: child.user_count };
}

function toDetail(row: OrgUnitRow, children: ChildSummary[]): OrgUnitDetail {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    path: row.path,
    parent_id: row.parent_id,
    child_ou_count: row.child_ou_count,
    user_count: row.user_count,
    children: children.map(toChildInfo),
    custom_attributes: decodeAttributes(row.custom_attributes),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Path of the parent, in ids (`/` for a root). */
function parentIdPathOf(ou: Pick<OrgUnitRow, 'id_path' | 'id'>): string {
  return ou.id_path.slice(0, -(ou.id.length + 1));
}

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

const treeTooLarge = (tenantId: string, count: number, cap: number) =>
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

const cycle = () => new ConflictError('ou.cycle', 'An OU cannot be moved under itself or one of its descendants.');

/** The hierarchy rules: names, paths, depth, cycles, counts and delete strategies. */
export function createOrgUnitService({ store, maxDepth, treeMaxOus = Number.POSITIVE_INFINITY, now = () => new Date().toISOString() }: OrgUnitServiceDeps) {
  const read = repositories(store.db);
  const searchCounts = new LRUCache<string, number>({ max: SEARCH_COUNTS_KEPT });

  async function getOrThrow(repos: Repositories, tenantId: string, id: string): Promise<OrgUnitRow> {
    const row = await repos.orgUnits.getById(tenantId, id);
    if (!row) throw await notFoundIn(repos, tenantId, ouNotFound(id));
    return row;
  }

  async function detail(repos: Repositories, tenantId: string, row: OrgUnitRow): Promise<OrgUnitDetail> {
    const children = row.child_ou_count > 0 ? await repos.orgUnits.listChildren(tenantId, row.id) : [];
    return toDetail(row, children);
  }

  /** Sets name and parent of `ou` and rewrites the derived columns of its subtree, in one UPDATE. */
  async function relocate(
    repos: Repositories,
    ou: OrgUnitRow,
    name: string,
    parent: { id: string | null; path: string; idPath: string; depth: number },
    timestamp: string,
  ): Promise<void> {
    await onUniqueViolation(
      () => repos.orgUnits.update(ou.tenant_id, ou.id, { parent_id: parent.id, name, name_key: ouNameKey(name) }),
      () => nameConflict(name),
    );
    await repos.orgUnits.rewriteSubtree(
      ou.tenant_id,
      { idPath: ou.id_path, path: ou.path },
      { idPath: `${parent.idPath}${ou.id}/`, path: `${parent.path}/${name}` },
      parent.depth + 1 - ou.depth,
      timestamp,
    );
  }

  async function rename(repos: Repositories, ou: OrgUnitRow, name: string, timestamp: string): Promise<void> {
    const parent = { id: ou.parent_id, path: parentPathOf(ou), idPath: parentIdPathOf(ou), depth: ou.depth - 1 };
    await relocate(repos, ou, name, parent, timestamp);
  }

  /** Moves `ou` (maybe renamed) under `parentId` (null: to the root), refusing cycles and excess depth. */
  async function move(repos: Repositories, ou: OrgUnitRow, name: string, parentId: string | null, timestamp: string): Promise<void> {
    if (parentId === ou.id) throw cycle();
    const parent = parentId === null ? undefined : await repos.orgUnits.getById(ou.tenant_id, parentId);
    if (parentId !== null && !parent) throw parentNotFound(parentId);
    if (parent?.id_path.startsWith(ou.id_path)) throw cycle();
    const target = { id: parentId, path: parent?.path ?? '', idPath: parent?.id_path ?? '/', depth: parent?.depth ?? 0 };
    const deepest = await repos.orgUnits.maxDepthInSubtree(ou.tenant_id, ou.id_path);
    if (deepest - ou.depth + target.depth + 1 > maxDepth) throw depthExceeded(maxDepth);
    await relocate(repos, ou, name, target, timestamp);
    await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: -1 });
    await repos.orgUnits.adjustCounts(ou.tenant_id, parentId, { childOus: 1 });
    // The subtree's users leave the old ancestors' subtree counts and join the new ones'.
    await repos.orgUnits.adjustSubtreeUserCounts(ou.tenant_id, parentIdPathOf(ou), -ou.subtree_user_count);
    await repos.orgUnits.adjustSubtreeUserCounts(ou.tenant_id, target.idPath, ou.subtree_user_count);
  }

  async function deleteIfEmpty(repos: Repositories, ou: OrgUnitRow): Promise<void> {
    if (ou.child_ou_count > 0 || ou.user_count > 0) {
      throw new ConflictError(
        'ou.not_empty',
        `OU '${ou.path}' has ${ou.child_ou_count} child OU(s) and ${ou.user_count} user(s). Move or delete them first, or delete with strategy=MOVE_UP or strategy=CASCADE.`,
      );
    }
    await repos.orgUnits.deleteById(ou.tenant_id, ou.id);
    await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: -1 });
    await repos.tenants.recordOuWrite(ou.tenant_id, -1);
  }

  /**
   * Children and users of `ou` go to its parent (or become roots / OU-less). Subtree counts
   * stay as they are: the parent's already held these users, the children's are unchanged.
   */
  async function deleteMovingUp(repos: Repositories, ou: OrgUnitRow, timestamp: string): Promise<void> {
    const clashes = await repos.orgUnits.findChildNameClashes(ou.tenant_id, ou.id, ou.parent_id);
    if (clashes.length > 0) {
      throw new ConflictError(
        'ou.name_conflict',
        `Cannot move the children of '${ou.path}' up: the parent level already has OUs named ${clashes.map((n) => `'${n}'`).join(', ')}. Rename them first.`,
      );
    }
    await repos.users.moveAllFromOu(ou.tenant_id, ou.id, ou.parent_id, timestamp);
    await repos.orgUnits.rewriteSubtree(
      ou.tenant_id,
      { idPath: ou.id_path, path: ou.path },
      { idPath: parentIdPathOf(ou), path: parentPathOf(ou) },
      -1,
      timestamp,
      true,
    );
    // Delete first (the parent FK is deferred): a child named like the deleted OU takes its place.
    await repos.orgUnits.deleteById(ou.tenant_id, ou.id);
    await onUniqueViolation(
      () => repos.orgUnits.reparentChildren(ou.tenant_id, ou.id, ou.parent_id),
      () => nameConflict(ou.name),
    );
    await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: ou.child_ou_count - 1, users: ou.user_count });
    await repos.tenants.recordOuWrite(ou.tenant_id, -1);
  }

  /**
   * The whole subtree goes; every user in it moves to the parent of `ou` (or to no OU). The
   * ancestors' subtree counts stay as they are: those users are still beneath them.
   */
  async function deleteCascading(repos: Repositories, ou: OrgUnitRow, timestamp: string): Promise<void> {
    await repos.users.moveAllFromSubtree(ou.tenant_id, ou.id_path, ou.parent_id, timestamp);
    const deleted = await repos.orgUnits.deleteSubtree(ou.tenant_id, ou.id_path);
    await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: -1, users: ou.subtree_user_count });
    await repos.tenants.recordOuWrite(ou.tenant_id, -deleted);
  }

  return {
    async get(tenantId: string, id: string): Promise<OrgUnitDetail> {
      return detail(read, tenantId, await getOrThrow(read, tenantId, id));
    },

    async list(
      tenantId: string,
      filter: { search?: string | null; parent_id?: string | null },
      pageRequest: PageRequest,
    ) {
      const tenant = await read.tenants.getById(tenantId);
      if (!tenant) throw tenantNotFound(tenantId);
      const repoFilter = { search: filter.search || undefined, parentId: filter.parent_id ?? undefined };
      // The total comes from a maintained count where there is one: the tenant's OUs, or the
      // parent's direct children. Only a name search counts its matches.
      const parent = repoFilter.parentId === undefined ? undefined : await read.orgUnits.getById(tenantId, repoFilter.parentId);
      if (repoFilter.parentId !== undefined && !parent) throw parentNotFound(repoFilter.parentId);
      let total = parent?.child_ou_count ?? tenant.ou_count;
      if (repoFilter.search !== undefined) {
        // A search counts its matches once per version of the tenant's OUs: paging through the
        // results, or a UI repeating a search, finds the count kept. Any OU write raises the
        // version, so a kept count is never stale, on any instance running this code (an
        // instance older than migration 0004 would not raise it: upgrade all before relying on it).
        const key = JSON.stringify([tenantId, tenant.ou_version, repoFilter.parentId ?? null, repoFilter.search]);
        const kept = searchCounts.get(key);
        total = kept ?? (await read.orgUnits.count(tenantId, repoFilter));
        if (kept === undefined) searchCounts.set(key, total);
      }
      const rows = await readPage(pageRequest, total, (window) => read.orgUnits.list(tenantId, repoFilter, window));
      const items: OrgUnitListItem[] = rows.map((r) => ({
        id: r.id,
        name: r.name,
        path: r.path,
        parent_id: r.parent_id,
        user_count: r.user_count,
      }));
      return toPage(items, total, pageRequest);
    },

    /**
     * The whole tenant as nested entries, from one unordered query; siblings ordered by name
     * (case-insensitively, by code point, then id), the same on every store. Sorting here costs
     * less than the ORDER BY did (a temporary B-tree: 0.4 s at 10^5 OUs on SQLite), and the rows
     * themselves become the nodes: at 10^5 OUs every extra object or string per OU shows in the
     * server's peak memory (docs/benchmarks.md).
     */
    async tree(tenantId: string): Promise<OrgUnitTreeEntry[]> {
      const tenant = await read.tenants.getById(tenantId);
      if (!tenant) throw tenantNotFound(tenantId);
      // The maintained count, read before the rows: a tree is built whole in memory, so a tenant
      // too large for it is told to page instead of costing the instance its memory.
      if (tenant.ou_count > treeMaxOus) throw treeTooLarge(tenantId, tenant.ou_count, treeMaxOus);
      const rows = await read.orgUnits.listForTree(tenantId);
      const byId = new Map<string, OrgUnitTreeEntry>();
      const entries = rows.map((row) => {
        const entry: OrgUnitTreeEntry = Object.assign(row, { children: [] as OrgUnitTreeEntry[] });
        byId.set(row.id, entry);
        return entry;
      });
      const roots: OrgUnitTreeEntry[] = [];
      for (const entry of entries) {
        if (entry.parent_id === null) roots.push(entry);
        else byId.get(entry.parent_id)?.children.push(entry);
      }
      for (const entry of entries) if (entry.children.length > 1) entry.children.sort(bySiblingOrder);
      return roots.sort(bySiblingOrder);
    },

    async create(tenantId: string, input: OrgUnitCreateInput): Promise<OrgUnitDetail> {
      const name = normalizeOuName(input.name);
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        // The parent is found and its child count raised in one statement (a failure later rolls
        // both back); a parent found in the tenant proves the tenant exists.
        let parent: OrgUnitRow | undefined;
        if (input.parent_id != null) {
          parent = await repos.orgUnits.addChildTo(tenantId, input.parent_id);
          if (!parent) throw await notFoundIn(repos, tenantId, parentNotFound(input.parent_id));
        } else {
          await requireTenant(repos, tenantId);
        }
        const depth = (parent?.depth ?? 0) + 1;
        if (depth > maxDepth) throw depthExceeded(maxDepth);
        const id = newId('ou');
        const timestamp = now();
        const row = {
          tenant_id: tenantId,
          id,
          parent_id: parent?.id ?? null,
          name,
          name_key: ouNameKey(name),
          description: input.description ?? null,
          custom_attributes: encodeAttributes(input.custom_attributes),
          path: `${parent?.path ?? ''}/${name}`,
          id_path: `${parent?.id_path ?? '/'}${id}/`,
          depth,
          created_at: timestamp,
          updated_at: timestamp,
        };
        await onUniqueViolation(() => repos.orgUnits.insert(row), () => nameConflict(name));
        await repos.tenants.recordOuWrite(tenantId, 1);
        return toDetail({ ...row, child_ou_count: 0, user_count: 0, subtree_user_count: 0 }, []);
      }, { lock: `tenant:${tenantId}` });
    },

    async update(tenantId: string, id: string, input: OrgUnitUpdateInput): Promise<OrgUnitDetail> {
      const newName = input.name != null ? normalizeOuName(input.name) : undefined;
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        const ou = await getOrThrow(repos, tenantId, id);
        const timestamp = now();
        const name = newName ?? ou.name;
        const parentId = input.parent_id !== undefined ? input.parent_id : ou.parent_id;
        if (parentId !== ou.parent_id) await move(repos, ou, name, parentId, timestamp);
        else if (name !== ou.name) await rename(repos, ou, name, timestamp);
        const changes: Parameters<Repositories['orgUnits']['update']>[2] = { updated_at: timestamp };
        if (input.description !== undefined) changes.description = input.description;
        if (input.custom_attributes !== undefined) changes.custom_attributes = encodeAttributes(input.custom_attributes);
        await repos.orgUnits.update(tenantId, id, changes);
        await repos.tenants.recordOuWrite(tenantId);
        return detail(repos, tenantId, await getOrThrow(repos, tenantId, id));
      }, { lock: `tenant:${tenantId}` });
    },

    async delete(tenantId: string, id: string, strategy: DeleteStrategy): Promise<void> {
      await store.transaction(async (trx) => {
        const repos = repositories(trx);
        const ou = await getOrThrow(repos, tenantId, id);
        const remove = { BLOCK: deleteIfEmpty, MOVE_UP: deleteMovingUp, CASCADE: deleteCascading }[strategy];
        await remove(repos, ou, now());
      }, { lock: `tenant:${tenantId}` });
    },

    /** Users of an OU, by id; with `includeNested` those of its whole subtree. */
    async listUsers(tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest) {
      const ou = await getOrThrow(read, tenantId, id);
      // Both totals are maintained on the OU row: no count query.
      const total = includeNested ? ou.subtree_user_count : ou.user_count;
      if (!includeNested) {
        const rows = await readPage(pageRequest, total, (w) => read.users.listInOu(tenantId, id, w));
        return toPage(rows.map(toUserResponse), total, pageRequest);
      }
      // A subtree holding every placed user (a single root, typically) is read in id order from
      // an index of all the tenant's users, rather than gathered from its OUs and sorted. That
      // read keeps only rows of the subtree: if a concurrent write placed a user elsewhere in
      // between, it comes up short, and the page is read again the exact way.
      const fast = total > 0 && total === (await read.orgUnits.placedUserCount(tenantId));
      let rows = await readPage(pageRequest, total, (w) => read.users.listInSubtree(tenantId, ou.id_path, w, fast));
      if (fast && rows.length < expectedRows(pageRequest, total)) {
        rows = await readPage(pageRequest, total, (w) => read.users.listInSubtree(tenantId, ou.id_path, w, false));
      }
      return toPage(rows.map(toUserResponse), total, pageRequest);
    },
  };
}

export type OrgUnitService = ReturnType<typeof createOrgUnitService>;

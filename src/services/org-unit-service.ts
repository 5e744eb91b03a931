import type { Store } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { type Repositories, repositories } from '../db/repositories/index.js';
import type { ChildSummary, OrgUnitRow } from '../db/repositories/org-unit-repository.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { decodeAttributes, encodeAttributes } from './json-attributes.js';
import { toUserResponse } from './user-service.js';
import { normalizeOuName, ouNameKey } from './org-unit-names.js';
import { notFoundIn, requireTenant } from './tenant-guard.js';
import { type PageRequest, offsetOf, toPage } from './pagination.js';

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

export interface OrgUnitTreeNode {
  id: string;
  name: string;
  path: string;
  children: OrgUnitTreeNode[];
}

export interface OrgUnitServiceDeps {
  store: Pick<Store, 'db' | 'transaction'>;
  maxDepth: number;
  now?: () => string;
}

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

/** Maps the store's unique-index refusal to the 409 a client can act on. */
async function guardingSiblingNames<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw nameConflict(name);
    throw error;
  }
}

/** The hierarchy rules: names, paths, depth, cycles, counts and delete strategies. */
export function createOrgUnitService({ store, maxDepth, now = () => new Date().toISOString() }: OrgUnitServiceDeps) {
  const read = repositories(store.db);

  async function getOrThrow(repos: Repositories, tenantId: string, id: string): Promise<OrgUnitRow> {
    const row = await repos.orgUnits.getById(tenantId, id);
    if (!row) throw await notFoundIn(repos, tenantId, ouNotFound(id));
    return row;
  }

  async function detail(repos: Repositories, tenantId: string, row: OrgUnitRow): Promise<OrgUnitDetail> {
    const children = row.child_ou_count > 0 ? await repos.orgUnits.listChildren(tenantId, row.id) : [];
    return toDetail(row, children);
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
      await requireTenant(read, tenantId);
      const repoFilter = { search: filter.search ?? undefined, parentId: filter.parent_id ?? undefined };
      if (repoFilter.parentId !== undefined && !(await read.orgUnits.getById(tenantId, repoFilter.parentId))) {
        throw parentNotFound(repoFilter.parentId);
      }
      const [rows, total] = await Promise.all([
        read.orgUnits.list(tenantId, repoFilter, pageRequest.per_page, offsetOf(pageRequest)),
        read.orgUnits.count(tenantId, repoFilter),
      ]);
      const items: OrgUnitListItem[] = rows.map((r) => ({
        id: r.id,
        name: r.name,
        path: r.path,
        parent_id: r.parent_id,
        user_count: r.user_count,
      }));
      return toPage(items, total, pageRequest);
    },

    /** The whole tenant as nested nodes, from one query; siblings ordered by name. */
    async tree(tenantId: string): Promise<OrgUnitTreeNode[]> {
      await requireTenant(read, tenantId);
      const rows = await read.orgUnits.listForTree(tenantId);
      const roots: OrgUnitTreeNode[] = [];
      const byId = new Map<string, OrgUnitTreeNode>();
      // Rows come parents first (by depth), so a parent's node exists before its children.
      for (const row of rows) {
        const node: OrgUnitTreeNode = { id: row.id, name: row.name, path: row.path, children: [] };
        byId.set(row.id, node);
        if (row.parent_id === null) roots.push(node);
        else byId.get(row.parent_id)?.children.push(node);
      }
      return roots;
    },

    async create(tenantId: string, input: OrgUnitCreateInput): Promise<OrgUnitDetail> {
      const name = normalizeOuName(input.name);
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        await requireTenant(repos, tenantId);
        let parent: OrgUnitRow | undefined;
        if (input.parent_id != null) {
          parent = await repos.orgUnits.getById(tenantId, input.parent_id);
          if (!parent) throw parentNotFound(input.parent_id);
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
        await guardingSiblingNames(name, () => repos.orgUnits.insert(row));
        await repos.orgUnits.adjustCounts(tenantId, row.parent_id, { childOus: 1 });
        return toDetail({ ...row, child_ou_count: 0, user_count: 0 }, []);
      });
    },

    async update(tenantId: string, id: string, input: OrgUnitUpdateInput): Promise<OrgUnitDetail> {
      const newName = input.name != null ? normalizeOuName(input.name) : undefined;
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        const ou = await getOrThrow(repos, tenantId, id);
        const timestamp = now();
        const name = newName ?? ou.name;
        const parentId = input.parent_id !== undefined ? input.parent_id : ou.parent_id;
        const isMoving = parentId !== ou.parent_id;
        const isRenaming = name !== ou.name;

        if (isMoving || isRenaming) {
          let target = { path: parentPathOf(ou), idPath: ou.id_path.slice(0, -(ou.id.length + 1)), depth: ou.depth - 1 };
          if (isMoving) {
            if (parentId === ou.id) throw cycle();
            const parent = parentId === null ? undefined : await repos.orgUnits.getById(tenantId, parentId);
            if (parentId !== null && !parent) throw parentNotFound(parentId);
            if (parent && parent.id_path.startsWith(ou.id_path)) throw cycle();
            target = { path: parent?.path ?? '', idPath: parent?.id_path ?? '/', depth: parent?.depth ?? 0 };
            const deepest = await repos.orgUnits.maxDepthInSubtree(tenantId, ou.id_path);
            if (deepest - ou.depth + target.depth + 1 > maxDepth) throw depthExceeded(maxDepth);
          }
          await guardingSiblingNames(name, () =>
            repos.orgUnits.update(tenantId, id, { parent_id: parentId, name, name_key: ouNameKey(name) }),
          );
          await repos.orgUnits.rewriteSubtree(
            tenantId,
            { idPath: ou.id_path, path: ou.path },
            { idPath: `${target.idPath}${ou.id}/`, path: `${target.path}/${name}` },
            target.depth + 1 - ou.depth,
            timestamp,
          );
          if (isMoving) {
            await repos.orgUnits.adjustCounts(tenantId, ou.parent_id, { childOus: -1 });
            await repos.orgUnits.adjustCounts(tenantId, parentId, { childOus: 1 });
          }
        }
        const changes: Parameters<Repositories['orgUnits']['update']>[2] = { updated_at: timestamp };
        if (input.description !== undefined) changes.description = input.description;
        if (input.custom_attributes !== undefined) changes.custom_attributes = encodeAttributes(input.custom_attributes);
        await repos.orgUnits.update(tenantId, id, changes);
        return detail(repos, tenantId, await getOrThrow(repos, tenantId, id));
      });

      function cycle(): ConflictError {
        return new ConflictError('ou.cycle', 'An OU cannot be moved under itself or one of its descendants.');
      }
    },

    async delete(tenantId: string, id: string, strategy: DeleteStrategy): Promise<void> {
      await store.transaction(async (trx) => {
        const repos = repositories(trx);
        const ou = await getOrThrow(repos, tenantId, id);
        const timestamp = now();
        switch (strategy) {
          case 'BLOCK': {
            if (ou.child_ou_count > 0 || ou.user_count > 0) {
              throw new ConflictError(
                'ou.not_empty',
                `OU '${ou.path}' has ${ou.child_ou_count} child OU(s) and ${ou.user_count} user(s). Move or delete them first, or delete with strategy=MOVE_UP or strategy=CASCADE.`,
              );
            }
            await repos.orgUnits.deleteById(tenantId, id);
            await repos.orgUnits.adjustCounts(tenantId, ou.parent_id, { childOus: -1 });
            return;
          }
          case 'MOVE_UP': {
            const clashes = await repos.orgUnits.findChildNameClashes(tenantId, id, ou.parent_id, id);
            if (clashes.length > 0) {
              throw new ConflictError(
                'ou.name_conflict',
                `Cannot move the children of '${ou.path}' up: the parent level already has OUs named ${clashes.map((n) => `'${n}'`).join(', ')}. Rename them first.`,
              );
            }
            const parentPath = parentPathOf(ou);
            const parentIdPath = ou.id_path.slice(0, -(ou.id.length + 1));
            await repos.users.moveAllFromOu(tenantId, id, ou.parent_id, timestamp);
            await repos.orgUnits.rewriteSubtree(
              tenantId,
              { idPath: ou.id_path, path: ou.path },
              { idPath: parentIdPath, path: parentPath },
              -1,
              timestamp,
              true,
            );
            // Delete first: a child named like the deleted OU takes its place without a clash.
            await repos.orgUnits.deleteById(tenantId, id);
            await guardingSiblingNames(ou.name, () => repos.orgUnits.reparentChildren(tenantId, id, ou.parent_id));
            await repos.orgUnits.adjustCounts(tenantId, ou.parent_id, {
              childOus: ou.child_ou_count - 1,
              users: ou.user_count,
            });
            return;
          }
          case 'CASCADE': {
            const movedUsers = await repos.orgUnits.sumUserCountInSubtree(tenantId, ou.id_path);
            await repos.users.moveAllFromSubtree(tenantId, ou.id_path, ou.parent_id, timestamp);
            await repos.orgUnits.deleteSubtree(tenantId, ou.id_path);
            await repos.orgUnits.adjustCounts(tenantId, ou.parent_id, { childOus: -1, users: movedUsers });
            return;
          }
        }
      });
    },

    /** Users of an OU, by id; with `includeNested` those of its whole subtree. */
    async listUsers(tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest) {
      const ou = await getOrThrow(read, tenantId, id);
      const offset = offsetOf(pageRequest);
      if (includeNested) {
        const [rows, total] = await Promise.all([
          read.users.listInSubtree(tenantId, ou.id_path, pageRequest.per_page, offset),
          read.users.countInSubtree(tenantId, ou.id_path),
        ]);
        return toPage(rows.map(toUserResponse), total, pageRequest);
      }
      // The direct count is maintained on the OU row: no count query.
      const rows = await read.users.list(tenantId, { ouId: id }, pageRequest.per_page, offset);
      return toPage(rows.map(toUserResponse), ou.user_count, pageRequest);
    },
  };
}

export type OrgUnitService = ReturnType<typeof createOrgUnitService>;

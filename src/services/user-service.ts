import { type Repositories, pick } from '../db/repositories/index.js';
import { type Access, type Permission, assertReach, reachCovers, resolveSubtrees } from './access.js';
import type { UserPageRow, UserRow } from '../db/repositories/user-repository.js';
import { onUniqueViolation } from '../db/store-errors.js';
import type { Store } from '../db/store.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { decodeAttributes, encodeAttributes, sameAttributes } from './json-attributes.js';
import { type PageRequest, type PageWindow, readListing } from '../lib/pagination.js';
import { notFoundIn, requireTenant } from './tenant-guard.js';
import { changedFields, createUnitOfWork } from './unit-of-work.js';
import type { WriteContext } from './write-context.js';

export type UserStatus = UserRow['status'];

export interface UserCreateInput {
  email: string;
  display_name?: string | null;
  ou_id?: string | null;
  status?: UserStatus;
  custom_attributes?: Record<string, unknown> | null;
  external_id?: string | null;
}

export type UserUpdateInput = Partial<Omit<UserCreateInput, 'status'>> & { status?: UserStatus };

export interface UserResponseData {
  id: string;
  email: string;
  display_name: string | null;
  ou_id: string | null;
  status: UserStatus;
  custom_attributes: Record<string, unknown> | null;
  external_id: string | null;
  created_at: string;
  updated_at: string;
}

export function toUserResponse(row: UserPageRow): UserResponseData {
  return {
    id: row.id,
    email: row.email,
    display_name: row.display_name,
    ou_id: row.ou_id,
    status: row.status,
    custom_attributes: decodeAttributes(row.custom_attributes),
    external_id: row.external_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export interface UserServiceDeps {
  store: Pick<Store, 'db' | 'transaction' | 'snapshot'>;
  now?: () => string;
  /** Told after a write committed events (wakes feed readers). */
  onEventsCommitted?: (tenantId: string) => void;
}

/** The fields of a user its events carry. */
export const USER_EVENT_FIELDS = ['email', 'display_name', 'ou_id', 'status', 'custom_attributes', 'external_id'] as const;

export function userEventFields(row: UserRow) {
  return {
    email: row.email,
    display_name: row.display_name,
    ou_id: row.ou_id,
    status: row.status,
    custom_attributes: decodeAttributes(row.custom_attributes),
    external_id: row.external_id,
  };
}

type Repos = Pick<Repositories, 'tenants' | 'orgUnits' | 'users'>;

const ouNotFoundError = (ouId: string) => new NotFoundError('ou.not_found', `OU '${ouId}' does not exist in this tenant.`);
const userExternalIdConflict = (externalId: string) =>
  new ConflictError('user.external_id_conflict', `Another user of this tenant already has the external_id '${externalId}'.`);
const userNotFound = (id: string) => new NotFoundError('user.not_found', `User '${id}' does not exist in this tenant.`);

/** Email as stored and compared: trimmed; the key is lower-cased so uniqueness ignores case. */
function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

function searchKey(text: string | null | undefined): string | null {
  return text == null ? null : text.normalize('NFC').toLowerCase();
}

const emailConflict = (email: string) =>
  new ConflictError('user.email_conflict', `A user with email '${email}' already exists in this tenant (emails are compared case-insensitively).`);

/** Users and their placement in OUs; keeps each OU's maintained direct user count in step. */
export function createUserService({ store, now, onEventsCommitted }: UserServiceDeps) {
  const read = pick(store.db, ['tenants', 'orgUnits', 'users']);
  const write = createUnitOfWork(['tenants', 'orgUnits', 'users'], { store, now, onEventsCommitted });

  async function getOrThrow(repos: Repos, tenantId: string, id: string): Promise<UserRow> {
    const row = await repos.users.getById(tenantId, id);
    if (!row) throw await notFoundIn(repos, tenantId, userNotFound(id));
    return row;
  }

  /**
   * The user, if the principal may use `permission` on it: a user is in a scope when its OU is
   * (one without an OU, only tenant-wide). 404 when it may not even read it, 403 when it reads
   * but may not write it. Returns the user's OU too (undefined: none).
   */
  async function getInReach(repos: Repos, access: Access, permission: Permission, tenantId: string, id: string) {
    const row = await getOrThrow(repos, tenantId, id);
    const ou = await ouOf(repos, tenantId, row.ou_id);
    // An OU-less user has no id_path: only a tenant-wide reach covers it.
    const idPath = ou?.id_path ?? '';
    const visible = reachCovers(access.reach('users:read'), idPath) || reachCovers(access.reach('users:write'), idPath);
    if (!visible || (permission === 'users:read' && !reachCovers(access.reach('users:read'), idPath))) throw userNotFound(id);
    if (permission === 'users:write') assertReach(access, 'users:write', 'users:read', ou ?? null, () => userNotFound(id));
    return { row, ou };
  }

  /** An OU a user is being placed in, if the principal may place users there (404 / 403 otherwise). */
  async function placeableOu(repos: Repos, access: Access, tenantId: string, ouId: string | null) {
    const ou = ouId === null ? undefined : await requireOu(repos, tenantId, ouId);
    assertReach(access, 'users:write', 'users:read', ou ?? null, () => ouNotFoundError(ouId as string));
    return ou;
  }

  async function requireOu(repos: Repos, tenantId: string, ouId: string) {
    const ou = await repos.orgUnits.getById(tenantId, ouId);
    if (!ou) throw ouNotFoundError(ouId);
    return ou;
  }

  /**
   * Keeps the maintained counts in step with one user entering (`delta` 1) or leaving (-1) an
   * OU: its direct count, and the subtree count of the OU and each of its ancestors.
   */
  async function countUser(repos: Repos, tenantId: string, ou: { id: string; id_path: string } | undefined, delta: 1 | -1) {
    if (!ou) return;
    await repos.orgUnits.adjustCounts(tenantId, ou.id, { users: delta });
    await repos.orgUnits.adjustSubtreeUserCounts(tenantId, ou.id_path, delta);
  }

  const ouOf = async (repos: Repos, tenantId: string, ouId: string | null) =>
    ouId === null ? undefined : repos.orgUnits.getById(tenantId, ouId);

  return {
    async get(access: Access, tenantId: string, id: string): Promise<UserResponseData> {
      return toUserResponse((await getInReach(read, access, 'users:read', tenantId, id)).row);
    },

    async list(
      access: Access,
      tenantId: string,
      filter: { search?: string; ou_id?: string; status?: UserStatus },
      pageRequest: PageRequest,
    ) {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'orgUnits', 'users', 'events']);
        await requireTenant(repos, tenantId);
        // Like the OU list's parent_id: a filter naming no OU of the tenant is a 404, not an empty page.
        const reach = access.reach('users:read');
        if (filter.ou_id !== undefined && !reachCovers(reach, (await requireOu(repos, tenantId, filter.ou_id)).id_path)) throw ouNotFoundError(filter.ou_id);
        // Filtered in the query, before paging: totals and pages count only what the principal sees.
        const subtrees = filter.ou_id === undefined ? await resolveSubtrees(repos.orgUnits, tenantId, reach) : null;
        const repoFilter = { search: filter.search, ouId: filter.ou_id, status: filter.status, ...(subtrees ? { withinSubtrees: subtrees.idPaths } : {}) };
        const page = await readListing(pageRequest, {
          id: ['users', tenantId, repoFilter],
          total: await repos.users.count(tenantId, repoFilter),
          keyOf: (row) => row.id,
          read: (window: PageWindow) => repos.users.list(tenantId, repoFilter, window),
          forwardOnly: true,
        });
        return { ...page, items: page.items.map(toUserResponse), eventSeq: await repos.events.lastSeq(tenantId) };
      });
    },

    async create(ctx: WriteContext, access: Access, tenantId: string, input: UserCreateInput): Promise<UserResponseData> {
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        await requireTenant(repos, tenantId);
        const ouId = input.ou_id ?? null;
        const ou = await placeableOu(repos, access, tenantId, ouId);
        const email = input.email.trim();
        const row: UserRow = {
          tenant_id: tenantId,
          id: newId('usr'),
          email,
          email_key: emailKey(email),
          display_name: input.display_name ?? null,
          display_name_key: searchKey(input.display_name),
          ou_id: ouId,
          status: input.status ?? 'active',
          custom_attributes: encodeAttributes(input.custom_attributes),
          external_id: input.external_id ?? null,
          created_at: timestamp,
          updated_at: timestamp,
        };
        if (row.external_id !== null && (await repos.users.getByExternalId(tenantId, row.external_id))) throw userExternalIdConflict(row.external_id);
        await onUniqueViolation(() => repos.users.insert(row), () => emailConflict(email));
        await countUser(repos, tenantId, ou, 1);
        scope.record({ type: 'user.created', resource: { type: 'user', id: row.id }, before: null, after: userEventFields(row), ouPaths: [ou?.id_path] });
        return toUserResponse(row);
      });
    },

    async update(ctx: WriteContext, access: Access, tenantId: string, id: string, input: UserUpdateInput): Promise<UserResponseData> {
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        const { row: user, ou: from } = await getInReach(repos, access, 'users:write', tenantId, id);
        await scope.precondition(() => toUserResponse(user));
        const changes: Parameters<Repositories['users']['update']>[2] = {};
        if (input.email != null && input.email.trim() !== user.email) {
          changes.email = input.email.trim();
          changes.email_key = emailKey(input.email);
        }
        if (input.display_name !== undefined && input.display_name !== user.display_name) {
          changes.display_name = input.display_name;
          changes.display_name_key = searchKey(input.display_name);
        }
        if (input.status !== undefined && input.status !== user.status) changes.status = input.status;
        if (input.custom_attributes !== undefined && !sameAttributes(user.custom_attributes, input.custom_attributes)) {
          changes.custom_attributes = encodeAttributes(input.custom_attributes);
        }
        if (input.external_id !== undefined && input.external_id !== user.external_id) {
          if (input.external_id !== null && (await repos.users.getByExternalId(tenantId, input.external_id))) throw userExternalIdConflict(input.external_id);
          changes.external_id = input.external_id;
        }
        // The values the user already has: nothing changes, not even updated_at, and no event.
        if (Object.keys(changes).length === 0 && (input.ou_id === undefined || input.ou_id === user.ou_id)) return toUserResponse(user);
        changes.updated_at = timestamp;
        let to = from;
        if (input.ou_id !== undefined && input.ou_id !== user.ou_id) {
          // Both ends of a move must be in the principal's scope.
          to = await placeableOu(repos, access, tenantId, input.ou_id);
          changes.ou_id = input.ou_id;
          await countUser(repos, tenantId, from, -1);
          await countUser(repos, tenantId, to, 1);
        }
        await onUniqueViolation(() => repos.users.update(tenantId, id, changes), () => emailConflict(changes.email ?? user.email));
        const updated = await getOrThrow(repos, tenantId, id);
        const changed = changedFields(userEventFields(user), userEventFields(updated), USER_EVENT_FIELDS);
        if (changed) {
          const type = updated.ou_id !== user.ou_id ? 'user.moved' : 'user.updated';
          scope.record({ type, resource: { type: 'user', id }, ...changed, ouPaths: [from?.id_path, to?.id_path] });
        }
        return toUserResponse(updated);
      });
    },

    async delete(ctx: WriteContext, access: Access, tenantId: string, id: string): Promise<void> {
      await write(ctx, tenantId, async (scope) => {
        const { repos } = scope;
        const { row: user, ou } = await getInReach(repos, access, 'users:write', tenantId, id);
        await scope.precondition(() => toUserResponse(user));
        await repos.users.deleteById(tenantId, id);
        await countUser(repos, tenantId, ou, -1);
        scope.record({ type: 'user.deleted', resource: { type: 'user', id }, before: userEventFields(user), after: null, ouPaths: [ou?.id_path] });
      });
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;

import { type Repositories, pick } from '../db/repositories/index.js';
import type { UserRow } from '../db/repositories/user-repository.js';
import { onUniqueViolation } from '../db/store-errors.js';
import type { Store } from '../db/store.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { decodeAttributes, encodeAttributes, sameAttributes } from './json-attributes.js';
import { type PageRequest, offsetOf, toPage } from '../lib/pagination.js';
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
}

export type UserUpdateInput = Partial<Omit<UserCreateInput, 'status'>> & { status?: UserStatus };

export interface UserResponseData {
  id: string;
  email: string;
  display_name: string | null;
  ou_id: string | null;
  status: UserStatus;
  custom_attributes: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

export function toUserResponse(row: UserRow): UserResponseData {
  return {
    id: row.id,
    email: row.email,
    display_name: row.display_name,
    ou_id: row.ou_id,
    status: row.status,
    custom_attributes: decodeAttributes(row.custom_attributes),
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
const USER_EVENT_FIELDS = ['email', 'display_name', 'ou_id', 'status', 'custom_attributes'] as const;

function userEventFields(row: UserRow) {
  return { email: row.email, display_name: row.display_name, ou_id: row.ou_id, status: row.status, custom_attributes: decodeAttributes(row.custom_attributes) };
}

type Repos = Pick<Repositories, 'tenants' | 'orgUnits' | 'users'>;

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

  async function requireOu(repos: Repos, tenantId: string, ouId: string) {
    const ou = await repos.orgUnits.getById(tenantId, ouId);
    if (!ou) throw new NotFoundError('ou.not_found', `OU '${ouId}' does not exist in this tenant.`);
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
    async get(tenantId: string, id: string): Promise<UserResponseData> {
      return toUserResponse(await getOrThrow(read, tenantId, id));
    },

    async list(
      tenantId: string,
      filter: { search?: string; ou_id?: string; status?: UserStatus },
      pageRequest: PageRequest,
    ) {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'orgUnits', 'users', 'events']);
        await requireTenant(repos, tenantId);
        // Like the OU list's parent_id: a filter naming no OU of the tenant is a 404, not an empty page.
        if (filter.ou_id !== undefined) await requireOu(repos, tenantId, filter.ou_id);
        const repoFilter = { search: filter.search, ouId: filter.ou_id, status: filter.status };
        const [rows, total, eventSeq] = await Promise.all([
          repos.users.list(tenantId, repoFilter, pageRequest.per_page, offsetOf(pageRequest)),
          repos.users.count(tenantId, repoFilter),
          repos.events.lastSeq(tenantId),
        ]);
        return { ...toPage(rows.map(toUserResponse), total, pageRequest), eventSeq };
      });
    },

    async create(ctx: WriteContext, tenantId: string, input: UserCreateInput): Promise<UserResponseData> {
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        await requireTenant(repos, tenantId);
        const ouId = input.ou_id ?? null;
        const ou = ouId === null ? undefined : await requireOu(repos, tenantId, ouId);
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
          created_at: timestamp,
          updated_at: timestamp,
        };
        await onUniqueViolation(() => repos.users.insert(row), () => emailConflict(email));
        await countUser(repos, tenantId, ou, 1);
        scope.record({ type: 'user.created', resource: { type: 'user', id: row.id }, before: null, after: userEventFields(row) });
        return toUserResponse(row);
      });
    },

    async update(ctx: WriteContext, tenantId: string, id: string, input: UserUpdateInput): Promise<UserResponseData> {
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        const user = await getOrThrow(repos, tenantId, id);
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
        // The values the user already has: nothing changes, not even updated_at, and no event.
        if (Object.keys(changes).length === 0 && (input.ou_id === undefined || input.ou_id === user.ou_id)) return toUserResponse(user);
        changes.updated_at = timestamp;
        if (input.ou_id !== undefined && input.ou_id !== user.ou_id) {
          const target = input.ou_id === null ? undefined : await requireOu(repos, tenantId, input.ou_id);
          changes.ou_id = input.ou_id;
          await countUser(repos, tenantId, await ouOf(repos, tenantId, user.ou_id), -1);
          await countUser(repos, tenantId, target, 1);
        }
        await onUniqueViolation(() => repos.users.update(tenantId, id, changes), () => emailConflict(changes.email ?? user.email));
        const updated = await getOrThrow(repos, tenantId, id);
        const changed = changedFields(userEventFields(user), userEventFields(updated), USER_EVENT_FIELDS);
        if (changed) scope.record({ type: updated.ou_id !== user.ou_id ? 'user.moved' : 'user.updated', resource: { type: 'user', id }, ...changed });
        return toUserResponse(updated);
      });
    },

    async delete(ctx: WriteContext, tenantId: string, id: string): Promise<void> {
      await write(ctx, tenantId, async (scope) => {
        const { repos } = scope;
        const user = await getOrThrow(repos, tenantId, id);
        await scope.precondition(() => toUserResponse(user));
        await repos.users.deleteById(tenantId, id);
        await countUser(repos, tenantId, await ouOf(repos, tenantId, user.ou_id), -1);
        scope.record({ type: 'user.deleted', resource: { type: 'user', id }, before: userEventFields(user), after: null });
      });
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;

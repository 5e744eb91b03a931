import type { Store } from '../db/database.js';
import { onUniqueViolation } from '../db/database.js';
import { type Repositories, repositories } from '../db/repositories/index.js';
import type { UserRow } from '../db/repositories/user-repository.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { decodeAttributes, encodeAttributes } from './json-attributes.js';
import { type PageRequest, offsetOf, toPage } from './pagination.js';
import { notFoundIn, requireTenant } from './tenant-guard.js';

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
  store: Pick<Store, 'db' | 'transaction'>;
  now?: () => string;
}

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
export function createUserService({ store, now = () => new Date().toISOString() }: UserServiceDeps) {
  const read = repositories(store.db);

  async function getOrThrow(repos: Repositories, tenantId: string, id: string): Promise<UserRow> {
    const row = await repos.users.getById(tenantId, id);
    if (!row) throw await notFoundIn(repos, tenantId, userNotFound(id));
    return row;
  }

  async function requireOu(repos: Repositories, tenantId: string, ouId: string) {
    const ou = await repos.orgUnits.getById(tenantId, ouId);
    if (!ou) throw new NotFoundError('ou.not_found', `OU '${ouId}' does not exist in this tenant.`);
    return ou;
  }

  /**
   * Keeps the maintained counts in step with one user entering (`delta` 1) or leaving (-1) an
   * OU: its direct count, and the subtree count of the OU and each of its ancestors.
   */
  async function countUser(repos: Repositories, tenantId: string, ou: { id: string; id_path: string } | undefined, delta: 1 | -1) {
    if (!ou) return;
    await repos.orgUnits.adjustCounts(tenantId, ou.id, { users: delta });
    await repos.orgUnits.adjustSubtreeUserCounts(tenantId, ou.id_path, delta);
  }

  const ouOf = async (repos: Repositories, tenantId: string, ouId: string | null) =>
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
      await requireTenant(read, tenantId);
      // Like the OU list's parent_id: a filter naming no OU of the tenant is a 404, not an empty page.
      if (filter.ou_id !== undefined) await requireOu(read, tenantId, filter.ou_id);
      const repoFilter = { search: filter.search, ouId: filter.ou_id, status: filter.status };
      const [rows, total] = await Promise.all([
        read.users.list(tenantId, repoFilter, pageRequest.per_page, offsetOf(pageRequest)),
        read.users.count(tenantId, repoFilter),
      ]);
      return toPage(rows.map(toUserResponse), total, pageRequest);
    },

    async create(tenantId: string, input: UserCreateInput): Promise<UserResponseData> {
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        await requireTenant(repos, tenantId);
        const ouId = input.ou_id ?? null;
        const ou = ouId === null ? undefined : await requireOu(repos, tenantId, ouId);
        const timestamp = now();
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
        return toUserResponse(row);
      }, { lock: `tenant:${tenantId}` });
    },

    async update(tenantId: string, id: string, input: UserUpdateInput): Promise<UserResponseData> {
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        const user = await getOrThrow(repos, tenantId, id);
        const changes: Parameters<Repositories['users']['update']>[2] = { updated_at: now() };
        if (input.email != null) {
          changes.email = input.email.trim();
          changes.email_key = emailKey(input.email);
        }
        if (input.display_name !== undefined) {
          changes.display_name = input.display_name;
          changes.display_name_key = searchKey(input.display_name);
        }
        if (input.status !== undefined) changes.status = input.status;
        if (input.custom_attributes !== undefined) changes.custom_attributes = encodeAttributes(input.custom_attributes);
        if (input.ou_id !== undefined && input.ou_id !== user.ou_id) {
          const target = input.ou_id === null ? undefined : await requireOu(repos, tenantId, input.ou_id);
          changes.ou_id = input.ou_id;
          await countUser(repos, tenantId, await ouOf(repos, tenantId, user.ou_id), -1);
          await countUser(repos, tenantId, target, 1);
        }
        await onUniqueViolation(() => repos.users.update(tenantId, id, changes), () => emailConflict(changes.email ?? user.email));
        return toUserResponse(await getOrThrow(repos, tenantId, id));
      }, { lock: `tenant:${tenantId}` });
    },

    async delete(tenantId: string, id: string): Promise<void> {
      await store.transaction(async (trx) => {
        const repos = repositories(trx);
        const user = await getOrThrow(repos, tenantId, id);
        await repos.users.deleteById(tenantId, id);
        await countUser(repos, tenantId, await ouOf(repos, tenantId, user.ou_id), -1);
      }, { lock: `tenant:${tenantId}` });
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;

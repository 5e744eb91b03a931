import type { Store } from '../db/database.js';
import { onUniqueViolation } from '../db/database.js';
import { repositories } from '../db/repositories/index.js';
import type { TenantRow } from '../db/repositories/tenant-repository.js';
import { ConflictError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { type PageRequest, offsetOf, toPage } from './pagination.js';
import { tenantNotFound } from './tenant-guard.js';

export const SLUG_PATTERN = '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';
const slugRegExp = new RegExp(SLUG_PATTERN);

export interface TenantCreateInput {
  name: string;
  slug?: string;
}

/** A slug from a name: lower-case ASCII letters, digits and single hyphens. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

function checkSlug(slug: string, loc: string): string {
  const value = slug.toLowerCase();
  if (!slugRegExp.test(value)) {
    throw new RequestValidationError([
      {
        loc: ['body', loc],
        type: 'string_pattern_mismatch',
        msg: 'Slug must be 1-63 lower-case letters, digits or hyphens, starting and ending with a letter or digit',
      },
    ]);
  }
  return value;
}

const slugConflict = (slug: string) => new ConflictError('tenant.slug_conflict', `A tenant with slug '${slug}' already exists.`);

export interface TenantServiceDeps {
  store: Pick<Store, 'db' | 'transaction'>;
  now?: () => string;
}

/** Tenants: the one resource above the tenant boundary. */
export function createTenantService({ store, now = () => new Date().toISOString() }: TenantServiceDeps) {
  const read = repositories(store.db);

  async function getOrThrow(id: string): Promise<TenantRow> {
    const row = await read.tenants.getById(id);
    if (!row) throw tenantNotFound(id);
    return row;
  }

  return {
    get: getOrThrow,

    /** `onlyId`: the tenant a tenant-scoped caller may see. */
    async list(pageRequest: PageRequest, onlyId?: string) {
      const [rows, total] = await Promise.all([
        read.tenants.list(pageRequest.per_page, offsetOf(pageRequest), onlyId),
        read.tenants.count(onlyId),
      ]);
      return toPage(rows, total, pageRequest);
    },

    async create(input: TenantCreateInput): Promise<TenantRow> {
      const name = input.name.trim();
      const slug = input.slug !== undefined ? checkSlug(input.slug, 'slug') : checkSlug(slugify(name), 'name');
      const timestamp = now();
      const row: TenantRow = { id: newId('tnt'), name, slug, ou_count: 0, ou_version: 0, created_at: timestamp, updated_at: timestamp };
      await onUniqueViolation(() => read.tenants.insert(row), () => slugConflict(slug));
      return row;
    },

    async update(id: string, input: { name?: string; slug?: string }): Promise<TenantRow> {
      await getOrThrow(id);
      const changes: { name?: string; slug?: string; updated_at: string } = { updated_at: now() };
      if (input.name !== undefined) changes.name = input.name.trim();
      if (input.slug !== undefined) changes.slug = checkSlug(input.slug, 'slug');
      await onUniqueViolation(() => read.tenants.update(id, changes), () => slugConflict(changes.slug ?? ''));
      return getOrThrow(id);
    },

    /** Deletes the tenant with all its OUs and users, in one transaction. */
    async delete(id: string): Promise<void> {
      await store.transaction(async (trx) => {
        const repos = repositories(trx);
        if (!(await repos.tenants.exists(id))) throw tenantNotFound(id);
        await repos.tenants.deleteWithContents(id);
      }, { lock: `tenant:${id}` });
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;

import { pick } from '../db/repositories/index.js';
import type { TenantRow } from '../db/repositories/tenant-repository.js';
import { onUniqueViolation } from '../db/store-errors.js';
import type { Store } from '../db/store.js';
import { ConflictError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { type PageRequest, type PageWindow, readListing } from '../lib/pagination.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Principal } from './token-service.js';
import { changedFields, createUnitOfWork } from './unit-of-work.js';
import type { WriteContext } from './write-context.js';

/** A tenant as the API shows it (and as its ETag covers it). */
export interface TenantData {
  id: string;
  name: string;
  slug: string;
  /** What an external principal with no role assignment may do (docs/delegated-admin.md). */
  external_default: ExternalDefault;
  created_at: string;
  updated_at: string;
}

export type ExternalDefault = 'tenant' | 'none';

export function toTenantData(row: Omit<TenantRow, 'name_key'>): TenantData {
  return { id: row.id, name: row.name, slug: row.slug, external_default: row.external_default, created_at: row.created_at, updated_at: row.updated_at };
}

const TENANT_EVENT_FIELDS = ['name', 'slug', 'external_default'] as const;

export const SLUG_PATTERN = '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';
const slugRegExp = new RegExp(SLUG_PATTERN);

export interface TenantCreateInput {
  name: string;
  slug?: string;
  external_default?: ExternalDefault;
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
  /** Told after a write committed events (wakes feed readers). */
  onEventsCommitted?: (tenantId: string) => void;
  /** Told after external_default changed (the access cache of this instance forgets it). */
  onRolesChanged?: () => void;
}

/** Tenants: the one resource above the tenant boundary. */
export function createTenantService({ store, now = () => new Date().toISOString(), onEventsCommitted, onRolesChanged }: TenantServiceDeps) {
  const read = pick(store.db, ['tenants']);
  const write = createUnitOfWork(['tenants'], { store, now, onEventsCommitted });

  async function getOrThrow(repos: typeof read, id: string): Promise<TenantRow> {
    const row = await repos.tenants.getById(id);
    if (!row) throw tenantNotFound(id);
    return row;
  }

  return {
    async get(id: string): Promise<TenantData> {
      return toTenantData(await getOrThrow(read, id));
    },

    /** All tenants for a platform principal; a tenant's principal sees its own only. */
    async list(principal: Principal, pageRequest: PageRequest, search?: string | null) {
      const filter = { ...(principal.kind === 'tenant' ? { onlyId: principal.tenantId } : {}), ...(search ? { search } : {}) };
      const page = await readListing(pageRequest, {
        id: ['tenants', filter.onlyId ?? null, ...(filter.search === undefined ? [] : [filter.search])],
        total: await read.tenants.count(filter),
        keyOf: (row) => row.id,
        read: (window: PageWindow) => read.tenants.list(window, filter),
        forwardOnly: true,
      });
      return { ...page, items: page.items.map(toTenantData) };
    },

    async create(ctx: WriteContext, input: TenantCreateInput): Promise<TenantData> {
      const name = input.name.trim();
      const slug = input.slug !== undefined ? checkSlug(input.slug, 'slug') : checkSlug(slugify(name), 'name');
      const id = newId('tnt');
      return write(ctx, id, async (scope) => {
        const external_default = input.external_default ?? 'tenant';
        const row = { id, name, slug, ou_count: 0, ou_version: 0, external_default, created_at: scope.timestamp, updated_at: scope.timestamp };
        await onUniqueViolation(() => scope.repos.tenants.insert(row), () => slugConflict(slug));
        scope.record({ type: 'tenant.created', resource: { type: 'tenant', id }, before: null, after: { name, slug, external_default } });
        return toTenantData(row);
      });
    },

    async update(ctx: WriteContext, id: string, input: { name?: string; slug?: string; external_default?: ExternalDefault }): Promise<TenantData> {
      const result = await write(ctx, id, async (scope) => {
        const { repos } = scope;
        const tenant = await getOrThrow(repos, id);
        await scope.precondition(() => toTenantData(tenant));
        const changes: { name?: string; slug?: string; external_default?: ExternalDefault; updated_at?: string } = {};
        if (input.external_default !== undefined && input.external_default !== tenant.external_default) changes.external_default = input.external_default;
        if (input.name !== undefined && input.name.trim() !== tenant.name) changes.name = input.name.trim();
        const slug = input.slug === undefined ? tenant.slug : checkSlug(input.slug, 'slug');
        if (slug !== tenant.slug) changes.slug = slug;
        // The values the tenant already has: nothing changes, not even updated_at, and no event.
        if (Object.keys(changes).length === 0) return toTenantData(tenant);
        changes.updated_at = scope.timestamp;
        await onUniqueViolation(() => repos.tenants.update(id, changes), () => slugConflict(changes.slug ?? ''));
        const updated = await getOrThrow(repos, id);
        const changed = changedFields(tenant, updated, TENANT_EVENT_FIELDS);
        if (changed) scope.record({ type: 'tenant.updated', resource: { type: 'tenant', id }, ...changed });
        return toTenantData(updated);
      });
      if (input.external_default !== undefined) onRolesChanged?.();
      return result;
    },

    /**
     * Deletes the tenant with all its OUs, users and clients, in one transaction. One event,
     * tenant.deleted, stands for all of it; the tenant's feed stays readable until it expires.
     */
    async delete(ctx: WriteContext, id: string): Promise<void> {
      await write(ctx, id, async (scope) => {
        const tenant = await getOrThrow(scope.repos, id);
        await scope.precondition(() => toTenantData(tenant));
        await scope.repos.tenants.deleteWithContents(id);
        scope.record({ type: 'tenant.deleted', resource: { type: 'tenant', id }, before: { name: tenant.name, slug: tenant.slug }, after: null });
      });
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;

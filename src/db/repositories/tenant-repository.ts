import type { PageWindow } from '../../lib/pagination.js';
import { type Insertable, type Selectable, sql } from 'kysely';
import { nameKey } from '../../lib/name-key.js';
import { escapeLike, seqBound } from '../sql.js';
import type { Executor } from '../store.js';
import type { TenantTable } from '../schema.js';

export type TenantRow = Selectable<TenantTable>;

export interface TenantFilter {
  /** This tenant only (a tenant principal sees its own). */
  onlyId?: string;
  /** A case-insensitive substring of the name or the slug; % _ and \ match literally. */
  search?: string;
}

/** All SQL on `tenants`, the one table that is not itself tenant-scoped. */
export function createTenantRepository(db: Executor) {
  const filtered = ({ onlyId, search }: TenantFilter) => {
    let query = db.selectFrom('tenants');
    if (onlyId !== undefined) query = query.where('id', '=', onlyId);
    if (search !== undefined && search !== '') {
      const pattern = `%${escapeLike(nameKey(search))}%`;
      query = query.where(sql<boolean>`(name_key LIKE ${pattern} ESCAPE '\\' OR slug LIKE ${pattern} ESCAPE '\\')`);
    }
    return query;
  };
  return {
    async getById(id: string): Promise<TenantRow | undefined> {
      return db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    },

    /** The tenant with the last seq of its change feed (0 before its first event), in one read. */
    async getWithEventSeq(id: string): Promise<(TenantRow & { event_seq: number }) | undefined> {
      const row = await db
        .selectFrom('tenants')
        .selectAll('tenants')
        .select(seqBound(sql.ref('tenants.id'), 'max').as('last_seq'))
        .where('tenants.id', '=', id)
        .executeTakeFirst();
      if (!row) return undefined;
      const { last_seq, ...tenant } = row;
      return { ...tenant, event_seq: Number(last_seq ?? 0) };
    },

    async exists(id: string): Promise<boolean> {
      const row = await db.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst();
      return row !== undefined;
    },

    /** `filter.onlyId` restricts the list to one tenant (a tenant principal sees only its own). */
    async list(window: PageWindow, filter: TenantFilter = {}): Promise<TenantRow[]> {
      let query = filtered(filter).selectAll();
      if (window.after !== undefined) query = query.where('id', '>', window.after);
      return query.orderBy('id').limit(window.limit).offset(window.offset).execute();
    },

    async count(filter: TenantFilter = {}): Promise<number> {
      const row = await filtered(filter)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Inserts a tenant; its name's search key is derived here. */
    async insert(row: Omit<Insertable<TenantTable>, 'name_key'>): Promise<void> {
      await db.insertInto('tenants').values({ ...row, name_key: nameKey(row.name) }).execute();
    },

    async update(id: string, changes: Partial<Pick<TenantRow, 'name' | 'slug' | 'external_default' | 'updated_at'>>): Promise<void> {
      const named = changes.name === undefined ? changes : { ...changes, name_key: nameKey(changes.name) };
      await db.updateTable('tenants').set(named).where('id', '=', id).execute();
    },

    /** Records a write to the tenant's OUs: raises its OU version, and adds `ouDelta` to its OU count. */
    async recordOuWrite(id: string, ouDelta = 0): Promise<void> {
      await db
        .updateTable('tenants')
        .set((eb) => ({ ou_count: eb('ou_count', '+', ouDelta), ou_version: eb('ou_version', '+', 1) }))
        .where('id', '=', id)
        .execute();
    },

    /** Deletes the tenant and everything in it; call inside a transaction. */
    async deleteWithContents(id: string): Promise<void> {
      await db.deleteFrom('role_assignments').where('tenant_id', '=', id).execute();
      // Its webhooks go with it: nothing is delivered for a tenant that no longer exists.
      // Subscriptions before their logs: the order the dispatcher locks them in.
      await db.deleteFrom('webhooks').where('tenant_id', '=', id).execute();
      await db.deleteFrom('webhook_deliveries').where('tenant_id', '=', id).execute();
      await db.deleteFrom('import_jobs').where('tenant_id', '=', id).execute();
      await db.deleteFrom('users').where('tenant_id', '=', id).execute();
      await db.deleteFrom('api_clients').where('tenant_id', '=', id).execute();
      // Children reference parents in the same table; that foreign key is checked at commit.
      await db.deleteFrom('org_units').where('tenant_id', '=', id).execute();
      await db.deleteFrom('tenants').where('id', '=', id).execute();
    },
  };
}

export type TenantRepository = ReturnType<typeof createTenantRepository>;

import { type CompiledQuery, type SelectQueryBuilder, type Selectable, sql } from 'kysely';
import { dialectOf, escapeLike, inAnySubtree, inSubtree, seqBound } from '../sql.js';
import type { Executor } from '../store.js';
import type { PageWindow } from '../../lib/pagination.js';
import type { Database, UserTable } from '../schema.js';

export type UserRow = Selectable<UserTable>;

export interface UserListFilter {
  search?: string;
  ouId?: string;
  status?: UserRow['status'];
  /** Only users placed in the subtrees at these id_paths (a scoped principal's); undefined: all. */
  withinSubtrees?: readonly string[];
}

/** How a page of users is read (listInOu, listInSubtree, listByIds). */
export interface PageReadOptions {
  /**
   * Also select, on each row as `last_seq`, the tenant's last event seq, read by the same
   * statement and so of the same snapshot as the rows: a page read outside a transaction says
   * which version of the tenant it is of (org-unit-user-service.ts). An empty page says nothing.
   */
  withLastSeq?: boolean;
}

/**
 * What a page of an OU's users reads of each user: the fields of its answer (toUserResponse),
 * not the lower-cased keys or the tenant id, which made a quarter of a page's fields to parse.
 */
export const USER_PAGE_COLUMNS = ['id', 'email', 'display_name', 'ou_id', 'status', 'custom_attributes', 'external_id', 'created_at', 'updated_at'] as const;
const USER_PAGE_COLUMNS_OF_U = USER_PAGE_COLUMNS.map((column) => `u.${column}` as const);

/** A user as a page of an OU's users reads it. */
export type UserPageRow = Pick<UserRow, (typeof USER_PAGE_COLUMNS)[number]>;

/** A row of a page read with `withLastSeq`. */
export type StampedUserRow = UserPageRow & { last_seq?: number | string | null };

/** Most rows a page of placed users skips by reading them on PostgreSQL (beyond, it skips index entries only). */
const DIRECT_OFFSET_MAX = 1_000;

/** All SQL on `users`. Every method is scoped by tenant first. */
export function createUserRepository(db: Executor) {
  const listQuery = (tenantId: string, filter: UserListFilter) => {
    let query = db.selectFrom('users').where('tenant_id', '=', tenantId);
    if (filter.ouId !== undefined) query = query.where('ou_id', '=', filter.ouId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const within = filter.withinSubtrees;
    if (within !== undefined) {
      query = query.where('ou_id', 'in', (eb) =>
        eb.selectFrom('org_units').select('id').where('tenant_id', '=', tenantId).where(inAnySubtree('id_path', within)),
      );
    }
    if (filter.search !== undefined && filter.search !== '') {
      const pattern = `%${escapeLike(filter.search.normalize('NFC').toLowerCase())}%`;
      query = query.where(sql<boolean>`(email_key LIKE ${pattern} ESCAPE '\\' OR display_name_key LIKE ${pattern} ESCAPE '\\')`);
    }
    return query;
  };

  // Users whose OU lies in the subtree rooted at `idPath`. The OU range is the driving side.
  const usersOfSubtree = (tenantId: string, idPath: string) =>
    db
      .selectFrom('org_units as o')
      .innerJoin('users as u', (join) => join.onRef('u.tenant_id', '=', 'o.tenant_id').onRef('u.ou_id', '=', 'o.id'))
      .where('o.tenant_id', '=', tenantId)
      .where(inSubtree('o.id_path', idPath));
  const direction = (window: PageWindow) => (window.descending ? 'desc' : 'asc');
  /** `query`'s rows, with the tenant's last event seq on each when `options` asks (PageReadOptions). */
  const page = <Q extends SelectQueryBuilder<Database, any, UserPageRow>>(query: Q, tenantId: string, options: PageReadOptions): Promise<StampedUserRow[]> =>
    (options.withLastSeq ? query.select(seqBound(tenantId, 'max').as('last_seq')) : query).execute() as Promise<StampedUserRow[]>;
  /** Keys `step`, 2 × `step`, … (1-based) of the ids `ids` selects, in id order: a rank index. */
  const everyNth = (ids: SelectQueryBuilder<Database, any, { id: string }>, idColumn: 'id' | 'u.id', step: number): CompiledQuery<{ id: string }> => {
    const numbered = ids.select(sql<number>`row_number() over (order by ${sql.ref(idColumn)})`.as('rn'));
    return db.selectFrom(numbered.as('n')).select('n.id').where(sql<number>`rn % ${step}`, '=', 0).orderBy('n.id').compile();
  };
  const ids = async (query: CompiledQuery<{ id: string }>) => (await db.executeQuery(query)).rows.map((row) => row.id);
  /** The statements of the rank index keys below, compiled: run here, or read aside (Store.readAside). */
  const rankKeyQueries = {
    inOu: (tenantId: string, ouId: string, step: number) =>
      everyNth(db.selectFrom('users').select('id').where('tenant_id', '=', tenantId).where('ou_id', '=', ouId), 'id', step),
    placed: (tenantId: string, step: number) =>
      everyNth(db.selectFrom('users').select('id').where('tenant_id', '=', tenantId).where('ou_id', 'is not', null), 'id', step),
    inSubtree: (tenantId: string, idPath: string, step: number) => everyNth(usersOfSubtree(tenantId, idPath).select('u.id as id'), 'u.id', step),
  };

  return {
    async getById(tenantId: string, id: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    },

    async getByExternalId(tenantId: string, externalId: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('external_id', '=', externalId).executeTakeFirst();
    },

    /** Users by id (forward windows only). */
    async list(tenantId: string, filter: UserListFilter, window: PageWindow): Promise<UserRow[]> {
      const query = listQuery(tenantId, filter);
      return (window.after === undefined ? query : query.where('id', '>', window.after)).selectAll().orderBy('id').limit(window.limit).offset(window.offset).execute();
    },

    /** The users with these ids, by id. */
    async listByIds(tenantId: string, ids: readonly string[], options: PageReadOptions = {}): Promise<StampedUserRow[]> {
      if (ids.length === 0) return [];
      return page(db.selectFrom('users').select(USER_PAGE_COLUMNS).where('tenant_id', '=', tenantId).where('id', 'in', ids).orderBy('id'), tenantId, options);
    },

    async count(tenantId: string, filter: UserListFilter): Promise<number> {
      const row = await listQuery(tenantId, filter).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Direct users of an OU, by id: one range of `users_ou_ix`. */
    async listInOu(tenantId: string, ouId: string, window: PageWindow, options: PageReadOptions = {}): Promise<StampedUserRow[]> {
      const query = db.selectFrom('users').select(USER_PAGE_COLUMNS).where('tenant_id', '=', tenantId).where('ou_id', '=', ouId);
      return page((window.after === undefined ? query : query.where('id', '>', window.after)).orderBy('id', direction(window)).limit(window.limit).offset(window.offset), tenantId, options);
    },

    /**
     * Users of the subtree at `idPath`, by id. `holdsEveryPlacedUser`: the caller read, in the
     * snapshot it reads this in, that the subtree holds every user of the tenant that has an OU
     * (org-unit-user-service.ts compares the maintained counts), so the page is the tenant's placed
     * users in id order, read from `users_id_ou_ix` without the OU range (an offset of 10^6 costs
     * 0.1 s; joining from the OU range sorts 10^6 rows instead, and joining the page back to the
     * range doubled its cost on PostgreSQL).
     */
    async listInSubtree(tenantId: string, idPath: string, window: PageWindow, holdsEveryPlacedUser: boolean, options: PageReadOptions = {}): Promise<StampedUserRow[]> {
      if (holdsEveryPlacedUser) {
        const placed = db.selectFrom('users').where('tenant_id', '=', tenantId).where('ou_id', 'is not', null);
        const from = window.after === undefined ? placed : placed.where('id', '>', window.after);
        // PostgreSQL: a short skip (a rank index's seek leaves less than its step) reads the rows
        // directly. SQLite would walk its primary key and read each skipped row of the table.
        if (window.offset <= DIRECT_OFFSET_MAX && dialectOf(db) === 'postgres') return page(from.select(USER_PAGE_COLUMNS).orderBy('id', direction(window)).limit(window.limit).offset(window.offset), tenantId, options);
        // Otherwise the page's ids come from the covering index first, so that the skipped rows
        // never touch the table, then those rows.
        const pageIds = from.select('id').orderBy('id', direction(window)).limit(window.limit).offset(window.offset);
        return page(db.selectFrom('users').select(USER_PAGE_COLUMNS).where('tenant_id', '=', tenantId).where('id', 'in', pageIds).orderBy('id', direction(window)), tenantId, options);
      }
      const query = usersOfSubtree(tenantId, idPath);
      return page((window.after === undefined ? query : query.where('u.id', '>', window.after)).select(USER_PAGE_COLUMNS_OF_U).orderBy('u.id', direction(window)).limit(window.limit).offset(window.offset), tenantId, options);
    },

    rankKeyQueries,

    /** Rank index keys (every `step`-th id) of an OU's direct users. */
    async rankKeysInOu(tenantId: string, ouId: string, step: number): Promise<string[]> {
      return ids(rankKeyQueries.inOu(tenantId, ouId, step));
    },

    /** Rank index keys of every placed user of the tenant (a subtree that holds them all). */
    async rankKeysPlaced(tenantId: string, step: number): Promise<string[]> {
      return ids(rankKeyQueries.placed(tenantId, step));
    },

    /** Rank index keys of the users of the subtree at `idPath`. */
    async rankKeysInSubtree(tenantId: string, idPath: string, step: number): Promise<string[]> {
      return ids(rankKeyQueries.inSubtree(tenantId, idPath, step));
    },

    /** Every id of the users of the subtree at `idPath`, in no particular order. */
    async idsInSubtree(tenantId: string, idPath: string): Promise<string[]> {
      const rows = await usersOfSubtree(tenantId, idPath).select('u.id').execute();
      return rows.map((row) => row.id);
    },

    async insert(row: UserRow): Promise<void> {
      await db.insertInto('users').values(row).execute();
    },

    /** Bulk load; the caller keeps the OUs' maintained counts in step (the benchmark seeder). */
    async insertMany(rows: UserRow[]): Promise<void> {
      if (rows.length > 0) await db.insertInto('users').values(rows).execute();
    },

    async update(tenantId: string, id: string, changes: Partial<Omit<UserRow, 'tenant_id' | 'id' | 'created_at'>>): Promise<void> {
      await db.updateTable('users').set(changes).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    async deleteById(tenantId: string, id: string): Promise<void> {
      await db.deleteFrom('users').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    /** Moves every direct user of `fromOuId` to `toOuId` (null: no OU). */
    async moveAllFromOu(tenantId: string, fromOuId: string, toOuId: string | null, updatedAt: string): Promise<void> {
      await db
        .updateTable('users')
        .set({ ou_id: toOuId, updated_at: updatedAt })
        .where('tenant_id', '=', tenantId)
        .where('ou_id', '=', fromOuId)
        .execute();
    },

    /** Moves every user of the subtree rooted at `idPath` to `toOuId` (null: no OU). */
    async moveAllFromSubtree(tenantId: string, idPath: string, toOuId: string | null, updatedAt: string): Promise<void> {
      await db
        .updateTable('users')
        .set({ ou_id: toOuId, updated_at: updatedAt })
        .where('tenant_id', '=', tenantId)
        .where('ou_id', 'in', (eb) =>
          eb
            .selectFrom('org_units')
            .select('id')
            .where('tenant_id', '=', tenantId)
            .where(inSubtree('id_path', idPath)),
        )
        .execute();
    },

    /** Ids of the direct users of an OU, by id. */
    async listIdsInOu(tenantId: string, ouId: string): Promise<string[]> {
      const rows = await db.selectFrom('users').select('id').where('tenant_id', '=', tenantId).where('ou_id', '=', ouId).orderBy('id').execute();
      return rows.map((r) => r.id);
    },

    /**
     * Each user of the subtree at `idPath` with its OU, in no particular order: an ORDER BY u.id
     * let SQLite's planner walk all the tenant's users in id order instead of the subtree's range.
     */
    async listPlacementsInSubtree(tenantId: string, idPath: string): Promise<{ id: string; ou_id: string; id_path: string }[]> {
      return usersOfSubtree(tenantId, idPath).select(['u.id', 'o.id as ou_id', 'o.id_path']).execute();
    },

    /** Direct user count per OU id, computed afresh (for the invariant check). */
    async countByOu(tenantId: string): Promise<Map<string, number>> {
      const rows = await db
        .selectFrom('users')
        .select(['ou_id', (eb) => eb.fn.countAll().as('n')])
        .where('tenant_id', '=', tenantId)
        .where('ou_id', 'is not', null)
        .groupBy('ou_id')
        .execute();
      return new Map(rows.map((r) => [r.ou_id as string, Number(r.n)]));
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;

import { type CompiledQuery, type Selectable, sql } from 'kysely';
import { compiledOnce, dialectOf, escapeLike, inAnyPathSubtree, inAnySubtree, inSubtree, seqBound } from '../sql.js';
import type { Executor, LockedStatements } from '../store.js';
import type { PageWindow } from '../../lib/pagination.js';
import type { OrgUnitTable } from '../schema.js';
import { EVENT_COLUMNS, type NewEventRow, createEventRepository } from './event-repository.js';

export type OrgUnitRow = Selectable<OrgUnitTable>;
export type NewOrgUnitRow = Omit<OrgUnitRow, 'child_ou_count' | 'user_count' | 'subtree_user_count' | 'children_version'>;

export interface OrgUnitListFilter {
  search?: string;
  /** Direct children of this OU only. */
  parentId?: string;
  /**
   * Only these OUs: 'tenant', the tenant's roots (no parent); a list of ids, the roots of a
   * scoped principal's subtrees (top_level=true).
   */
  roots?: 'tenant' | readonly string[];
  /** Only OUs in the subtrees whose roots have these paths (a scoped principal's); undefined: all. */
  withinPaths?: readonly string[];
}

/** What a page of the OU list reads of each OU. */
const ORG_UNIT_LIST_COLUMNS = ['id', 'name', 'path', 'parent_id', 'user_count', 'child_ou_count', 'subtree_user_count'] as const satisfies readonly (keyof OrgUnitRow)[];
export type OrgUnitListRow = Pick<OrgUnitRow, (typeof ORG_UNIT_LIST_COLUMNS)[number]>;

/** A page of the OU list, and the tenant's bookkeeping in the same snapshot. */
export interface ListedWithTenant {
  tenant: { ou_count: number; ou_version: number; event_seq: number };
  rows: OrgUnitListRow[];
}

export interface ChildSummary {
  id: string;
  name: string;
  path: string;
  user_count: number;
}

/** What the tree needs of an OU; its path follows from its ancestors' names. */
export interface TreeRow {
  id: string;
  parent_id: string | null;
  name: string;
  name_key: string;
}

/** Every column of `org_units`, named (a prepared statement must not select `*`: db/sql.ts). */
const ORG_UNIT_COLUMNS = [
  'tenant_id',
  'id',
  'parent_id',
  'name',
  'name_key',
  'description',
  'custom_attributes',
  'path',
  'id_path',
  'depth',
  'child_ou_count',
  'user_count',
  'subtree_user_count',
  'children_version',
  'external_id',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof OrgUnitRow)[];

/**
 * An OU by primary key, compiled once: every OU request reads one, and building and compiling
 * the query through Kysely took most of its 21 µs on SQLite. Batched: the reads of one
 * event-loop turn share one read transaction on SQLite (sqlite-store.ts), one statement on
 * PostgreSQL (postgres-batched-reads.ts).
 */
const selectById = compiledOnce(
  ['tenant_id', 'id'],
  (db, values) => db.selectFrom('org_units').select(ORG_UNIT_COLUMNS).where('tenant_id', '=', values.tenant_id).where('id', '=', values.id),
  { batched: true },
);

/**
 * An OU by primary key with what paging its users needs, in the same statement (compiled once):
 * the tenant's last event seq, the version of their rank indexes and id lists; and, `placed`, the
 * count of every placed user of the tenant (the sum over its top OUs), which tells whether the
 * OU's subtree holds them all.
 */
const selectForUserListing = (placed: boolean) =>
  compiledOnce(['tenant_id', 'id'], (db, values) =>
    db
      .selectFrom('org_units')
      .select(ORG_UNIT_COLUMNS)
      .select([
        seqBound(values.tenant_id, 'max').as('last_seq'),
        (placed
          ? sql<number | string | null>`(select sum(subtree_user_count) from org_units top where top.tenant_id = ${values.tenant_id} and top.parent_id is null)`
          : sql<null>`null`
        ).as('placed_users'),
      ])
      .where('tenant_id', '=', values.tenant_id)
      .where('id', '=', values.id),
  );
const selectForUserListingPlaced = selectForUserListing(true);
const selectForUserListingDirect = selectForUserListing(false);

/**
 * A page of the whole tenant's OU list and the tenant's OU count, OU version and last event seq
 * (listWholeWithTenant), compiled once for each way it is read: forwards, forwards after a rank
 * index's key, backwards. Prepared on PostgreSQL, which planned it anew on every page (130 to
 * 200 us of its CPU, EXPLAIN ANALYZE on the benchmark store).
 * The seq's subquery takes the tenant's id as a value, not `t.id`: a subquery of no outer column
 * is read once (an InitPlan); one of `t.id` was read again for each of the page's rows (a
 * SubPlan, 100 loops: 340 against 100 us to execute a page of 100).
 */
const selectWholePageWith = (how: 'forwards' | 'after' | 'backwards') =>
  compiledOnce(how === 'after' ? ['tenant_id', 'after', 'limit', 'offset'] : ['tenant_id', 'limit', 'offset'], (db, values) => {
    const order = how === 'backwards' ? 'desc' : 'asc';
    let page = db.selectFrom('org_units').select(ORG_UNIT_LIST_COLUMNS).where('tenant_id', '=', values.tenant_id);
    if (how === 'after') page = page.where('path', '>', values.after);
    return db
      .selectFrom('tenants as t')
      .leftJoin(page.orderBy('path', order).limit(sql<number>`${values.limit}`).offset(sql<number>`${values.offset}`).as('p'), (join) => join.onTrue())
      .select(['t.ou_count', 't.ou_version', seqBound(values.tenant_id, 'max').as('last_seq'), 'p.id', 'p.name', 'p.path', 'p.parent_id', 'p.user_count', 'p.child_ou_count', 'p.subtree_user_count'])
      .where('t.id', '=', values.tenant_id)
      .orderBy('p.path', order);
  });
const selectWholePage = selectWholePageWith('forwards');
const selectWholePageAfter = selectWholePageWith('after');
const selectWholePageBackwards = selectWholePageWith('backwards');

/** An OU as its users' listing reads it (getForUserListing). */
export type OrgUnitForUserListing = OrgUnitRow & { event_seq: number; placed_user_count: number | null };

function characterCount(text: string): number {
  return [...text].length;
}

/** Ids on an id_path, root first: `/a/b/c/` → a, b, c. */
export function idsOnPath(idPath: string): string[] {
  return idPath.split('/').filter((id) => id !== '');
}

/** All SQL on `org_units`. Every method is scoped by tenant first. */
export function createOrgUnitRepository(db: Executor) {
  const subtreeRows = (tenantId: string, idPath: string) =>
    db
      .selectFrom('org_units')
      .where('tenant_id', '=', tenantId)
      .where(inSubtree('id_path', idPath));

  const listQuery = (tenantId: string, filter: OrgUnitListFilter) => {
    let query = db.selectFrom('org_units').where('tenant_id', '=', tenantId);
    if (filter.parentId !== undefined) query = query.where('parent_id', '=', filter.parentId);
    if (filter.roots === 'tenant') query = query.where('parent_id', 'is', null);
    else if (filter.roots !== undefined) query = filter.roots.length === 0 ? query.where(sql<boolean>`1 = 0`) : query.where('id', 'in', filter.roots);
    // On path, the column the list is ordered by: the filter is a range of the same index.
    if (filter.withinPaths !== undefined) query = query.where(inAnyPathSubtree('path', filter.withinPaths));
    if (filter.search !== undefined && filter.search !== '') {
      const pattern = `%${escapeLike(filter.search.normalize('NFC').toLowerCase())}%`;
      query = query.where(sql<boolean>`name_key LIKE ${pattern} ESCAPE '\\'`);
    }
    return query;
  };

  /** Users placed in any OU of the tenant: the top OUs' subtree counts (a tenant has few). */
  const placedUserCount = async (tenantId: string): Promise<number> => {
    const row = await db
      .selectFrom('org_units')
      .select((eb) => eb.fn.sum<number>('subtree_user_count').as('n'))
      .where('tenant_id', '=', tenantId)
      .where('parent_id', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n ?? 0);
  };

  const pageQuery = (tenantId: string, filter: OrgUnitListFilter, window: PageWindow) => {
    const query = listQuery(tenantId, filter);
    return (window.after === undefined ? query : query.where('path', '>', window.after))
      .select(ORG_UNIT_LIST_COLUMNS)
      .orderBy('path', window.descending ? 'desc' : 'asc')
      .limit(window.limit)
      .offset(window.offset);
  };

  return {
    async getById(tenantId: string, id: string): Promise<OrgUnitRow | undefined> {
      const [row] = await selectById(db, { tenant_id: tenantId, id });
      return row as OrgUnitRow | undefined;
    },

    /**
     * The OU, the tenant's last event seq and, with `placed`, the count of every placed user of
     * the tenant; on PostgreSQL in one statement, one round trip where they were three.
     * `oneStatement`: on SQLite too, for a caller outside a transaction, whose values must then
     * be of one snapshot.
     */
    async getForUserListing(tenantId: string, id: string, placed: boolean, oneStatement = false): Promise<OrgUnitForUserListing | undefined> {
      // SQLite runs no round trips: its three reads, the OU's batched (sqlite-store.ts), cost
      // less than the one statement (A/B: 702 against 894 us of server CPU a page of users).
      if (dialectOf(db) === 'sqlite' && !oneStatement) {
        const [ou] = (await selectById(db, { tenant_id: tenantId, id })) as OrgUnitRow[];
        if (ou === undefined) return undefined;
        const eventSeq = await createEventRepository(db).lastSeq(tenantId);
        return { ...ou, event_seq: eventSeq, placed_user_count: placed ? await placedUserCount(tenantId) : null };
      }
      const [row] = await (placed ? selectForUserListingPlaced : selectForUserListingDirect)(db, { tenant_id: tenantId, id });
      if (row === undefined) return undefined;
      const { last_seq, placed_users, ...ou } = row as OrgUnitRow & { last_seq: number | string | null; placed_users: number | string | null };
      return { ...ou, event_seq: Number(last_seq ?? 0), placed_user_count: placed ? Number(placed_users ?? 0) : null };
    },

    /** The id_path and path of each of `ids` that exists (the roots of a scoped principal's subtrees). */
    async getIdPaths(tenantId: string, ids: readonly string[]): Promise<{ id: string; id_path: string; path: string }[]> {
      if (ids.length === 0) return [];
      return db.selectFrom('org_units').select(['id', 'id_path', 'path']).where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
    },

    /**
     * A page of the listing, ordered by path, which is unique within a tenant (sibling names are):
     * an index order, no sort. Only the columns a list item shows (a whole row is three times the
     * bytes to send and parse).
     */
    async list(tenantId: string, filter: OrgUnitListFilter, window: PageWindow): Promise<OrgUnitListRow[]> {
      return pageQuery(tenantId, filter, window).execute();
    },

    /**
     * A page of the whole tenant's list with what pages it, the tenant's OU count and OU version
     * and its last event seq, in one statement, so in one snapshot with no transaction around it
     * (one round trip instead of four on PostgreSQL). Undefined when the tenant does not exist.
     */
    async listWholeWithTenant(tenantId: string, window: PageWindow): Promise<ListedWithTenant | undefined> {
      const select = window.descending ? selectWholePageBackwards : window.after === undefined ? selectWholePage : selectWholePageAfter;
      const rows = await select(db, { tenant_id: tenantId, after: window.after, limit: window.limit, offset: window.offset });
      if (rows.length === 0) return undefined;
      const { ou_count, ou_version, last_seq } = rows[0];
      const tenant = { ou_count, ou_version, event_seq: Number(last_seq ?? 0) };
      // A tenant with no OU on the page is one row of nulls (the left join).
      if (rows[0].id === null) return { tenant, rows: [] };
      return { tenant, rows: rows.map((row) => ({ id: row.id!, name: row.name!, path: row.path!, parent_id: row.parent_id ?? null, user_count: row.user_count!, child_ou_count: row.child_ou_count!, subtree_user_count: row.subtree_user_count! })) };
    },

    /**
     * The OUs `ids` (an id_path's, typically), each with its position among its siblings: how
     * many OUs of the same parent, or with no parent for a top-level OU, sort before it by path,
     * as the list pages them. One index range counted per OU (org_units_parent_path_ix).
     */
    async withSiblingPositions(tenantId: string, ids: readonly string[]): Promise<(OrgUnitListRow & { id_path: string; position: number })[]> {
      if (ids.length === 0) return [];
      const rows = await db
        .selectFrom('org_units as o')
        .select([...ORG_UNIT_LIST_COLUMNS.map((column) => `o.${column}` as const), 'o.id_path'])
        .select(
          sql<number | string>`case when o.parent_id is null
            then (select count(*) from org_units s where s.tenant_id = o.tenant_id and s.parent_id is null and s.path < o.path)
            else (select count(*) from org_units s where s.tenant_id = o.tenant_id and s.parent_id = o.parent_id and s.path < o.path) end`.as('position'),
        )
        .where('o.tenant_id', '=', tenantId)
        .where('o.id', 'in', ids)
        .execute();
      return rows.map((row) => ({ ...row, position: Number(row.position) }));
    },

    /** The paths of the listing's rows `step`, 2 × `step`, … (1-based, in path order): its rank index. */
    async rankKeys(tenantId: string, filter: OrgUnitListFilter, step: number): Promise<string[]> {
      const numbered = listQuery(tenantId, filter).select(['path', sql<number>`row_number() over (order by path)`.as('rn')]);
      const rows = await db.selectFrom(numbered.as('n')).select('path').where(sql<number>`rn % ${step}`, '=', 0).orderBy('path').execute();
      return rows.map((row) => row.path);
    },

    async count(tenantId: string, filter: OrgUnitListFilter): Promise<number> {
      const row = await listQuery(tenantId, filter).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async listChildren(tenantId: string, parentId: string): Promise<ChildSummary[]> {
      return db
        .selectFrom('org_units')
        .select(['id', 'name', 'path', 'user_count'])
        .where('tenant_id', '=', tenantId)
        .where('parent_id', '=', parentId)
        .orderBy('name_key')
        .orderBy('id')
        .execute();
    },

    /**
     * Every OU of the tenant (or of the subtrees at `withinIdPaths`), in no particular order: one
     * query for the whole tree (sorting is the caller's).
     */
    async listForTree(tenantId: string, withinIdPaths?: readonly string[]): Promise<TreeRow[]> {
      const query = db.selectFrom('org_units').select(['id', 'parent_id', 'name', 'name_key']).where('tenant_id', '=', tenantId);
      return (withinIdPaths === undefined ? query : query.where(inAnySubtree('id_path', withinIdPaths))).execute();
    },

    /** Sibling of `parentId` (null: a root) whose name matches `nameKey`, other than `exceptId`. */
    async findSiblingByName(tenantId: string, parentId: string | null, nameKey: string, exceptId?: string) {
      let query = db
        .selectFrom('org_units')
        .select(['id', 'name'])
        .where('tenant_id', '=', tenantId)
        .where('parent_id', parentId === null ? 'is' : '=', parentId)
        .where('name_key', '=', nameKey);
      if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
      return query.executeTakeFirst();
    },

    /** Names of `parentId`'s children that clash with another child of `targetParentId` (`parentId` itself excluded: it is going away). */
    async findChildNameClashes(tenantId: string, parentId: string, targetParentId: string | null) {
      return db
        .selectFrom('org_units as c')
        .innerJoin('org_units as s', (join) =>
          join.onRef('s.tenant_id', '=', 'c.tenant_id').onRef('s.name_key', '=', 'c.name_key'),
        )
        .select('c.name')
        .where('c.tenant_id', '=', tenantId)
        .where('c.parent_id', '=', parentId)
        .where('s.parent_id', targetParentId === null ? 'is' : '=', targetParentId)
        .where('s.id', '!=', parentId)
        .orderBy('c.name_key')
        .execute()
        .then((rows) => rows.map((r) => r.name));
    },

    async maxDepthInSubtree(tenantId: string, idPath: string): Promise<number> {
      const row = await subtreeRows(tenantId, idPath).select((eb) => eb.fn.max('depth').as('d')).executeTakeFirstOrThrow();
      return Number(row.d);
    },

    async getByExternalId(tenantId: string, externalId: string): Promise<OrgUnitRow | undefined> {
      return db.selectFrom('org_units').select(ORG_UNIT_COLUMNS).where('tenant_id', '=', tenantId).where('external_id', '=', externalId).executeTakeFirst();
    },

    async insert(row: NewOrgUnitRow): Promise<void> {
      await db.insertInto('org_units').values(row).execute();
    },

    /** Bulk load with every maintained count already computed (the benchmark seeder); parents first. */
    async insertMany(rows: OrgUnitRow[]): Promise<void> {
      if (rows.length > 0) await db.insertInto('org_units').values(rows).execute();
    },

    async update(
      tenantId: string,
      id: string,
      changes: Partial<Pick<OrgUnitRow, 'parent_id' | 'name' | 'name_key' | 'description' | 'custom_attributes' | 'external_id' | 'updated_at'>>,
    ): Promise<void> {
      await db.updateTable('org_units').set(changes).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    /**
     * Counts one more child OU on `parentId` and returns the parent as it now is (undefined if
     * the tenant has no such OU): the parent's lookup and its count in one statement.
     */
    async addChildTo(tenantId: string, parentId: string): Promise<OrgUnitRow | undefined> {
      return db
        .updateTable('org_units')
        .set((eb) => ({ child_ou_count: eb('child_ou_count', '+', 1), children_version: eb('children_version', '+', 1) }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', parentId)
        .returningAll()
        .executeTakeFirst();
    },

    /**
     * The whole of a create, for Store.lockedStatement, which runs it under the tenant's lock: the
     * parent's child count raised, the OU inserted, the tenant's OU bookkeeping and the OU's event
     * appended after the tenant's last. Each part happens only if the parent still has the id_path
     * and path the caller read (the OU's path, id_path and depth, and the caller's scope check,
     * follow from them), or, for an OU at the top, if the tenant exists. Its last statement returns
     * the event's seq; no row: nothing was written. PostgreSQL: one statement (a data-modifying
     * WITH). SQLite, which has none: four, each returning a row, the guard first.
     */
    insertWithEvent(row: NewOrgUnitRow, parent: Pick<OrgUnitRow, 'id' | 'id_path' | 'path'> | null, event: NewEventRow): LockedStatements<{ seq: string | number }> {
      const tenantId = row.tenant_id;
      const guard = parent
        ? sql`update org_units set child_ou_count = child_ou_count + 1, children_version = children_version + 1
            where tenant_id = ${tenantId} and id = ${parent.id} and id_path = ${parent.id_path} and path = ${parent.path} returning id`
        : sql`select id from tenants where id = ${tenantId}`;
      const ouColumns = Object.keys(row) as (keyof NewOrgUnitRow)[];
      const list = (columns: readonly string[]) => sql.join(columns.map((column) => sql.ref(column)));
      const values = <R extends object>(source: R, columns: readonly (keyof R)[]) => sql.join(columns.map((column) => sql`${source[column]}`));
      const eventColumns = list([...EVENT_COLUMNS, 'seq']);
      const nextSeq = sql`coalesce(${seqBound(tenantId, 'max')}, 0) + 1`;
      if (dialectOf(db) === 'sqlite') {
        return [
          guard.compile(db),
          sql`insert into org_units (${list(ouColumns)}) values (${values(row, ouColumns)}) returning id`.compile(db),
          sql`update tenants set ou_count = ou_count + 1, ou_version = ou_version + 1 where id = ${tenantId} returning id`.compile(db),
          sql<{ seq: number }>`insert into events (${eventColumns}) values (${values(event, EVENT_COLUMNS)}, ${nextSeq}) returning seq`.compile(db),
        ];
      }
      return [
        sql<{ seq: string }>`with guard as (${guard}),
        inserted as (insert into org_units (${list(ouColumns)}) select ${values(row, ouColumns)} from guard returning id),
        counted as (update tenants set ou_count = ou_count + 1, ou_version = ou_version + 1 where id = ${tenantId} and exists (select from inserted))
        insert into events (${eventColumns})
        select ${values(event, EVENT_COLUMNS)}, ${nextSeq} from inserted
        returning seq`.compile(db),
      ];
    },

    /**
     * Adds to the maintained direct counts of one OU (no-op for `id` null: the tenant root), and
     * records that its children changed (the callers add, remove or replace children, or move
     * users in or out); with a user delta, also that its parent's children changed (they show
     * its user count).
     */
    async adjustCounts(tenantId: string, id: string | null, delta: { childOus?: number; users?: number }): Promise<void> {
      if (id === null) return;
      await db
        .updateTable('org_units')
        .set((eb) => ({
          child_ou_count: eb('child_ou_count', '+', delta.childOus ?? 0),
          user_count: eb('user_count', '+', delta.users ?? 0),
          children_version: eb('children_version', '+', 1),
        }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
      if (delta.users) {
        await db
          .updateTable('org_units')
          .set((eb) => ({ children_version: eb('children_version', '+', 1) }))
          .where('tenant_id', '=', tenantId)
          .where('id', '=', (eb) => eb.selectFrom('org_units as child').select('child.parent_id').where('child.tenant_id', '=', tenantId).where('child.id', '=', id))
          .execute();
      }
    },

    /** Records that the children of `id` changed as GET shows them (one renamed); no-op for null. */
    async childrenChanged(tenantId: string, id: string | null): Promise<void> {
      if (id === null) return;
      await db
        .updateTable('org_units')
        .set((eb) => ({ children_version: eb('children_version', '+', 1) }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
    },

    /**
     * Adds `delta` to the maintained subtree user count of every OU on `idPath` (the OU it ends
     * with and all its ancestors): at most ARBOR_MAX_OU_DEPTH rows, found by primary key.
     */
    async adjustSubtreeUserCounts(tenantId: string, idPath: string, delta: number): Promise<void> {
      const ids = idsOnPath(idPath);
      if (delta === 0 || ids.length === 0) return;
      await db
        .updateTable('org_units')
        .set((eb) => ({ subtree_user_count: eb('subtree_user_count', '+', delta) }))
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids)
        .execute();
    },

    /**
     * Rewrites the derived columns of a whole subtree after its root moved or was renamed:
     * one statement, whatever the subtree's size. Also used with the root excluded when an OU
     * between a subtree and its parent disappears (MOVE_UP).
     */
    async rewriteSubtree(
      tenantId: string,
      from: { idPath: string; path: string },
      to: { idPath: string; path: string },
      depthDelta: number,
      updatedAt: string,
      excludeRoot = false,
    ): Promise<number> {
      const query = db
        .updateTable('org_units')
        .set({
          // SQL substr counts characters (code points); JS length counts UTF-16 units.
          id_path: sql`${to.idPath} || substr(id_path, ${characterCount(from.idPath) + 1})`,
          path: sql`${to.path} || substr(path, ${characterCount(from.path) + 1})`,
          depth: sql`depth + ${depthDelta}`,
          // children_version stays: every OU here has a new path of its own, which its kept
          // answer is compared on too (org-unit-detail-cache.ts), so none is served stale.
          updated_at: updatedAt,
        })
        .where('tenant_id', '=', tenantId)
        .where(inSubtree('id_path', from.idPath));
      const result = await (excludeRoot ? query.where('id_path', '!=', from.idPath) : query).executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async reparentChildren(tenantId: string, fromParentId: string, toParentId: string | null): Promise<void> {
      await db
        .updateTable('org_units')
        .set({ parent_id: toParentId })
        .where('tenant_id', '=', tenantId)
        .where('parent_id', '=', fromParentId)
        .execute();
    },

    async deleteById(tenantId: string, id: string): Promise<void> {
      await db.deleteFrom('org_units').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    async deleteSubtree(tenantId: string, idPath: string): Promise<number> {
      const result = await db
        .deleteFrom('org_units')
        .where('tenant_id', '=', tenantId)
        .where(inSubtree('id_path', idPath))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Every OU of the subtree at `idPath`, its root included, deepest first (the order a delete's events take). */
    async listSubtree(tenantId: string, idPath: string): Promise<OrgUnitRow[]> {
      return subtreeRows(tenantId, idPath).selectAll().orderBy('depth', 'desc').orderBy('id_path').execute();
    },

    async listAllForCheck(tenantId: string): Promise<OrgUnitRow[]> {
      return db.selectFrom('org_units').selectAll().where('tenant_id', '=', tenantId).execute();
    },
  };
}

export type OrgUnitRepository = ReturnType<typeof createOrgUnitRepository>;

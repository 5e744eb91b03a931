import type { PageWindow } from '../../lib/pagination.js';
import { type Selectable, sql } from 'kysely';
import { inAnySubtree } from '../sql.js';
import type { Executor } from '../store.js';
import type { RoleAssignmentTable } from '../schema.js';

export type RoleAssignmentRow = Selectable<RoleAssignmentTable>;

export interface RoleAssignmentFilter {
  principalType?: RoleAssignmentRow['principal_type'];
  principalId?: string;
  ouId?: string;
  /**
   * Only assignments at OUs in these subtrees (id_paths of their roots): what a scoped reader
   * may see. Tenant-wide assignments are outside every subtree. Undefined: no restriction.
   */
  withinSubtrees?: readonly string[];
}

/** All SQL on `role_assignments`. Every method is scoped by tenant first. */
export function createRoleAssignmentRepository(db: Executor) {
  const listQuery = (tenantId: string, filter: RoleAssignmentFilter) => {
    let query = db.selectFrom('role_assignments').where('tenant_id', '=', tenantId);
    if (filter.principalType !== undefined) query = query.where('principal_type', '=', filter.principalType);
    if (filter.principalId !== undefined) query = query.where('principal_id', '=', filter.principalId);
    if (filter.ouId !== undefined) query = query.where('ou_id', '=', filter.ouId);
    const within = filter.withinSubtrees;
    if (within !== undefined) {
      query = query.where('ou_id', 'in', (eb) =>
        eb.selectFrom('org_units').select('id').where('tenant_id', '=', tenantId).where(inAnySubtree('id_path', within)),
      );
    }
    return query;
  };

  return {
    /** What the auth hook reads on every request of a tenant principal (role_assignments_principal_ix). */
    async listForPrincipal(tenantId: string, type: RoleAssignmentRow['principal_type'], id: string): Promise<RoleAssignmentRow[]> {
      return db
        .selectFrom('role_assignments')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('principal_type', '=', type)
        .where('principal_id', '=', id)
        .execute();
    },

    async getById(tenantId: string, id: string): Promise<RoleAssignmentRow | undefined> {
      return db.selectFrom('role_assignments').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    },

    /** The same principal, role and OU (null: tenant-wide) already assigned and not expired at `liveAt`, if so. */
    async findSame(tenantId: string, row: Pick<RoleAssignmentRow, 'principal_type' | 'principal_id' | 'role' | 'ou_id'>, liveAt?: string) {
      const query = db
        .selectFrom('role_assignments')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('principal_type', '=', row.principal_type)
        .where('principal_id', '=', row.principal_id)
        .where('role', '=', row.role)
        .where('ou_id', row.ou_id === null ? 'is' : '=', row.ou_id);
      return (liveAt === undefined ? query : query.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', liveAt)]))).executeTakeFirst();
    },

    /** By id (forward windows only). */
    async list(tenantId: string, filter: RoleAssignmentFilter, window: PageWindow): Promise<RoleAssignmentRow[]> {
      const query = listQuery(tenantId, filter);
      return (window.after === undefined ? query : query.where('id', '>', window.after)).selectAll().orderBy('id').limit(window.limit).offset(window.offset).execute();
    },

    async count(tenantId: string, filter: RoleAssignmentFilter): Promise<number> {
      const row = await listQuery(tenantId, filter).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async insert(row: RoleAssignmentRow): Promise<void> {
      await db.insertInto('role_assignments').values(row).execute();
    },

    async deleteById(tenantId: string, id: string): Promise<void> {
      await db.deleteFrom('role_assignments').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    /** Assignments at OUs of the subtree at `idPath`, with their OU's id_path (call before its OUs are deleted). */
    async listAtSubtree(tenantId: string, idPath: string): Promise<(RoleAssignmentRow & { ou_id_path: string })[]> {
      return db
        .selectFrom('role_assignments as a')
        .innerJoin('org_units as o', (join) => join.onRef('o.tenant_id', '=', 'a.tenant_id').onRef('o.id', '=', 'a.ou_id'))
        .selectAll('a')
        .select('o.id_path as ou_id_path')
        .where('a.tenant_id', '=', tenantId)
        .where(inAnySubtree('o.id_path', [idPath]))
        .execute();
    },

    async deleteByIds(tenantId: string, ids: readonly string[]): Promise<void> {
      if (ids.length > 0) await db.deleteFrom('role_assignments').where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
    },

    async deleteForTenant(tenantId: string): Promise<void> {
      await db.deleteFrom('role_assignments').where('tenant_id', '=', tenantId).execute();
    },
  };
}

export type RoleAssignmentRepository = ReturnType<typeof createRoleAssignmentRepository>;

import type { PageWindow } from '../../lib/pagination.js';
import { type Selectable, sql } from 'kysely';
import { inAnySubtree } from '../sql.js';
import type { Executor } from '../store.js';
import type { ApiClientTable } from '../schema.js';

export type ApiClientRow = Selectable<ApiClientTable>;

/** OAuth clients. Lookups by id alone serve the token endpoint; the API's are tenant-scoped. */
export function createApiClientRepository(db: Executor) {
  // A scoped principal sees the clients it could have made: all of whose assignments lie in its
  // subtrees. A client with a tenant-wide assignment, or one at an OU outside, is not its business.
  const listQuery = (tenantId: string, within: readonly string[] | undefined) => {
    const query = db.selectFrom('api_clients').where('tenant_id', '=', tenantId);
    if (within === undefined) return query;
    const assignmentsOfClient = sql`a.tenant_id = api_clients.tenant_id and a.principal_type = 'client' and a.principal_id = api_clients.id`;
    return query
      .where(sql<boolean>`exists (select 1 from role_assignments a where ${assignmentsOfClient})`)
      .where(
        sql<boolean>`not exists (select 1 from role_assignments a left join org_units o on o.tenant_id = a.tenant_id and o.id = a.ou_id
          where ${assignmentsOfClient} and (o.id is null or not ${inAnySubtree('o.id_path', within)}))`,
      );
  };

  return {
    /** The client if it is in `withinSubtrees` (see list); undefined: no restriction. */
    async getWithin(tenantId: string, id: string, withinSubtrees?: readonly string[]): Promise<ApiClientRow | undefined> {
      return listQuery(tenantId, withinSubtrees).selectAll().where('id', '=', id).executeTakeFirst();
    },

    /** For client authentication: the id is the credential, whatever its tenant. */
    async getForAuthentication(id: string): Promise<ApiClientRow | undefined> {
      return db.selectFrom('api_clients').selectAll().where('id', '=', id).executeTakeFirst();
    },

    async getById(tenantId: string, id: string): Promise<ApiClientRow | undefined> {
      return db.selectFrom('api_clients').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    },

    /** `withinSubtrees`: only clients whose every role assignment (one at least) lies in these subtrees. */
    /** By id (forward windows only). */
    async list(tenantId: string, window: PageWindow, withinSubtrees?: readonly string[]): Promise<ApiClientRow[]> {
      const query = listQuery(tenantId, withinSubtrees);
      return (window.after === undefined ? query : query.where('id', '>', window.after)).selectAll().orderBy('id').limit(window.limit).offset(window.offset).execute();
    },

    async count(tenantId: string, withinSubtrees?: readonly string[]): Promise<number> {
      const row = await listQuery(tenantId, withinSubtrees).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** The platform clients (no tenant), oldest first. */
    async listPlatformClients(): Promise<Pick<ApiClientRow, 'id' | 'name' | 'created_at'>[]> {
      return db.selectFrom('api_clients').select(['id', 'name', 'created_at']).where('tenant_id', 'is', null).orderBy('created_at').orderBy('id').execute();
    },

    async hasPlatformClient(): Promise<boolean> {
      const row = await db.selectFrom('api_clients').select('id').where('tenant_id', 'is', null).executeTakeFirst();
      return row !== undefined;
    },

    async insert(row: ApiClientRow): Promise<void> {
      await db.insertInto('api_clients').values(row).execute();
    },

    async updateSecretAndScopes(id: string, secretHash: string, scopes: string): Promise<void> {
      await db.updateTable('api_clients').set({ secret_hash: secretHash, scopes }).where('id', '=', id).execute();
    },

    async deleteById(tenantId: string, id: string): Promise<void> {
      await db.deleteFrom('api_clients').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },
  };
}

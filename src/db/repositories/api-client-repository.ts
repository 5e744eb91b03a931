import type { Selectable } from 'kysely';
import type { Executor } from '../store.js';
import type { ApiClientTable } from '../schema.js';

export type ApiClientRow = Selectable<ApiClientTable>;

/** OAuth clients. Lookups by id alone serve the token endpoint; the API's are tenant-scoped. */
export function createApiClientRepository(db: Executor) {
  return {
    /** For client authentication: the id is the credential, whatever its tenant. */
    async getForAuthentication(id: string): Promise<ApiClientRow | undefined> {
      return db.selectFrom('api_clients').selectAll().where('id', '=', id).executeTakeFirst();
    },

    async getById(tenantId: string, id: string): Promise<ApiClientRow | undefined> {
      return db.selectFrom('api_clients').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    },

    async list(tenantId: string, limit: number, offset: number): Promise<ApiClientRow[]> {
      return db.selectFrom('api_clients').selectAll().where('tenant_id', '=', tenantId).orderBy('id').limit(limit).offset(offset).execute();
    },

    async count(tenantId: string): Promise<number> {
      const row = await db
        .selectFrom('api_clients')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow();
      return Number(row.n);
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

import type { PageWindow } from '../../lib/pagination.js';
import { type Selectable, type Updateable, sql } from 'kysely';
import { anyRow, dialectOf } from '../sql.js';
import type { Executor } from '../store.js';
import type { WebhookTable } from '../schema.js';

export type WebhookRow = Selectable<WebhookTable>;
export type WebhookPatch = Updateable<Omit<WebhookTable, 'tenant_id' | 'id' | 'lease_owner' | 'lease_until'>>;

const withNumbers = (row: WebhookRow): WebhookRow => ({ ...row, cursor_seq: Number(row.cursor_seq), enabled: Number(row.enabled) });

/**
 * All SQL on `webhooks`. Methods are scoped by tenant first, except the dispatcher's claim,
 * which looks across tenants for work that is due.
 */
export function createWebhookRepository(db: Executor) {
  return {
    async insert(row: WebhookRow): Promise<void> {
      await db.insertInto('webhooks').values(row).execute();
    },

    async getById(tenantId: string, id: string): Promise<WebhookRow | undefined> {
      const row = await db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return row && withNumbers(row);
    },

    /** By id (forward windows only). */
    async list(tenantId: string, window: PageWindow): Promise<WebhookRow[]> {
      const query = db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId);
      const rows = await (window.after === undefined ? query : query.where('id', '>', window.after)).orderBy('id').limit(window.limit).offset(window.offset).execute();
      return rows.map(withNumbers);
    },

    async count(tenantId: string): Promise<number> {
      const row = await db.selectFrom('webhooks').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Sets only the fields in `patch` (the dispatcher's own may change meanwhile) and returns the row as it now is. */
    async update(tenantId: string, id: string, patch: WebhookPatch): Promise<WebhookRow> {
      const row = await db.updateTable('webhooks').set(patch).where('tenant_id', '=', tenantId).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      return withNumbers(row);
    },

    async deleteById(tenantId: string, id: string): Promise<void> {
      await db.deleteFrom('webhooks').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    /**
     * Leases up to `limit` enabled subscriptions that owe an event now (the feed has one after
     * their cursor and no retry is scheduled later) and that nobody else holds, to `owner` until
     * `until`. One statement: on PostgreSQL the candidates are locked with SKIP LOCKED, so two
     * instances claiming at once take different subscriptions and neither waits for the other.
     * On SQLite a SELECT looks first, and the UPDATE runs only when it finds one (`anyRow`: there
     * an UPDATE that matches nothing still takes the write lock and commits).
     */
    async claimDue(owner: string, now: string, until: string, limit: number): Promise<WebhookRow[]> {
      const due = sql`w.enabled = 1
            and (w.next_attempt_at is null or w.next_attempt_at <= ${now})
            and (w.lease_until is null or w.lease_until < ${now})
            and exists (select 1 from events e where e.tenant_id = w.tenant_id and e.seq > w.cursor_seq)`;
      if (dialectOf(db) === 'sqlite' && !(await anyRow(db, sql`select 1 from webhooks w where ${due}`))) return [];
      const skipLocked = dialectOf(db) === 'postgres' ? sql`for update of w skip locked` : sql``;
      const { rows } = await sql<WebhookRow>`
        update webhooks set lease_owner = ${owner}, lease_until = ${until}
        where (tenant_id, id) in (
          select w.tenant_id, w.id from webhooks w
          where ${due}
          -- Retries that have waited longest first; null (never failed) sorts first on both stores.
          order by coalesce(w.next_attempt_at, '')
          limit ${limit}
          ${skipLocked})
        returning *`.execute(db);
      return rows.map(withNumbers);
    },

    /**
     * Applies `patch` if `owner` still holds the lease, extends it to `until` (null: gives it
     * up), and returns the row as it now is: changes made meanwhile through the API (URL, types,
     * a rotated secret, a pause) apply from the next event on. Undefined: the lease was lost (it
     * expired and another instance took it over, or the subscription was deleted); the caller
     * stops, and what it sent will be sent again by the new holder.
     */
    async updateLeased(tenantId: string, id: string, owner: string, patch: WebhookPatch, until: string | null): Promise<WebhookRow | undefined> {
      const row = await db
        .updateTable('webhooks')
        .set({ ...patch, lease_until: until, lease_owner: until === null ? null : owner })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .returningAll()
        .executeTakeFirst();
      return row && withNumbers(row);
    },
  };
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>;

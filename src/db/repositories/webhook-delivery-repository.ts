import type { PageWindow } from '../../lib/pagination.js';
import { type Selectable, type Updateable, sql } from 'kysely';
import { anyRow, dialectOf } from '../sql.js';
import type { Executor } from '../store.js';
import type { WebhookDeliveryTable } from '../schema.js';

export type WebhookDeliveryRow = Selectable<WebhookDeliveryTable>;
export type WebhookDeliveryPatch = Updateable<Omit<WebhookDeliveryTable, 'tenant_id' | 'id' | 'webhook_id'>>;

const withNumbers = (row: WebhookDeliveryRow): WebhookDeliveryRow => ({ ...row, event_seq: row.event_seq === null ? null : Number(row.event_seq) });

/** All SQL on `webhook_deliveries`. Scoped by tenant first, except the dispatcher's claim and retention. */
export function createWebhookDeliveryRepository(db: Executor) {
  const listQuery = (tenantId: string, webhookId: string, status: WebhookDeliveryRow['status'] | undefined) => {
    const query = db.selectFrom('webhook_deliveries').where('tenant_id', '=', tenantId).where('webhook_id', '=', webhookId);
    return status === undefined ? query : query.where('status', '=', status);
  };

  return {
    async insert(row: WebhookDeliveryRow): Promise<void> {
      await db.insertInto('webhook_deliveries').values(row).execute();
    },

    async getById(tenantId: string, id: string): Promise<WebhookDeliveryRow | undefined> {
      const row = await db.selectFrom('webhook_deliveries').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return row && withNumbers(row);
    },

    /** A subscription's deliveries, newest first. */
    /** Newest first: `window.after` is the last id of the page before, so the rows come below it (forward windows only). */
    async list(tenantId: string, webhookId: string, status: WebhookDeliveryRow['status'] | undefined, window: PageWindow): Promise<WebhookDeliveryRow[]> {
      const query = listQuery(tenantId, webhookId, status);
      const rows = await (window.after === undefined ? query : query.where('id', '<', window.after)).selectAll().orderBy('id', 'desc').limit(window.limit).offset(window.offset).execute();
      return rows.map(withNumbers);
    },

    async count(tenantId: string, webhookId: string, status: WebhookDeliveryRow['status'] | undefined): Promise<number> {
      const row = await listQuery(tenantId, webhookId, status).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** The event at the head of the subscription's ordered stream, when it has been tried and is waiting for another attempt. */
    async pendingHead(tenantId: string, webhookId: string): Promise<WebhookDeliveryRow | undefined> {
      const row = await listQuery(tenantId, webhookId, 'pending').selectAll().where('in_sequence', '=', 1).orderBy('id').limit(1).executeTakeFirst();
      return row && withNumbers(row);
    },

    async update(tenantId: string, id: string, patch: WebhookDeliveryPatch): Promise<void> {
      await db.updateTable('webhook_deliveries').set(patch).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    async deleteForWebhook(tenantId: string, webhookId: string): Promise<void> {
      await db.deleteFrom('webhook_deliveries').where('tenant_id', '=', tenantId).where('webhook_id', '=', webhookId).execute();
    },

    /**
     * Leases up to `limit` pings and manual re-sends that are due (they go on their own, outside
     * any subscription's order) to `owner` until `until`, as claimDue does for subscriptions.
     */
    async claimDue(owner: string, now: string, until: string, limit: number): Promise<WebhookDeliveryRow[]> {
      const due = sql`status = 'pending' and in_sequence = 0 and next_attempt_at <= ${now}
            and (lease_until is null or lease_until < ${now})`;
      if (dialectOf(db) === 'sqlite' && !(await anyRow(db, sql`select 1 from webhook_deliveries where ${due}`))) return [];
      const skipLocked = dialectOf(db) === 'postgres' ? sql`for update skip locked` : sql``;
      const { rows } = await sql<WebhookDeliveryRow>`
        update webhook_deliveries set lease_owner = ${owner}, lease_until = ${until}
        where (tenant_id, id) in (
          select tenant_id, id from webhook_deliveries
          where ${due}
          order by next_attempt_at
          limit ${limit}
          ${skipLocked})
        returning *`.execute(db);
      return rows.map(withNumbers);
    },

    /** Deletes up to `limit` finished deliveries last touched before `cutoff`; returns how many. */
    async pruneFinished(cutoff: string, limit: number): Promise<number> {
      const result = await db
        .deleteFrom('webhook_deliveries')
        .where(({ eb, refTuple, selectFrom }) =>
          eb(
            refTuple('tenant_id', 'id'),
            'in',
            selectFrom('webhook_deliveries')
              .select(['tenant_id', 'id'])
              .where('status', '!=', 'pending')
              .where('updated_at', '<', cutoff)
              .limit(limit) as never,
          ),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type WebhookDeliveryRepository = ReturnType<typeof createWebhookDeliveryRepository>;

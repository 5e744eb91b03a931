import { sql } from 'kysely';
import type { Executor } from '../store.js';

/**
 * The reads a metrics scrape makes (src/metrics/). They look across tenants on purpose, and
 * answer with totals only: no tenant's figure leaves this file. Each is index seeks, one or two
 * per tenant or subscription, never a scan of events.
 */
export function createMonitoringRepository(db: Executor) {
  return {
    /**
     * `occurred_at` of the newest event of any tenant (deleted tenants' included); null when
     * there is none. A loose index scan of the events' primary key: one seek to find each tenant,
     * one for its newest event (there is no index on time, and adding one would cost every write).
     */
    async newestEventAt(): Promise<string | null> {
      const { rows } = await sql<{ newest: string | null }>`
        with recursive t(tenant_id) as (
          select min(tenant_id) from events
          union all
          select (select min(e.tenant_id) from events e where e.tenant_id > t.tenant_id) from t where t.tenant_id is not null
        )
        select max((select e.occurred_at from events e where e.tenant_id = t.tenant_id order by e.seq desc limit 1)) as newest
        from t where t.tenant_id is not null`.execute(db);
      return rows[0]?.newest ?? null;
    },

    /**
     * What webhook delivery has still to do: for each enabled subscription, the events after its
     * cursor (seqs have no gaps, so the tenant's last seq less the cursor; events its type filter
     * will skip are counted until it moves past them, a retry waiting at its head included), plus
     * pings and re-sends not yet sent (they go outside any subscription's order).
     */
    async webhookBacklog(): Promise<number> {
      const events = await sql<{ n: number | string | null }>`
        select sum((select max(e.seq) from events e where e.tenant_id = w.tenant_id) - w.cursor_seq) as n
        from webhooks w where w.enabled = 1`.execute(db);
      const alone = await db
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('status', '=', 'pending')
        .where('in_sequence', '=', 0)
        .executeTakeFirstOrThrow();
      return Number(events.rows[0]?.n ?? 0) + Number(alone.n);
    },
  };
}

export type MonitoringRepository = ReturnType<typeof createMonitoringRepository>;

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Repositories, pick } from '../db/repositories/index.js';
import type { EventRow } from '../db/repositories/event-repository.js';
import type { WebhookDeliveryPatch, WebhookDeliveryRow } from '../db/repositories/webhook-delivery-repository.js';
import type { WebhookPatch, WebhookRow } from '../db/repositories/webhook-repository.js';
import type { Store } from '../db/store.js';
import { toEventData } from './event-service.js';
import { createUnitOfWork } from './unit-of-work.js';
import { matchesEventTypes, newDeliveryRow, pingPayload, secretsOf, webhookStateChange } from './webhook-rules.js';
import type { SecretBox } from './webhook-secrets.js';
import type { SendResult, WebhookMessage } from './webhook-sender.js';
import { systemWrite } from './write-context.js';

export interface DispatcherSettings {
  /** Delay before each attempt, the first included: its length is the number of attempts. */
  retryScheduleMs: readonly number[];
  /** Nothing but failures for this long disables a subscription. */
  disableAfterMs: number;
  leaseMs: number;
  /** Subscriptions (and, as many again, pings and re-sends) worked at once. */
  concurrency: number;
  pollMs: number;
}

export interface WebhookDispatcherDeps {
  store: Pick<Store, 'db' | 'transaction'>;
  secrets: SecretBox | null;
  send: (message: WebhookMessage) => Promise<SendResult>;
  settings: DispatcherSettings;
  now?: () => number;
  /** Told after the dispatcher wrote events (a subscription it disabled). */
  onEventsCommitted?: (tenantId: string) => void;
  log: { warn(details: object, message: string): void; info(details: object, message: string): void };
}

/** Events read from the feed at once while a subscription catches up. */
const BATCH = 100;
/** The longest a Retry-After is honoured for; a larger one is cut to it. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
const ACTOR = { type: 'system' as const, id: 'webhook-dispatcher', client_id: null };

/** Thrown inside a write when the lease was lost: that write rolls back, and the work stops. */
class LeaseLost extends Error {}

/**
 * Delivers every subscription's events, in seq order, at least once (docs/webhooks.md).
 *
 * Each instance runs one. It claims subscriptions that owe an event (a lease, taken with SKIP
 * LOCKED on PostgreSQL), sends their events one after another, and records each outcome with a
 * write that only succeeds while it still holds the lease. An instance that dies leaves a lease
 * that expires; another then starts again from the recorded cursor, so the event that was in
 * flight is sent again (the receiver deduplicates by webhook-id) and none is lost. No
 * transaction is open while a receiver is called: a slow receiver holds no connection.
 */
export function createWebhookDispatcher({ store, secrets, send, settings, now = () => Date.now(), onEventsCommitted, log }: WebhookDispatcherDeps) {
  // Names the process holding a lease (host:pid:random), for operators reading the table and for
  // the test that kills the delivering instance.
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const active = new Set<Promise<void>>();
  // Slots in use: subscriptions worked, and pings or re-sends sent, each up to settings.concurrency.
  const busy = { subscriptions: 0, alone: 0 };
  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const iso = (ms: number) => new Date(ms).toISOString();
  const disable = createUnitOfWork(['webhooks', 'webhookDeliveries'], { store, now: () => iso(now()), onEventsCommitted });

  function message(webhook: WebhookRow, event: EventRow): WebhookMessage {
    const body = JSON.stringify({ type: event.type, timestamp: event.occurred_at, data: toEventData(event) });
    return { url: webhook.url, id: event.id, body, secrets: secretsOf(webhook, secrets, now()), traceId: event.trace_id };
  }

  /** What an attempt leaves on its delivery row. */
  function attemptFields(result: SendResult, attempts: number, at: number): WebhookDeliveryPatch {
    return {
      attempts,
      last_attempt_at: iso(at),
      last_response_status: result.status,
      last_latency_ms: Math.round(result.latencyMs),
      last_error: result.error,
      last_response_body: result.body,
      updated_at: iso(now()),
    };
  }

  /**
   * Records an attempt of the head event: the delivery row (inserted on its first attempt) and
   * the subscription's state, in one transaction that requires the lease. A subscription to
   * disable is disabled with its event, under the tenant's lock like every write that records one.
   */
  async function record(webhook: WebhookRow, delivery: WebhookDeliveryRow, isNew: boolean, subscription: WebhookPatch, keepLease: boolean, disableReason: 'gone' | 'failing' | null): Promise<WebhookRow> {
    const until = keepLease ? iso(now() + settings.leaseMs) : null;
    const apply = async (repos: Pick<Repositories, 'webhooks' | 'webhookDeliveries'>, patch: WebhookPatch) => {
      // The subscription's row first (it holds the lease), then its delivery: every writer locks them in this order.
      const row = await repos.webhooks.updateLeased(webhook.tenant_id, webhook.id, owner, patch, until);
      if (!row) throw new LeaseLost();
      if (isNew) await repos.webhookDeliveries.insert(delivery);
      else await repos.webhookDeliveries.update(delivery.tenant_id, delivery.id, delivery);
      return row;
    };
    if (disableReason === null) return store.transaction((trx) => apply(pick(trx, ['webhooks', 'webhookDeliveries']), subscription));
    const row = await disable(systemWrite({ actor: ACTOR }), webhook.tenant_id, async (scope) => {
      // As it is now, under the tenant's lock: paused by hand meanwhile, it stays paused as it
      // was (reason manual), and no second event says it was disabled.
      const current = await scope.repos.webhooks.getById(webhook.tenant_id, webhook.id);
      if (!current) throw new LeaseLost();
      if (current.enabled === 0) return apply(scope.repos, subscription);
      const updated = await apply(scope.repos, { ...subscription, enabled: 0, disabled_reason: disableReason, updated_at: iso(now()) });
      scope.record(webhookStateChange(current, { enabled: false, disabled_reason: disableReason }));
      return updated;
    });
    log.warn({ tenant_id: webhook.tenant_id, webhook_id: webhook.id, reason: disableReason }, `webhook disabled: ${disableReason === 'gone' ? 'the receiver answered 410 Gone' : 'nothing but failures for too long'}`);
    return row;
  }

  /** Works one leased subscription until it is caught up, waits for a retry, or has had its turn. */
  async function work(claimed: WebhookRow): Promise<void> {
    let webhook = claimed;
    const repos = pick(store.db, ['events', 'webhookDeliveries']);
    let head = await repos.webhookDeliveries.pendingHead(webhook.tenant_id, webhook.id);
    // A turn ends before half the lease is used, so a busy subscription cannot starve the others.
    const turnEnds = now() + settings.leaseMs / 2;
    // Events after the cursor, read BATCH at a time and used up in order (one read per batch,
    // not per delivery: under load, re-reading them for every delivery halved the rate).
    let batch: EventRow[] = [];
    // Paused through the API meanwhile (the row each record returns says so): the turn ends. Deleted: a lost lease.
    while (!stopped && now() < turnEnds && webhook.enabled === 1) {
      let event: EventRow | undefined;
      if (head) {
        [event] = await repos.events.list(webhook.tenant_id, Number(head.event_seq) - 1, 1);
        if (event?.seq !== head.event_seq) event = undefined;
      } else {
        batch = batch.filter((e) => e.seq > webhook.cursor_seq);
        if (batch.length === 0) {
          batch = await repos.events.list(webhook.tenant_id, webhook.cursor_seq, BATCH);
          if (batch.length === 0) break;
          // The subscription as it is now, read after these events: a secret rotated or a URL
          // changed before any of them was written is what they are sent with. The row claimed
          // (or last recorded) may be older than the newest of them.
          const current = await pick(store.db, ['webhooks']).webhooks.updateLeased(webhook.tenant_id, webhook.id, owner, {}, iso(now() + settings.leaseMs));
          if (!current) return;
          webhook = current;
          continue;
        }
        event = batch.find((e) => matchesEventTypes(webhook, e.type));
        if (!event) {
          // Nothing in this batch is for this subscription: move past it.
          const moved = await pick(store.db, ['webhooks']).webhooks.updateLeased(webhook.tenant_id, webhook.id, owner, { cursor_seq: batch[batch.length - 1].seq }, iso(now() + settings.leaseMs));
          if (!moved) return;
          webhook = moved;
          continue;
        }
      }
      const at = now();
      const delivery: WebhookDeliveryRow =
        head ?? newDeliveryRow(webhook, { event_id: event?.id ?? '', event_seq: event?.seq ?? null, event_type: event?.type ?? '', in_sequence: 1 }, iso(at));
      const isNew = head === undefined;
      if (!event) {
        // The head event was pruned (retention) while it waited: it can no longer be sent.
        const gone = { ...delivery, status: 'failed' as const, next_attempt_at: null, last_error: 'event past retention', updated_at: iso(at) };
        webhook = await record(webhook, gone, isNew, { cursor_seq: Number(delivery.event_seq), next_attempt_at: null }, true, null);
        head = undefined;
        continue;
      }
      const result = await send(message(webhook, event));
      const attempts = delivery.attempts + 1;
      const tried = { ...delivery, ...attemptFields(result, attempts, at) };
      if (result.ok) {
        webhook = await record(webhook, { ...tried, status: 'delivered', next_attempt_at: null }, isNew, { cursor_seq: event.seq, next_attempt_at: null, failing_since: null }, true, null);
        head = undefined;
        continue;
      }
      const failingSince = webhook.failing_since ?? iso(at);
      const failingTooLong = Date.parse(failingSince) + settings.disableAfterMs <= now();
      if (result.status === 410) {
        // Gone: the receiver asks to be called no more. The event stays at the head, so
        // re-enabling the subscription resumes with it.
        await record(webhook, { ...tried, next_attempt_at: null }, isNew, { next_attempt_at: null, failing_since: failingSince }, false, 'gone');
        return;
      }
      if (attempts < settings.retryScheduleMs.length) {
        const delay = result.retryAfterMs !== null ? Math.min(result.retryAfterMs, MAX_RETRY_AFTER_MS) : settings.retryScheduleMs[attempts];
        const next = iso(now() + delay);
        await record(webhook, { ...tried, next_attempt_at: next }, isNew, { next_attempt_at: next, failing_since: failingSince }, false, failingTooLong ? 'failing' : null);
        return;
      }
      // The last attempt failed: the event is given up and the subscription moves on.
      webhook = await record(webhook, { ...tried, status: 'failed', next_attempt_at: null }, isNew, { cursor_seq: event.seq, next_attempt_at: null, failing_since: failingSince }, !failingTooLong, failingTooLong ? 'failing' : null);
      if (failingTooLong) return;
      head = undefined;
    }
    await pick(store.db, ['webhooks']).webhooks.updateLeased(webhook.tenant_id, webhook.id, owner, {}, null);
  }

  /** A ping or a manual re-send: one attempt, on its own, outside the subscription's order. */
  async function sendAlone(claimed: WebhookDeliveryRow): Promise<void> {
    const repos = pick(store.db, ['events', 'webhooks', 'webhookDeliveries']);
    const webhook = await repos.webhooks.getById(claimed.tenant_id, claimed.webhook_id);
    if (!webhook) return;
    const at = now();
    let result: SendResult;
    if (claimed.event_seq === null) {
      result = await send({ url: webhook.url, id: claimed.event_id, body: JSON.stringify(pingPayload(claimed)), secrets: secretsOf(webhook, secrets, now()) });
    } else {
      const [event] = await repos.events.list(claimed.tenant_id, claimed.event_seq - 1, 1);
      result =
        event?.seq === claimed.event_seq
          ? await send(message(webhook, event))
          : { ok: false, status: null, latencyMs: 0, error: 'event past retention', body: null, retryAfterMs: null };
    }
    await repos.webhookDeliveries.update(claimed.tenant_id, claimed.id, {
      ...attemptFields(result, claimed.attempts + 1, at),
      status: result.ok ? 'delivered' : 'failed',
      next_attempt_at: null,
      lease_owner: null,
      lease_until: null,
    });
  }

  function track(kind: keyof typeof busy, task: Promise<void>, what: object): void {
    busy[kind]++;
    const tracked = task
      .catch((error: unknown) => {
        if (!(error instanceof LeaseLost)) log.warn({ err: error, ...what }, 'webhook delivery work failed; it is retried when its lease expires');
      })
      .finally(() => {
        busy[kind]--;
        active.delete(tracked);
        kick();
      });
    active.add(tracked);
  }

  /** Claims what is due, up to the free slots, and starts it. */
  async function claim(): Promise<void> {
    const repos = pick(store.db, ['webhooks', 'webhookDeliveries']);
    const at = now();
    const until = iso(at + settings.leaseMs);
    if (busy.subscriptions < settings.concurrency) {
      for (const webhook of await repos.webhooks.claimDue(owner, iso(at), until, settings.concurrency - busy.subscriptions)) {
        track('subscriptions', work(webhook), { tenant_id: webhook.tenant_id, webhook_id: webhook.id });
      }
    }
    if (busy.alone < settings.concurrency) {
      for (const delivery of await repos.webhookDeliveries.claimDue(owner, iso(at), until, settings.concurrency - busy.alone)) {
        track('alone', sendAlone(delivery), { tenant_id: delivery.tenant_id, delivery_id: delivery.id });
      }
    }
  }

  /** Looks for work now; calls while one look runs make it look once more after. */
  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await claim().catch((error: unknown) => log.warn({ err: error }, 'looking for webhook deliveries failed; trying again shortly'));
      } while (again && !stopped);
      running = null;
    })();
  }

  return {
    /** Starts looking for work every pollMs (commits on other instances), and at once. */
    start(): void {
      if (timer) return;
      timer = setInterval(kick, settings.pollMs);
      timer.unref();
      kick();
    },
    /** Something may be due (an event committed on this instance, a ping, a retry): look now. */
    kick,
    /** Stops claiming and waits for the work in flight (each bounded by the send timeout). */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
      while (active.size > 0) await Promise.allSettled([...active]);
    },
  };
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

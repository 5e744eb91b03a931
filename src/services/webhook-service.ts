import { pick } from '../db/repositories/index.js';
import type { WebhookDeliveryRow } from '../db/repositories/webhook-delivery-repository.js';
import type { WebhookPatch, WebhookRow } from '../db/repositories/webhook-repository.js';
import type { Store } from '../db/store.js';
import { ConflictError, NotFoundError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { type Page, type PageRequest, type PageWindow, readListing } from '../lib/pagination.js';
import { notFoundIn, requireTenant } from './tenant-guard.js';
import { changedFields, createUnitOfWork } from './unit-of-work.js';
import { type WebhookTargetPolicy, WebhookTargetError, parseWebhookUrl, resolveWebhookTarget } from './webhook-address-guard.js';
import {
  type WebhookData,
  type WebhookDeliveryData,
  toWebhookData,
  newDeliveryRow,
  redactedUrl,
  toWebhookDeliveryData,
  validateEventTypes,
  webhookFields,
} from './webhook-rules.js';
import { type SecretBox, generateWebhookSecret, secretsKeyMissing } from './webhook-secrets.js';
import type { WriteContext } from './write-context.js';

export interface WebhookInput {
  url: string;
  event_types?: string[];
  enabled?: boolean;
  description?: string | null;
}

export type WebhookUpdate = Partial<WebhookInput>;

/** A subscription with its signing secret: only in the answer that created or rotated it. */
export type WebhookWithSecret = WebhookData & { secret: string };

/** What a webhook.updated event compares and records. */
const FIELDS = ['url', 'description', 'event_types', 'enabled', 'disabled_reason'] as const;

/** How long deliveries are also signed with the secret before a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

const webhookNotFound = (id: string) => new NotFoundError('webhook.not_found', `Webhook '${id}' does not exist in this tenant.`);
const deliveryNotFound = (id: string) => new NotFoundError('webhook_delivery.not_found', `Delivery '${id}' does not exist for this webhook.`);

export interface WebhookServiceDeps {
  store: Pick<Store, 'db' | 'transaction' | 'snapshot'>;
  /** Null: no ARBOR_SECRETS_KEY (PostgreSQL), and webhooks cannot be created. */
  secrets: SecretBox | null;
  policy: WebhookTargetPolicy;
  now?: () => string;
  onEventsCommitted?: (tenantId: string) => void;
  /** Told when a delivery was queued here (a ping, a retry): the dispatcher looks at once. */
  onDeliveryQueued?: () => void;
}

/** Webhook subscriptions and their delivery logs (docs/webhooks.md); tenant administrators only (routes). */
export function createWebhookService({ store, secrets, policy, now = () => new Date().toISOString(), onEventsCommitted, onDeliveryQueued }: WebhookServiceDeps) {
  const read = pick(store.db, ['tenants', 'webhooks', 'webhookDeliveries']);
  const write = createUnitOfWork(['tenants', 'events', 'webhooks', 'webhookDeliveries'], { store, now, onEventsCommitted });

  /**
   * The URL's syntax and, before any lock is taken, where it resolves (checked again before every
   * delivery). A refusal is a 422 in the one shape every 422 has, its `type` the reason's code.
   */
  async function checkUrl(url: string): Promise<void> {
    try {
      await resolveWebhookTarget(parseWebhookUrl(url, policy), policy);
    } catch (error) {
      if (!(error instanceof WebhookTargetError)) throw error;
      throw new RequestValidationError([{ loc: ['body', 'url'], msg: error.message, type: error.code }]);
    }
  }

  function box(): SecretBox {
    if (!secrets) throw secretsKeyMissing();
    return secrets;
  }

  async function getRow(repos: Pick<typeof read, 'tenants' | 'webhooks'>, tenantId: string, id: string): Promise<WebhookRow> {
    const row = await repos.webhooks.getById(tenantId, id);
    if (!row) throw await notFoundIn(repos, tenantId, webhookNotFound(id));
    return row;
  }

  return {
    /** Creates a subscription: it is owed every event committed after it (its own webhook.created first). */
    async create(ctx: WriteContext, tenantId: string, input: WebhookInput): Promise<WebhookWithSecret> {
      const eventTypes = validateEventTypes(input.event_types ?? ['*']);
      const sealer = box();
      await checkUrl(input.url);
      const secret = generateWebhookSecret();
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        await requireTenant(repos, tenantId);
        const enabled = input.enabled ?? true;
        const row: WebhookRow = {
          tenant_id: tenantId,
          id: newId('wh'),
          url: input.url,
          description: input.description ?? null,
          event_types: JSON.stringify(eventTypes),
          enabled: enabled ? 1 : 0,
          disabled_reason: enabled ? null : 'manual',
          secret: sealer.seal(secret),
          previous_secret: null,
          previous_secret_expires_at: null,
          // Read under the tenant's lock: exactly the events committed before this one are not owed.
          cursor_seq: await repos.events.lastSeq(tenantId),
          next_attempt_at: null,
          failing_since: null,
          lease_owner: null,
          lease_until: null,
          created_at: timestamp,
          updated_at: timestamp,
        };
        await repos.webhooks.insert(row);
        scope.record({ type: 'webhook.created', resource: { type: 'webhook', id: row.id }, before: null, after: webhookFields(row) });
        return { ...toWebhookData(row), secret };
      });
    },

    async list(tenantId: string, pageRequest: PageRequest): Promise<Page<WebhookData>> {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'webhooks']);
        await requireTenant(repos, tenantId);
        const page = await readListing(pageRequest, {
          id: ['webhooks', tenantId],
          total: await repos.webhooks.count(tenantId),
          keyOf: (row) => row.id,
          read: (window: PageWindow) => repos.webhooks.list(tenantId, window),
          forwardOnly: true,
        });
        return { ...page, items: page.items.map(toWebhookData) };
      });
    },

    async get(tenantId: string, id: string): Promise<WebhookData> {
      return toWebhookData(await getRow(read, tenantId, id));
    },

    /**
     * Changes a subscription. Enabling it clears why it was disabled and its failure streak, and
     * tries the event at its head at once; disabling it by hand records `manual`.
     */
    async update(ctx: WriteContext, tenantId: string, id: string, input: WebhookUpdate): Promise<WebhookData> {
      const eventTypes = input.event_types === undefined ? undefined : validateEventTypes(input.event_types);
      if (input.url !== undefined) await checkUrl(input.url);
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        const row = await getRow(repos, tenantId, id);
        await scope.precondition(() => toWebhookData(row));
        const enabling = input.enabled === true && row.enabled === 0;
        const disabling = input.enabled === false && row.enabled === 1;
        // Only the fields the API owns: the dispatcher may record a delivery meanwhile (it does
        // not take the tenant's lock), and writing back its cursor or retry time as read here
        // would undo that.
        const patch: WebhookPatch = {
          ...(input.url !== undefined ? { url: input.url } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(eventTypes !== undefined ? { event_types: JSON.stringify(eventTypes) } : {}),
          ...(enabling ? { enabled: 1, disabled_reason: null, failing_since: null, next_attempt_at: null } : {}),
          ...(disabling ? { enabled: 0, disabled_reason: 'manual' as const } : {}),
        };
        // Compared as they are (a new path is a change), recorded with the URLs redacted.
        const compared = (r: WebhookRow): Record<(typeof FIELDS)[number], unknown> => ({ ...(webhookFields(r) as Record<(typeof FIELDS)[number], unknown>), url: r.url });
        const change = changedFields(compared(row), compared({ ...row, ...patch } as WebhookRow), FIELDS);
        if (!change) return toWebhookData(row);
        const updated = await repos.webhooks.update(tenantId, id, { ...patch, updated_at: timestamp });
        const redacted = (half: Record<string, unknown>) => ('url' in half ? { ...half, url: redactedUrl(String(half.url)) } : half);
        scope.record({ type: 'webhook.updated', resource: { type: 'webhook', id }, before: redacted(change.before), after: redacted(change.after) });
        return toWebhookData(updated);
      }).finally(() => onDeliveryQueued?.());
    },

    /** Deletes a subscription and its delivery log; nothing more is sent to it. */
    async delete(ctx: WriteContext, tenantId: string, id: string): Promise<void> {
      await write(ctx, tenantId, async (scope) => {
        const { repos } = scope;
        const row = await getRow(repos, tenantId, id);
        await scope.precondition(() => toWebhookData(row));
        // The subscription's row first, its log after: the order the dispatcher locks them in.
        await repos.webhooks.deleteById(tenantId, id);
        await repos.webhookDeliveries.deleteForWebhook(tenantId, id);
        scope.record({ type: 'webhook.deleted', resource: { type: 'webhook', id }, before: webhookFields(row), after: null });
      });
    },

    /** A new secret; for ROTATION_OVERLAP_MS every delivery is signed with the old one too. */
    async rotateSecret(ctx: WriteContext, tenantId: string, id: string): Promise<WebhookWithSecret> {
      const sealer = box();
      const secret = generateWebhookSecret();
      return write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        const row = await getRow(repos, tenantId, id);
        await scope.precondition(() => toWebhookData(row));
        const expires = new Date(Date.parse(timestamp) + ROTATION_OVERLAP_MS).toISOString();
        const updated = await repos.webhooks.update(tenantId, id, { secret: sealer.seal(secret), previous_secret: row.secret, previous_secret_expires_at: expires, updated_at: timestamp });
        scope.record({ type: 'webhook.secret_rotated', resource: { type: 'webhook', id }, before: null, after: { previous_secret_expires_at: expires } });
        return { ...toWebhookData(updated), secret };
      });
    },

    /** Queues a test message, sent on its own at once (even to a disabled subscription); see its delivery. */
    async ping(ctx: WriteContext, tenantId: string, id: string): Promise<WebhookDeliveryData> {
      // Through the unit of work, so that an Idempotency-Key answers a retried ping with the first one.
      const queued = await write(ctx, tenantId, async ({ repos, timestamp }) => {
        const row = await getRow(repos, tenantId, id);
        const delivery = newDeliveryRow(row, { event_id: newId('evt'), event_seq: null, event_type: 'webhook.ping', in_sequence: 0 }, timestamp);
        await repos.webhookDeliveries.insert(delivery);
        return toWebhookDeliveryData(delivery);
      });
      onDeliveryQueued?.();
      return queued;
    },

    /** A subscription's deliveries, newest first. */
    async listDeliveries(tenantId: string, id: string, status: WebhookDeliveryRow['status'] | undefined, pageRequest: PageRequest): Promise<Page<WebhookDeliveryData>> {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'webhooks', 'webhookDeliveries']);
        await getRow(repos, tenantId, id);
        const page = await readListing(pageRequest, {
          id: ['webhook_deliveries', tenantId, id, status ?? null],
          total: await repos.webhookDeliveries.count(tenantId, id, status),
          keyOf: (row) => row.id,
          read: (window: PageWindow) => repos.webhookDeliveries.list(tenantId, id, status, window),
          forwardOnly: true,
        });
        return { ...page, items: page.items.map(toWebhookDeliveryData) };
      });
    },

    /** Deletes finished deliveries last touched more than `retentionDays` ago (the events' retention), in batches. */
    async pruneDeliveries(retentionDays: number, batch = 10_000): Promise<number> {
      const cutoff = new Date(Date.parse(now()) - retentionDays * 86_400_000).toISOString();
      let total = 0;
      for (;;) {
        const deleted = await read.webhookDeliveries.pruneFinished(cutoff, batch);
        total += deleted;
        if (deleted < batch) return total;
      }
    },

    /**
     * Sends a delivery again now. The event at the head of the order is tried now instead of at
     * its scheduled time; any other (given up, or delivered) is sent once more on its own.
     */
    async retryDelivery(ctx: WriteContext, tenantId: string, id: string, deliveryId: string): Promise<WebhookDeliveryData> {
      const result = await write(ctx, tenantId, async ({ repos, timestamp }) => {
        const webhook = await getRow(repos, tenantId, id);
        const row = await repos.webhookDeliveries.getById(tenantId, deliveryId);
        if (!row || row.webhook_id !== id) throw deliveryNotFound(deliveryId);
        const isHead = row.in_sequence === 1 && row.status === 'pending';
        if (isHead && webhook.enabled === 0) {
          throw new ConflictError('webhook.disabled', `Webhook '${id}' is disabled (${webhook.disabled_reason}); enable it (PATCH enabled: true) and its head event is tried at once.`);
        }
        // Being sent right now (its lease is held): its outcome is about to be recorded, and a
        // retry now would be overwritten by it.
        const heldUntil = isHead ? webhook.lease_until : row.lease_until;
        if (heldUntil !== null && heldUntil > timestamp) {
          throw new ConflictError('webhook_delivery.in_flight', `Delivery '${deliveryId}' is being sent right now; see its outcome in the deliveries, then retry if it failed.`);
        }
        const patch = isHead ? { next_attempt_at: timestamp, updated_at: timestamp } : { status: 'pending' as const, in_sequence: 0, next_attempt_at: timestamp, updated_at: timestamp };
        // The subscription's row before the delivery's: the order the dispatcher locks them in.
        if (isHead) await repos.webhooks.update(tenantId, id, { next_attempt_at: timestamp });
        await repos.webhookDeliveries.update(tenantId, deliveryId, patch);
        return { ...row, ...patch };
      });
      onDeliveryQueued?.();
      return toWebhookDeliveryData(result);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;

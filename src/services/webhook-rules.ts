import type { WebhookDeliveryRow } from '../db/repositories/webhook-delivery-repository.js';
import type { WebhookRow } from '../db/repositories/webhook-repository.js';
import { RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { EVENT_TYPES } from './event-types.js';
import type { Change } from './unit-of-work.js';
import type { SecretBox } from './webhook-secrets.js';

const RESOURCES = [...new Set(EVENT_TYPES.map((t) => t.split('.')[0]))];

/** A subscription as the API shows it (never its secret). */
export interface WebhookData {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  disabled_reason: WebhookRow['disabled_reason'];
  /** The last event of the tenant's feed this subscription has handled. */
  last_event_seq: number;
  /** When the event at its head is tried again, if an attempt failed. */
  next_attempt_at: string | null;
  failing_since: string | null;
  /** Until when deliveries are also signed with the secret before the last rotation. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export function toWebhookData(row: WebhookRow): WebhookData {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    event_types: JSON.parse(row.event_types) as string[],
    enabled: row.enabled === 1,
    disabled_reason: row.disabled_reason,
    last_event_seq: row.cursor_seq,
    next_attempt_at: row.next_attempt_at,
    failing_since: row.failing_since,
    previous_secret_expires_at: row.previous_secret_expires_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** A delivery as the API shows it. */
export interface WebhookDeliveryData {
  id: string;
  webhook_id: string;
  event_id: string;
  event_seq: number | null;
  event_type: string;
  status: WebhookDeliveryRow['status'];
  /** False for a ping or a manual re-send, which go on their own outside the subscription's order. */
  in_sequence: boolean;
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_response_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  last_response_body: string | null;
  created_at: string;
  updated_at: string;
}

export function toWebhookDeliveryData(row: WebhookDeliveryRow): WebhookDeliveryData {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    event_id: row.event_id,
    event_seq: row.event_seq,
    event_type: row.event_type,
    status: row.status,
    in_sequence: row.in_sequence === 1,
    attempts: row.attempts,
    next_attempt_at: row.next_attempt_at,
    last_attempt_at: row.last_attempt_at,
    last_response_status: row.last_response_status,
    last_latency_ms: row.last_latency_ms,
    last_error: row.last_error,
    last_response_body: row.last_response_body,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Checks `event_types` (exact names, `<resource>.*`, `*`) and returns them without duplicates. */
export function validateEventTypes(patterns: readonly string[]): string[] {
  const unknown = patterns.filter((p) => p !== '*' && !(EVENT_TYPES as readonly string[]).includes(p) && !(p.endsWith('.*') && RESOURCES.includes(p.slice(0, -2))));
  if (unknown.length > 0) {
    throw new RequestValidationError([
      {
        loc: ['body', 'event_types'],
        type: 'value_error',
        msg: `Unknown event type ${unknown.map((u) => `'${u}'`).join(', ')}. Use ${EVENT_TYPES.join(', ')}, or ${RESOURCES.map((r) => `${r}.*`).join(', ')}, or *.`,
      },
    ]);
  }
  return [...new Set(patterns)];
}

const patternCache = new WeakMap<WebhookRow, string[]>();

/** Whether the subscription wants events of `type`. */
export function matchesEventTypes(webhook: WebhookRow, type: string): boolean {
  let patterns = patternCache.get(webhook);
  if (!patterns) patternCache.set(webhook, (patterns = JSON.parse(webhook.event_types) as string[]));
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

/**
 * The secrets to sign with now: the current one, and the one before it until it expires. A
 * previous secret this key cannot open (sealed under a key since replaced, the case a rotation
 * recovers from) is left out rather than holding every delivery for the overlap.
 */
export function secretsOf(webhook: WebhookRow, box: SecretBox | null, nowMs: number): string[] {
  if (!box) throw new Error('no ARBOR_SECRETS_KEY: webhook secrets cannot be opened');
  const current = box.open(webhook.secret);
  const overlapping = webhook.previous_secret !== null && webhook.previous_secret_expires_at !== null && Date.parse(webhook.previous_secret_expires_at) > nowMs;
  if (!overlapping) return [current];
  try {
    return [current, box.open(webhook.previous_secret as string)];
  } catch {
    return [current];
  }
}

/** A delivery not yet tried: the head event of a subscription's order, or a ping. */
export function newDeliveryRow(
  webhook: Pick<WebhookRow, 'tenant_id' | 'id'>,
  message: Pick<WebhookDeliveryRow, 'event_id' | 'event_seq' | 'event_type' | 'in_sequence'>,
  timestamp: string,
): WebhookDeliveryRow {
  return {
    tenant_id: webhook.tenant_id,
    id: newId('dlv'),
    webhook_id: webhook.id,
    ...message,
    status: 'pending',
    attempts: 0,
    // A ping is due at once; the head's next attempt is scheduled when one fails.
    next_attempt_at: message.in_sequence === 1 ? null : timestamp,
    last_attempt_at: null,
    last_response_status: null,
    last_latency_ms: null,
    last_error: null,
    last_response_body: null,
    lease_owner: null,
    lease_until: null,
    created_at: timestamp,
    updated_at: timestamp,
  };
}

/** The body of a ping: a test message that no event stands behind. */
export function pingPayload(delivery: WebhookDeliveryRow): { type: string; timestamp: string; data: Record<string, unknown> } {
  return { type: 'webhook.ping', timestamp: delivery.created_at, data: { webhook_id: delivery.webhook_id, delivery_id: delivery.id, message: 'A test message from Arbor: this endpoint is reachable and verifies signatures.' } };
}

/**
 * A URL as events record it: its origin, and `/…` for a path or query, which often carry the
 * receiver's own token (https://hooks.example.com/services/T0/B0/XXXX). Readers of the feed who
 * may not read subscriptions see where events go, not how to post to it.
 */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.pathname === '/' && parsed.search === '' ? parsed.origin : `${parsed.origin}/…`;
  } catch {
    return '…';
  }
}

/** What a subscription's events record of it: never a secret, and its URL redacted. */
export function webhookFields(row: WebhookRow): Record<string, unknown> {
  const data = toWebhookData(row);
  return { url: redactedUrl(data.url), description: data.description, event_types: data.event_types, enabled: data.enabled, disabled_reason: data.disabled_reason };
}

/** The event of a state change the dispatcher makes (a subscription disabled). */
export function webhookStateChange(row: WebhookRow, after: { enabled: boolean; disabled_reason: string | null }): Change {
  return {
    type: 'webhook.updated',
    resource: { type: 'webhook', id: row.id },
    before: { enabled: row.enabled === 1, disabled_reason: row.disabled_reason },
    after,
  };
}

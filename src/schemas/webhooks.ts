import { Type } from 'typebox';
import { Nullable, apiResponse, paginatedResponse, ref } from './common.js';

const EventTypes = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  minItems: 1,
  maxItems: 50,
  description: 'Event types to deliver: exact names (ou.moved), a resource (ou.*, user.*) or * for every event. Default ["*"].',
});
const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'An https URL whose host resolves to a public address (docs/webhooks.md: ARBOR_WEBHOOK_ALLOW_HOSTS, ARBOR_WEBHOOK_ALLOW_INSECURE).' });
const Description = Nullable(Type.String({ maxLength: 500 }), 'For people: what the receiver is.');

export const WebhookCreate = Type.Object(
  {
    url: Url,
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true.' })),
    description: Type.Optional(Description),
  },
  { $id: 'WebhookCreate', description: 'A subscription: every later event of these types is POSTed to url, signed, in order.', additionalProperties: false },
);

export const WebhookUpdate = Type.Object(
  {
    url: Type.Optional(Url),
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean({ description: 'true resumes delivery at the event where it stopped; false pauses it (disabled_reason manual).' })),
    description: Type.Optional(Description),
  },
  { $id: 'WebhookUpdate', description: 'The fields to change.', additionalProperties: false },
);

const webhookFields = {
  id: Type.String(),
  url: Type.String(),
  description: Nullable(Type.String()),
  event_types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Nullable(
    Type.Union([Type.Literal('manual'), Type.Literal('gone'), Type.Literal('failing')]),
    'Why it is disabled: by hand, the receiver answered 410 Gone, or nothing but failures for 5 days.',
  ),
  last_event_seq: Type.Integer({ description: "The last seq of the tenant's change feed this subscription has handled (delivered, given up, or not of its types)." }),
  next_attempt_at: Nullable(Type.String({ format: 'date-time' }), 'When the event at its head is tried again after a failed attempt.'),
  failing_since: Nullable(Type.String({ format: 'date-time' }), 'The first failure since the last success.'),
  previous_secret_expires_at: Nullable(Type.String({ format: 'date-time' }), 'Until then, deliveries are signed with the secret before the last rotation too.'),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
};

export const WebhookResponse = Type.Object(webhookFields, { $id: 'WebhookResponse', description: 'A webhook subscription (its secret is shown only when created or rotated).' });

export const WebhookSecretResponse = Type.Object(
  {
    ...webhookFields,
    secret: Nullable(
      Type.String(),
      'The signing secret (whsec_…), shown this once: verify deliveries with it. Null in an answer replayed for an Idempotency-Key (Arbor stores no copy of it outside the encrypted subscription).',
    ),
  },
  { $id: 'WebhookSecretResponse', description: 'A webhook subscription with its new signing secret.' },
);

export const WebhookDeliveryResponse = Type.Object(
  {
    id: Type.String(),
    webhook_id: Type.String(),
    event_id: Type.String({ description: 'The webhook-id header: deduplicate on it.' }),
    event_seq: Nullable(Type.Integer(), 'Null for a ping.'),
    event_type: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')], {
      description: 'pending: waiting for an attempt; delivered: a 2xx came back; failed: every attempt failed and it was given up.',
    }),
    in_sequence: Type.Boolean({ description: "false for a ping or a manual re-send, sent on its own outside the subscription's order." }),
    attempts: Type.Integer(),
    next_attempt_at: Nullable(Type.String({ format: 'date-time' })),
    last_attempt_at: Nullable(Type.String({ format: 'date-time' })),
    last_response_status: Nullable(Type.Integer()),
    last_latency_ms: Nullable(Type.Integer()),
    last_error: Nullable(Type.String(), 'Why the last attempt failed: HTTP 500, timeout after 15000 ms, refused: private address 10.0.0.1, …'),
    last_response_body: Nullable(Type.String(), 'At most 1 KiB of what the receiver answered.'),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'WebhookDeliveryResponse', description: 'One message to one subscription and how its attempts went.' },
);

export const ApiResponseWebhookResponse = apiResponse('ApiResponse_WebhookResponse_', ref(WebhookResponse));
export const ApiResponseWebhookSecretResponse = apiResponse('ApiResponse_WebhookSecretResponse_', ref(WebhookSecretResponse));
export const ApiResponseWebhookDeliveryResponse = apiResponse('ApiResponse_WebhookDeliveryResponse_', ref(WebhookDeliveryResponse));
export const PaginatedResponseWebhookResponse = paginatedResponse('PaginatedResponse_WebhookResponse_', ref(WebhookResponse));
export const PaginatedResponseWebhookDeliveryResponse = paginatedResponse('PaginatedResponse_WebhookDeliveryResponse_', ref(WebhookDeliveryResponse));

export const webhookSchemas = [
  WebhookCreate,
  WebhookUpdate,
  WebhookResponse,
  WebhookSecretResponse,
  WebhookDeliveryResponse,
  ApiResponseWebhookResponse,
  ApiResponseWebhookSecretResponse,
  ApiResponseWebhookDeliveryResponse,
  PaginatedResponseWebhookResponse,
  PaginatedResponseWebhookDeliveryResponse,
];

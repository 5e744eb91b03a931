import { Type } from 'typebox';
import { MetaResponse, Nullable, ref } from './common.js';

const Fields = Type.Unsafe<Record<string, unknown> | null>({ anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }] } as never);

export const EventResponse = Type.Object(
  {
    id: Type.String({ description: '`evt_…`: unique; the `webhook-id` of its deliveries.' }),
    seq: Type.Integer({ description: 'Per tenant: 1, 2, 3, … in commit order, no gaps, never reused.' }),
    type: Type.String({ description: 'e.g. `ou.moved`; see docs/events.md for every type.' }),
    occurred_at: Type.String({ format: 'date-time' }),
    tenant_id: Type.String(),
    actor: Type.Object({
      type: Type.String({ description: '`client` (an Arbor API client), `external` (an external identity provider token), `cli` or `system`.' }),
      id: Type.String(),
      client_id: Nullable(Type.String()),
    }),
    request_id: Nullable(Type.String()),
    correlation_id: Nullable(Type.String({ description: 'The same for every event of one operation (a request, an import).' })),
    trace_id: Nullable(
      Type.String({
        description:
          "The W3C trace id (32 lowercase hex digits) of the request that made the change: its `traceparent` header's, or one Arbor started. It is in the request's log lines and in the `traceparent` of the event's webhook deliveries. Null for changes made outside a request.",
      }),
    ),
    resource: Type.Object({ type: Type.String({ description: '`ou`, `user`, `tenant` or `client`.' }), id: Type.String() }),
    data: Type.Object(
      { before: Fields, after: Fields },
      { description: 'The fields that changed: their values before and after (null: the resource did not exist / is gone).' },
    ),
  },
  { $id: 'EventResponse', description: 'One change of one resource.' },
);

export const EventPageResponse = Type.Object(
  {
    data: Type.Array(ref(EventResponse)),
    next: Type.Integer({
      description: 'Pass as `after` to read on: the last seq this answer covers. With order=desc, the seq the next (older) page reads below; read on with `next_cursor`.',
    }),
    next_cursor: Nullable(
      Type.String({
        description:
          'The same position as `next`, opaque and bound to this feed and its filters: pass as `cursor` to read on (as every list takes it). Oldest first, the feed has no end: there is always a next cursor. Newest first (order=desc), null once the oldest event kept has been read.',
      }),
    ),
    meta: Type.Optional(ref(MetaResponse)),
  },
  { $id: 'EventPageResponse', description: 'Events in seq order (newest first with order=desc), and the cursor to continue from.' },
);

export const eventSchemas = [EventResponse, EventPageResponse];

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { paginated } from '../http/request-context.js';
import { resourceResponse, send, sendResource, writeContextOf } from '../http/write-context.js';
import { ConditionalWriteHeaders, IdParam, PageQuery, Query, NotModified, ReadHeaders, errors, ref, resource, success } from '../schemas/common.js';
import {
  ApiResponseWebhookDeliveryResponse,
  ApiResponseWebhookResponse,
  ApiResponseWebhookSecretResponse,
  PaginatedResponseWebhookDeliveryResponse,
  PaginatedResponseWebhookResponse,
  WebhookCreate,
  WebhookUpdate,
} from '../schemas/webhooks.js';
import type { WebhookData, WebhookDeliveryData } from '../services/webhook-rules.js';
import type { WebhookService, WebhookWithSecret } from '../services/webhook-service.js';

const tags = ['Webhooks'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const WebhookParams = Type.Object({ tenant_id: IdParam, webhook_id: IdParam });
const DeliveryParams = Type.Object({ tenant_id: IdParam, webhook_id: IdParam, delivery_id: IdParam });
const readErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] };
const writeErrors = { ...readErrors, 409: errors[409], 413: errors[413], 415: errors[415] };
// Webhooks are the tenant's: a principal scoped to OU subtrees cannot see or make them (docs/delegated-admin.md).
const readConfig = { scope: 'webhooks:read', tenantWide: true } as const;
const writeConfig = { scope: 'webhooks:write', tenantWide: true } as const;

/** Webhook subscriptions, their secrets and their delivery logs (docs/webhooks.md). */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ service: WebhookService }> = async (app, { service }) => {
  /** An answer carrying a secret: never cached; a replay gets it without (no copy is kept for replays). */
  const withSecret = (request: Parameters<typeof resourceResponse>[0], status: number) => {
    const answer = ({ secret, ...webhook }: WebhookData & { secret: string | null }) => {
      const response = resourceResponse(request, { ...webhook, secret }, status, webhook);
      return { ...response, headers: { ...response.headers, 'cache-control': 'no-store' } };
    };
    return { answer, stored: writeContextOf(request, (webhook: WebhookWithSecret) => answer({ ...webhook, secret: null })) };
  };

  app.post(
    '/api/v1/tenants/:tenant_id/webhooks',
    {
      config: writeConfig,
      schema: {
        summary: 'Create Webhook',
        description: 'Subscribe a URL to the events committed from now on. The answer carries the signing secret, once.',
        tags,
        params: TenantParams,
        body: ref(WebhookCreate),
        response: { 201: resource(ref(ApiResponseWebhookSecretResponse)), ...writeErrors, 503: errors[503] },
      },
    },
    async (request, reply) => {
      const { answer, stored } = withSecret(request, 201);
      return send(reply, answer(await service.create(stored, request.params.tenant_id, request.body)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/webhooks',
    {
      config: readConfig,
      schema: {
        summary: 'List Webhooks',
        description: 'The webhook subscriptions of the tenant, by id.',
        tags,
        params: TenantParams,
        querystring: Query(PageQuery),
        response: { 200: success(ref(PaginatedResponseWebhookResponse)), ...readErrors },
      },
    },
    async (request) => paginated(request, await service.list(request.params.tenant_id, request.query)),
  );

  app.get(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id',
    {
      config: readConfig,
      schema: {
        summary: 'Get Webhook',
        description: 'A webhook subscription and where its delivery stands.',
        tags,
        params: WebhookParams,
        headers: ReadHeaders,
        response: { 200: resource(ref(ApiResponseWebhookResponse)), 304: NotModified, ...readErrors },
      },
    },
    async (request, reply) => sendResource(request, reply, await service.get(request.params.tenant_id, request.params.webhook_id)),
  );

  app.patch(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id',
    {
      config: writeConfig,
      schema: {
        summary: 'Update Webhook',
        description: 'Change the URL, event types, description, or pause (enabled false) and resume (enabled true) delivery.',
        tags,
        params: WebhookParams,
        headers: ConditionalWriteHeaders,
        body: ref(WebhookUpdate),
        response: { 200: resource(ref(ApiResponseWebhookResponse)), ...writeErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      const answer = (webhook: WebhookData) => resourceResponse(request, webhook);
      return send(reply, answer(await service.update(writeContextOf(request, answer), request.params.tenant_id, request.params.webhook_id, request.body)));
    },
  );

  app.delete(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id',
    {
      config: writeConfig,
      schema: {
        summary: 'Delete Webhook',
        description: 'Delete a subscription and its delivery log; nothing more is sent to it.',
        tags,
        params: WebhookParams,
        headers: ConditionalWriteHeaders,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      await service.delete(writeContextOf(request), request.params.tenant_id, request.params.webhook_id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id/rotate-secret',
    {
      config: writeConfig,
      schema: {
        summary: 'Rotate Webhook Secret',
        description: 'A new signing secret, shown once. For 24 hours every delivery is signed with the old secret too, so receivers can switch without losing one.',
        tags,
        params: WebhookParams,
        headers: ConditionalWriteHeaders,
        response: { 200: resource(ref(ApiResponseWebhookSecretResponse)), ...readErrors, 409: errors[409], 412: errors[412], 503: errors[503] },
      },
    },
    async (request, reply) => {
      const { answer, stored } = withSecret(request, 200);
      return send(reply, answer(await service.rotateSecret(stored, request.params.tenant_id, request.params.webhook_id)));
    },
  );

  app.post(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id/ping',
    {
      config: writeConfig,
      schema: {
        summary: 'Ping Webhook',
        description: 'Queue a test message (type webhook.ping), sent at once on its own, even to a disabled subscription. Follow it in the deliveries.',
        tags,
        params: WebhookParams,
        response: { 202: resource(ref(ApiResponseWebhookDeliveryResponse)), ...readErrors },
      },
    },
    async (request, reply) => {
      const answer = (delivery: WebhookDeliveryData) => resourceResponse(request, delivery, 202);
      return send(reply, answer(await service.ping(writeContextOf(request, answer), request.params.tenant_id, request.params.webhook_id)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id/deliveries',
    {
      config: readConfig,
      schema: {
        summary: 'List Webhook Deliveries',
        description: 'What was sent to the subscription and how each attempt went, newest first.',
        tags,
        params: WebhookParams,
        querystring: Query({
          ...PageQuery,
          status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')])),
        }),
        response: { 200: success(ref(PaginatedResponseWebhookDeliveryResponse)), ...readErrors },
      },
    },
    async (request) => {
      const { status, ...page } = request.query;
      return paginated(request, await service.listDeliveries(request.params.tenant_id, request.params.webhook_id, status, page));
    },
  );

  app.post(
    '/api/v1/tenants/:tenant_id/webhooks/:webhook_id/deliveries/:delivery_id/retry',
    {
      config: writeConfig,
      schema: {
        summary: 'Retry Webhook Delivery',
        description:
          "Send a delivery again now: the event waiting at the head of the order is tried now instead of at its scheduled time; any other (given up or delivered) is sent once more on its own.",
        tags,
        params: DeliveryParams,
        response: { 202: resource(ref(ApiResponseWebhookDeliveryResponse)), ...readErrors, 409: errors[409] },
      },
    },
    async (request, reply) => {
      const answer = (delivery: WebhookDeliveryData) => resourceResponse(request, delivery, 202);
      const { tenant_id, webhook_id, delivery_id } = request.params;
      return send(reply, answer(await service.retryDelivery(writeContextOf(request, answer), tenant_id, webhook_id, delivery_id)));
    },
  );
};

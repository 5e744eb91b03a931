import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accessOf, principalOf } from '../http/principal.js';
import { paginated } from '../http/request-context.js';
import { resourceResponse, send, sendResource, writeContextOf } from '../http/write-context.js';
import { ApiResponseClientCreatedResponse, ApiResponseClientResponse, ClientCreate, PaginatedResponseClientResponse } from '../schemas/clients.js';
import { ConditionalWriteHeaders, IdParam, NotModified, PageQuery, Query, ReadHeaders, errors, ref, resource, success } from '../schemas/common.js';
import type { ClientData, ClientService } from '../services/client-service.js';

const tags = ['API Clients'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const ClientParams = Type.Object({ tenant_id: IdParam, client_id: IdParam });
const readErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] };

/** OAuth clients of a tenant (client_credentials). */
export const clientRoutes: FastifyPluginAsyncTypebox<{ service: ClientService }> = async (app, { service }) => {
  app.post(
    '/api/v1/tenants/:tenant_id/clients',
    {
      config: { scope: 'clients:write' },
      schema: {
        summary: 'Create Client',
        // Not createClient &c.: a generated SDK's createClient makes its HTTP client.
        operationId: 'createApiClient',
        description: 'Create an API client. The response carries its secret, once; Arbor keeps only a hash.',
        tags,
        params: TenantParams,
        body: ref(ClientCreate),
        response: { 201: resource(ref(ApiResponseClientCreatedResponse)), ...readErrors, 413: errors[413], 415: errors[415] },
      },
    },
    async (request, reply) => {
      // The ETag is the client's as GET shows it; no-store is part of what a replay sends too.
      const answer = ({ client_secret, ...client }: ClientData & { client_secret: string | null }) => {
        const response = resourceResponse(request, { ...client, client_secret }, 201, client);
        return { ...response, headers: { ...response.headers, 'cache-control': 'no-store' } };
      };
      // A replay gets the client without its secret: Arbor never stores a secret (docs/events.md).
      const stored = writeContextOf(request, (client: ClientData) => answer({ ...client, client_secret: null }));
      return send(reply, answer(await service.create(stored, principalOf(request), accessOf(request), request.params.tenant_id, request.body)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/clients',
    {
      config: { scope: 'clients:read' },
      schema: {
        summary: 'List Clients',
        operationId: 'listApiClients',
        description: 'List the API clients of the tenant, by id.',
        tags,
        params: TenantParams,
        querystring: Query(PageQuery),
        response: { 200: success(ref(PaginatedResponseClientResponse)), ...readErrors },
      },
    },
    async (request) => {
      const { page, per_page, cursor } = request.query;
      return paginated(request, await service.list(accessOf(request), request.params.tenant_id, { page, per_page, cursor }));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/clients/:client_id',
    {
      config: { scope: 'clients:read' },
      schema: {
        summary: 'Get Client',
        operationId: 'getApiClient',
        description: 'Get an API client by ID.',
        tags,
        params: ClientParams,
        headers: ReadHeaders,
        response: { 200: resource(ref(ApiResponseClientResponse)), 304: NotModified, ...readErrors },
      },
    },
    async (request, reply) => sendResource(request, reply, await service.get(accessOf(request), request.params.tenant_id, request.params.client_id)),
  );

  app.delete(
    '/api/v1/tenants/:tenant_id/clients/:client_id',
    {
      config: { scope: 'clients:write' },
      schema: {
        summary: 'Delete Client',
        operationId: 'deleteApiClient',
        description: 'Delete an API client: its next token request fails; tokens it already holds expire as usual.',
        tags,
        params: ClientParams,
        headers: ConditionalWriteHeaders,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      await service.delete(writeContextOf(request), accessOf(request), request.params.tenant_id, request.params.client_id);
      return reply.code(204).send(null);
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { grants } from '../http/auth.js';
import { principalOf } from '../http/principal.js';
import { ok, paginated } from '../http/request-context.js';
import { ApiResponseClientCreatedResponse, ApiResponseClientResponse, ClientCreate, PaginatedResponseClientResponse } from '../schemas/clients.js';
import { IdParam, PageQuery, errors, ref, success } from '../schemas/common.js';
import type { ClientService } from '../services/client-service.js';
import type { Scope } from '../services/token-service.js';

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
        description: 'Create an API client. The response carries its secret, once; Arbor keeps only a hash.',
        tags,
        params: TenantParams,
        body: ref(ClientCreate),
        response: { 201: success(ref(ApiResponseClientCreatedResponse)), ...readErrors, 413: errors[413], 415: errors[415] },
      },
    },
    async (request, reply) => {
      reply.code(201).header('cache-control', 'no-store');
      const principal = principalOf(request);
      const mayGrant = (scope: string) => principal.kind === 'platform' || grants(principal.scopes, scope as Scope);
      return ok(request, await service.create(request.params.tenant_id, request.body, mayGrant));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/clients',
    {
      config: { scope: 'clients:read' },
      schema: {
        summary: 'List Clients',
        description: 'List the API clients of the tenant, by id.',
        tags,
        params: TenantParams,
        querystring: Type.Object(PageQuery),
        response: { 200: success(ref(PaginatedResponseClientResponse)), ...readErrors },
      },
    },
    async (request) => {
      const { page = 1, per_page = 20 } = request.query;
      return paginated(request, await service.list(request.params.tenant_id, { page, per_page }));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/clients/:client_id',
    {
      config: { scope: 'clients:read' },
      schema: { summary: 'Get Client', description: 'Get an API client by ID.', tags, params: ClientParams, response: { 200: success(ref(ApiResponseClientResponse)), ...readErrors } },
    },
    async (request) => ok(request, await service.get(request.params.tenant_id, request.params.client_id)),
  );

  app.delete(
    '/api/v1/tenants/:tenant_id/clients/:client_id',
    {
      config: { scope: 'clients:write' },
      schema: {
        summary: 'Delete Client',
        description: 'Delete an API client: its next token request fails; tokens it already holds expire as usual.',
        tags,
        params: ClientParams,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors },
      },
    },
    async (request, reply) => {
      await service.delete(request.params.tenant_id, request.params.client_id);
      return reply.code(204).send(null);
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/principal.js';
import { ok, paginated } from '../http/request-context.js';
import { IdParam, PageQuery, errors, ref, success } from '../schemas/common.js';
import { ApiResponseTenantResponse, PaginatedResponseTenantResponse, TenantCreate, TenantUpdate } from '../schemas/tenants.js';
import type { TenantService } from '../services/tenant-service.js';

const tags = ['Tenants'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const readErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] };
const writeErrors = { ...readErrors, 409: errors[409], 413: errors[413], 415: errors[415] };

/** Tenants. Only a platform token creates or deletes them; a tenant token sees its own. */
export const tenantRoutes: FastifyPluginAsyncTypebox<{ service: TenantService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants',
    {
      config: { scope: 'tenants:read' },
      schema: {
        summary: 'List Tenants',
        description: 'List tenants: all of them for a platform token, its own for a tenant token.',
        tags,
        querystring: Type.Object(PageQuery),
        response: { 200: success(ref(PaginatedResponseTenantResponse)), 401: errors[401], 403: errors[403], 422: errors[422] },
      },
    },
    async (request) => {
      const { page = 1, per_page = 20 } = request.query;
      const principal = principalOf(request);
      const onlyId = principal.kind === 'tenant' ? principal.tenantId : undefined;
      return paginated(request, await service.list({ page, per_page }, onlyId));
    },
  );

  app.post(
    '/api/v1/tenants',
    {
      config: { scope: 'platform:admin' },
      schema: {
        summary: 'Create Tenant',
        description: 'Create a tenant (platform tokens only).',
        tags,
        body: ref(TenantCreate),
        response: { 201: success(ref(ApiResponseTenantResponse)), ...writeErrors },
      },
    },
    async (request, reply) => {
      reply.code(201);
      return ok(request, await service.create(request.body));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id',
    {
      config: { scope: 'tenants:read' },
      schema: { summary: 'Get Tenant', description: 'Get a tenant by ID.', tags, params: TenantParams, response: { 200: success(ref(ApiResponseTenantResponse)), ...readErrors } },
    },
    async (request) => ok(request, await service.get(request.params.tenant_id)),
  );

  app.patch(
    '/api/v1/tenants/:tenant_id',
    {
      config: { scope: 'tenants:write' },
      schema: {
        summary: 'Update Tenant',
        description: 'Rename a tenant or change its slug.',
        tags,
        params: TenantParams,
        body: ref(TenantUpdate),
        response: { 200: success(ref(ApiResponseTenantResponse)), ...writeErrors },
      },
    },
    async (request) => ok(request, await service.update(request.params.tenant_id, request.body)),
  );

  app.delete(
    '/api/v1/tenants/:tenant_id',
    {
      config: { scope: 'platform:admin' },
      schema: {
        summary: 'Delete Tenant',
        description: 'Delete a tenant and everything in it (platform tokens only).',
        tags,
        params: TenantParams,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors },
      },
    },
    async (request, reply) => {
      await service.delete(request.params.tenant_id);
      return reply.code(204).send(null);
    },
  );
};

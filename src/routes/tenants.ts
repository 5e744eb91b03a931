import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/principal.js';
import { paginated } from '../http/request-context.js';
import { resourceResponse, send, sendResource, writeContextOf } from '../http/write-context.js';
import { ConditionalWriteHeaders, IdParam, NotModified, Nullable, PageQuery, Query, ReadHeaders, errors, ref, resource, success } from '../schemas/common.js';
import { ApiResponseTenantResponse, PaginatedResponseTenantResponse, TenantCreate, TenantUpdate } from '../schemas/tenants.js';
import type { TenantData, TenantService } from '../services/tenant-service.js';

const tags = ['Tenants'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const readErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] };
const writeErrors = { ...readErrors, 409: errors[409], 413: errors[413], 415: errors[415] };

/** Tenants. Only a platform token creates or deletes them; a tenant token sees its own. */
export const tenantRoutes: FastifyPluginAsyncTypebox<{ service: TenantService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants',
    {
      config: { scope: 'tenants:read', tenantWide: true },
      schema: {
        summary: 'List Tenants',
        description: 'List tenants: all of them for a platform token, its own for a tenant token.',
        tags,
        querystring: Query({
          ...PageQuery,
          search: Type.Optional(Nullable(Type.String({ maxLength: 255, description: 'Case-insensitive substring of the name or the slug; % _ and \\ match literally.' }))),
        }),
        response: { 200: success(ref(PaginatedResponseTenantResponse)), 401: errors[401], 403: errors[403], 422: errors[422] },
      },
    },
    async (request) => {
      const { page, per_page, cursor, search } = request.query;
      return paginated(request, await service.list(principalOf(request), { page, per_page, cursor }, search));
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
        response: { 201: resource(ref(ApiResponseTenantResponse)), ...writeErrors },
      },
    },
    async (request, reply) => {
      const answer = (tenant: TenantData) => resourceResponse(request, tenant, 201);
      return send(reply, answer(await service.create(writeContextOf(request, answer), request.body)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id',
    {
      config: { scope: 'tenants:read', tenantWide: true },
      schema: {
        summary: 'Get Tenant',
        description: 'Get a tenant by ID.',
        tags,
        params: TenantParams,
        headers: ReadHeaders,
        response: { 200: resource(ref(ApiResponseTenantResponse)), 304: NotModified, ...readErrors },
      },
    },
    async (request, reply) => sendResource(request, reply, await service.get(request.params.tenant_id)),
  );

  app.patch(
    '/api/v1/tenants/:tenant_id',
    {
      config: { scope: 'tenants:write', tenantWide: true },
      schema: {
        summary: 'Update Tenant',
        description: 'Rename a tenant or change its slug.',
        tags,
        params: TenantParams,
        headers: ConditionalWriteHeaders,
        body: ref(TenantUpdate),
        response: { 200: resource(ref(ApiResponseTenantResponse)), ...writeErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      const answer = (tenant: TenantData) => resourceResponse(request, tenant);
      return send(reply, answer(await service.update(writeContextOf(request, answer), request.params.tenant_id, request.body)));
    },
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
        headers: ConditionalWriteHeaders,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      await service.delete(writeContextOf(request), request.params.tenant_id);
      return reply.code(204).send(null);
    },
  );
};

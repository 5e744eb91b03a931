import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { paginated } from '../http/request-context.js';
import { resourceResponse, send, sendResource, writeContextOf } from '../http/write-context.js';
import { ConditionalWriteHeaders, IdParam, NotModified, PageQuery, Query, ReadHeaders, errors, ref, resource, success } from '../schemas/common.js';
import { ApiResponseUserResponse, PaginatedResponseUserResponse, UserCreate, UserStatus, UserUpdate } from '../schemas/users.js';
import { accessOf } from '../http/principal.js';
import type { UserResponseData, UserService } from '../services/user-service.js';

const tags = ['Users'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const UserParams = Type.Object({ tenant_id: IdParam, user_id: IdParam });
const writeErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 409: errors[409], 413: errors[413], 415: errors[415], 422: errors[422] };
const readErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] };

/** Users of a tenant; `ou_id` places a user in an OU or moves it between OUs. */
export const userRoutes: FastifyPluginAsyncTypebox<{ service: UserService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants/:tenant_id/users',
    {
      config: { scope: 'users:read' },
      schema: {
        summary: 'List Users',
        description: 'List users of the tenant, by id.',
        tags,
        params: TenantParams,
        querystring: Query({
          ...PageQuery,
          search: Type.Optional(Type.String({ maxLength: 255, description: 'Case-insensitive substring of the email or display name.' })),
          ou_id: Type.Optional(Type.String({ maxLength: 64, description: 'Direct users of this OU only.' })),
          status: Type.Optional(UserStatus),
        }),
        response: { 200: success(ref(PaginatedResponseUserResponse)), ...readErrors },
      },
    },
    async (request) => {
      const { page, per_page, cursor, ...filter } = request.query;
      return paginated(request, await service.list(accessOf(request), request.params.tenant_id, filter, { page, per_page, cursor }));
    },
  );

  app.post(
    '/api/v1/tenants/:tenant_id/users',
    {
      config: { scope: 'users:write' },
      schema: {
        summary: 'Create User',
        description: 'Create a user, optionally placed in an OU.',
        tags,
        params: TenantParams,
        body: ref(UserCreate),
        response: { 201: resource(ref(ApiResponseUserResponse)), ...writeErrors },
      },
    },
    async (request, reply) => {
      const answer = (user: UserResponseData) => resourceResponse(request, user, 201);
      return send(reply, answer(await service.create(writeContextOf(request, answer), accessOf(request), request.params.tenant_id, request.body)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/users/:user_id',
    {
      config: { scope: 'users:read' },
      schema: {
        summary: 'Get User',
        description: 'Get a user by ID.',
        tags,
        params: UserParams,
        headers: ReadHeaders,
        response: { 200: resource(ref(ApiResponseUserResponse)), 304: NotModified, ...readErrors },
      },
    },
    async (request, reply) => sendResource(request, reply, await service.get(accessOf(request), request.params.tenant_id, request.params.user_id)),
  );

  app.patch(
    '/api/v1/tenants/:tenant_id/users/:user_id',
    {
      config: { scope: 'users:write' },
      schema: {
        summary: 'Update User',
        description: 'Update a user; `ou_id` moves it to another OU (null: no OU).',
        tags,
        params: UserParams,
        headers: ConditionalWriteHeaders,
        body: ref(UserUpdate),
        response: { 200: resource(ref(ApiResponseUserResponse)), ...writeErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      const answer = (user: UserResponseData) => resourceResponse(request, user);
      return send(reply, answer(await service.update(writeContextOf(request, answer), accessOf(request), request.params.tenant_id, request.params.user_id, request.body)));
    },
  );

  app.delete(
    '/api/v1/tenants/:tenant_id/users/:user_id',
    {
      config: { scope: 'users:write' },
      schema: {
        summary: 'Delete User',
        description: 'Delete a user.',
        tags,
        params: UserParams,
        headers: ConditionalWriteHeaders,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors, 412: errors[412] },
      },
    },
    async (request, reply) => {
      await service.delete(writeContextOf(request), accessOf(request), request.params.tenant_id, request.params.user_id);
      return reply.code(204).send(null);
    },
  );
};

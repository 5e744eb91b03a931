import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accessOf } from '../http/principal.js';
import { paginated } from '../http/request-context.js';
import { resourceResponse, send, sendResource, writeContextOf } from '../http/write-context.js';
import { ConditionalWriteHeaders, IdParam, NotModified, PageQuery, Query, ReadHeaders, errors, ref, resource, success } from '../schemas/common.js';
import {
  ApiResponseRoleAssignmentResponse,
  PaginatedResponseRoleAssignmentResponse,
  RoleAssignmentCreate,
} from '../schemas/role-assignments.js';
import type { RoleAssignmentData, RoleAssignmentService } from '../services/role-assignment-service.js';

const tags = ['Role Assignments'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const AssignmentParams = Type.Object({ tenant_id: IdParam, assignment_id: IdParam });
const readErrors = { 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] };

/** Delegated administration: who holds which role, tenant-wide or over an OU subtree (docs/delegated-admin.md). */
export const roleAssignmentRoutes: FastifyPluginAsyncTypebox<{ service: RoleAssignmentService }> = async (app, { service }) => {
  app.post(
    '/api/v1/tenants/:tenant_id/role-assignments',
    {
      config: { scope: 'roles:write' },
      schema: {
        summary: 'Create Role Assignment',
        description:
          'Give a principal a role over the tenant (ou_id null) or an OU subtree. The caller must hold every permission of the role there itself, and cannot assign itself.',
        tags,
        params: TenantParams,
        body: ref(RoleAssignmentCreate),
        response: { 201: resource(ref(ApiResponseRoleAssignmentResponse)), ...readErrors, 409: errors[409], 413: errors[413], 415: errors[415] },
      },
    },
    async (request, reply) => {
      const answer = (assignment: RoleAssignmentData) => resourceResponse(request, assignment, 201);
      const ctx = writeContextOf(request, answer);
      return send(reply, answer(await service.create(ctx, accessOf(request), request.params.tenant_id, request.body)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/role-assignments',
    {
      config: { scope: 'roles:read' },
      schema: {
        summary: 'List Role Assignments',
        description: 'The role assignments the caller may see (those at OUs in its scope; tenant-wide ones only to a tenant-wide reader), by id.',
        tags,
        params: TenantParams,
        querystring: Query({
          ...PageQuery,
          principal_type: Type.Optional(Type.Union([Type.Literal('client'), Type.Literal('external')])),
          principal_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          ou_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Assignments at this OU only.' })),
        }),
        response: { 200: success(ref(PaginatedResponseRoleAssignmentResponse)), ...readErrors },
      },
    },
    async (request) => {
      const { page, per_page, cursor, ...filter } = request.query;
      return paginated(request, await service.list(accessOf(request), request.params.tenant_id, filter, { page, per_page, cursor }));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/role-assignments/:assignment_id',
    {
      config: { scope: 'roles:read' },
      schema: {
        summary: 'Get Role Assignment',
        description: 'Get a role assignment by ID.',
        tags,
        params: AssignmentParams,
        headers: ReadHeaders,
        response: { 200: resource(ref(ApiResponseRoleAssignmentResponse)), 304: NotModified, ...readErrors },
      },
    },
    async (request, reply) =>
      sendResource(request, reply, await service.get(accessOf(request), request.params.tenant_id, request.params.assignment_id)),
  );

  app.delete(
    '/api/v1/tenants/:tenant_id/role-assignments/:assignment_id',
    {
      config: { scope: 'roles:write' },
      schema: {
        summary: 'Delete Role Assignment',
        description: "Revoke a role assignment: on every instance within a second, the principal's next request no longer has it.",
        tags,
        params: AssignmentParams,
        headers: ConditionalWriteHeaders,
        response: { 204: Type.Null({ description: 'Successful Response' }), ...readErrors, 409: errors[409], 412: errors[412] },
      },
    },
    async (request, reply) => {
      await service.delete(writeContextOf(request), accessOf(request), request.params.tenant_id, request.params.assignment_id);
      return reply.code(204).send(null);
    },
  );
};

import { accessOf } from '../http/principal.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { paginated } from '../http/request-context.js';
import { IdParam, PageQuery, errors, ref, success, Query } from '../schemas/common.js';
import { PaginatedResponse } from '../schemas/users.js';
import type { OrgUnitUserService } from '../services/org-unit-user-service.js';

/** Users of an OU: the seventh endpoint of the OU contract. */
export const orgUnitUserRoutes: FastifyPluginAsyncTypebox<{ service: OrgUnitUserService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants/:tenant_id/ous/:ou_id/users',
    {
      // It reveals users, so it needs users:read (ous:read is not required).
      config: { scope: 'users:read' },
      schema: {
        summary: 'List Ou Users',
        description: 'List users in an organizational unit.',
        tags: ['Organizational Units'],
        params: Type.Object({ tenant_id: IdParam, ou_id: IdParam }),
        querystring: Query({
          ...PageQuery,
          include_nested: Type.Boolean({ default: false, description: 'true: users of the whole subtree.' }),
        }),
        response: { 200: success(ref(PaginatedResponse)), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
      },
    },
    async (request) => {
      const { page, per_page, cursor, include_nested } = request.query;
      const { tenant_id, ou_id } = request.params;
      return paginated(request, await service.listUsers(accessOf(request), tenant_id, ou_id, include_nested, { page, per_page, cursor }));
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accessOf } from '../http/principal.js';
import { ok } from '../http/request-context.js';
import { IdParam, errors, ref, success } from '../schemas/common.js';
import { ApiResponseListOUAncestor } from '../schemas/org-units.js';
import type { OrgUnitAncestryService } from '../services/org-unit-ancestry-service.js';

/** Where an OU is in the tree the caller browses (docs/org-units.md), beside the contract's OU endpoints. */
export const orgUnitAncestryRoutes: FastifyPluginAsyncTypebox<{ service: OrgUnitAncestryService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants/:tenant_id/ous/:ou_id/ancestry',
    {
      config: { scope: 'ous:read' },
      schema: {
        summary: 'Get Ou Ancestry',
        description:
          "The OU and its ancestors that the caller sees, root first (a delegated administrator's chain starts at its subtree's root), each with its position in the list a tree browser reads it from: a console opens its tree down to an OU found by search with one page of each list.",
        tags: ['Organizational Units'],
        params: Type.Object({ tenant_id: IdParam, ou_id: IdParam }),
        response: { 200: success(ref(ApiResponseListOUAncestor)), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
      },
    },
    async (request) => ok(request, await service.ancestry(accessOf(request), request.params.tenant_id, request.params.ou_id)),
  );
};

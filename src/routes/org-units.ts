import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import { accessOf } from '../http/principal.js';
import { meta, ok, paginated } from '../http/request-context.js';
import { resourceResponse, send, writeContextOf } from '../http/write-context.js';
import { sendRendered } from '../http/rendered-resource.js';
import { treeResponseChunks } from '../http/tree-json.js';
import { ConditionalWriteHeaders, DryRunQuery, IdParam, NotModified, Nullable, PageQuery, ReadHeaders, errors, ref, resource, success, Query } from '../schemas/common.js';
import {
  ApiResponseListOUTreeNode,
  ApiResponseOUDeleteOutcome,
  ApiResponseOUResponse,
  DeleteStrategy,
  OUCreate,
  OUUpdate,
  PaginatedResponseOUListItem,
} from '../schemas/org-units.js';
import type { OrgUnitDetail, OrgUnitService, OrgUnitUpdateResult } from '../services/org-unit-service.js';

const tags = ['Organizational Units'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const OuParams = Type.Object({ tenant_id: IdParam, ou_id: IdParam });

/** The OU endpoints of the contract (docs/api/organizational-units.md), users of an OU aside. */
export const orgUnitRoutes: FastifyPluginAsyncTypebox<{ service: OrgUnitService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants/:tenant_id/ous',
    {
      config: { scope: 'ous:read' },
      schema: {
        summary: 'List Ous',
        description: 'List organizational units in the tenant.',
        tags,
        params: TenantParams,
        querystring: Query({
          ...PageQuery,
          search: Type.Optional(Nullable(Type.String({ maxLength: 255, description: 'Case-insensitive substring of the name; % _ and \\ match literally.' }))),
          parent_id: Type.Optional(Nullable(Type.String({ maxLength: 64, description: 'Direct children of this OU only.' }))),
          top_level: Type.Optional(
            Type.Boolean({
              default: false,
              description: 'Only the OUs at the top of what the caller sees: those with no parent, or, for a principal delegated subtrees, the roots of its subtrees. Not with parent_id.',
            }),
          ),
        }),
        response: { 200: success(ref(PaginatedResponseOUListItem)), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
      },
    },
    async (request) => {
      const { page, per_page, cursor, search, parent_id, top_level } = request.query;
      return paginated(request, await service.list(accessOf(request), request.params.tenant_id, { search, parent_id, top_level }, { page, per_page, cursor }));
    },
  );

  app.post(
    '/api/v1/tenants/:tenant_id/ous',
    {
      config: { scope: 'ous:write' },
      schema: {
        summary: 'Create Ou',
        description: 'Create a new organizational unit.',
        tags,
        params: TenantParams,
        body: ref(OUCreate),
        response: {
          201: resource(ref(ApiResponseOUResponse)),
          401: errors[401],
          403: errors[403],
          404: errors[404],
          409: errors[409],
          413: errors[413],
          415: errors[415],
          422: errors[422],
        },
      },
    },
    async (request, reply) => {
      const answer = (ou: OrgUnitDetail) => resourceResponse(request, ou, 201);
      return send(reply, answer(await service.create(writeContextOf(request, answer), accessOf(request), request.params.tenant_id, request.body)));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/ous/tree',
    {
      config: { scope: 'ous:read' },
      schema: {
        summary: 'Get Ou Tree',
        description: 'Get organizational units as a tree structure.',
        tags,
        params: TenantParams,
        response: { 200: success(ref(ApiResponseListOUTreeNode)), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
      },
    },
    // Streamed as it is written, not through the schema's serializer: for 10^5 OUs that built
    // the whole text at once, checking the nullable, recursive `children` of every node, and
    // took most of the time and memory (docs/benchmarks.md). The text has the schema's shape:
    // test/routes/org-unit-tree.test.ts validates it.
    async (request, reply) => {
      const { roots, eventSeq } = await service.tree(accessOf(request), request.params.tenant_id);
      const body = Readable.from(treeResponseChunks(roots, { ...meta(request), event_seq: eventSeq }));
      return reply.type('application/json; charset=utf-8').send(body as never);
    },
  );

  app.delete(
    '/api/v1/tenants/:tenant_id/ous/:ou_id',
    {
      config: { scope: 'ous:write' },
      schema: {
        summary: 'Delete Ou',
        description:
          'Delete an organizational unit.\n\nstrategy:\n- BLOCK: Fail if has users or child OUs\n- MOVE_UP: Move users and child OUs to parent\n- CASCADE: Delete child OUs (users moved to parent)',
        tags,
        params: OuParams,
        headers: ConditionalWriteHeaders,
        querystring: Query({ strategy: Type.Optional(DeleteStrategy), ...DryRunQuery }),
        response: {
          200: success(ref(ApiResponseOUDeleteOutcome)),
          204: Type.Null({ description: 'Successful Response' }),
          401: errors[401],
          403: errors[403],
          404: errors[404],
          409: errors[409],
          412: errors[412],
          422: errors[422],
        },
      },
    },
    async (request, reply) => {
      const { tenant_id, ou_id } = request.params;
      const outcome = await service.delete(writeContextOf(request), accessOf(request), tenant_id, ou_id, request.query.strategy ?? 'BLOCK');
      return request.query.dry_run ? ok(request, outcome) : reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/ous/:ou_id',
    {
      config: { scope: 'ous:read' },
      schema: {
        summary: 'Get Ou',
        description: 'Get an organizational unit by ID.',
        tags,
        params: OuParams,
        headers: ReadHeaders,
        response: { 200: resource(ref(ApiResponseOUResponse)), 304: NotModified, 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
      },
    },
    async (request, reply) => sendRendered(request, reply, await service.getRendered(accessOf(request), request.params.tenant_id, request.params.ou_id)),
  );

  app.patch(
    '/api/v1/tenants/:tenant_id/ous/:ou_id',
    {
      config: { scope: 'ous:write' },
      schema: {
        summary: 'Update Ou',
        description: 'Update an organizational unit.',
        tags,
        params: OuParams,
        headers: ConditionalWriteHeaders,
        querystring: Query(DryRunQuery),
        body: ref(OUUpdate),
        response: {
          200: resource(ref(ApiResponseOUResponse)),
          412: errors[412],
          401: errors[401],
          403: errors[403],
          404: errors[404],
          409: errors[409],
          413: errors[413],
          415: errors[415],
          422: errors[422],
        },
      },
    },
    async (request, reply) => {
      const answer = ({ ou }: OrgUnitUpdateResult) => resourceResponse(request, ou);
      const result = await service.update(writeContextOf(request, answer), accessOf(request), request.params.tenant_id, request.params.ou_id, request.body);
      if (!request.query.dry_run) return send(reply, answer(result));
      return { data: result.ou, meta: { ...meta(request), dry_run: { descendant_paths_changed: result.descendantPathsChanged } } };
    },
  );
};

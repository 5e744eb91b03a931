import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ForbiddenError, RequestValidationError } from '../errors.js';
import { dnParameterIssue } from '../lib/dn.js';
import { accessOf } from '../http/principal.js';
import { IdParam, Query, errors } from '../schemas/common.js';
import { reachesNothing } from '../services/access.js';
import type { ExportService } from '../services/export-service.js';
import { grants } from '../services/token-service.js';

const MEDIA_TYPE = { ldif: 'application/ldif', csv: 'text/csv; charset=utf-8', json: 'application/json' } as const;

/** The whole tenant (or the caller's subtrees) as a file: docs/import-export.md. */
export const exportRoutes: FastifyPluginAsyncTypebox<{ service: ExportService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants/:tenant_id/export',
    {
      config: { scope: 'ous:read' },
      schema: {
        summary: 'Export Tenant',
        description:
          "The tenant's OUs and users from one consistent snapshot, streamed: LDIF that slapadd and ldapadd accept, CSV (Google Workspace's user columns, or with kind=ous the OU list), or JSON (what an import reads back). Needs `ous:read` and `users:read`; a delegated administrator gets its subtrees. The `X-Arbor-Event-Seq` header names the last event the export reflects: read the change feed after it to stay in step.",
        tags: ['Imports'],
        params: Type.Object({ tenant_id: IdParam }),
        querystring: Query({
          format: Type.Union([Type.Literal('ldif'), Type.Literal('csv'), Type.Literal('json')], { default: 'json' }),
          base_dn: Type.String({ default: 'o=arbor', maxLength: 1024, description: 'LDIF: the DN the root level maps to.' }),
          base_entry: Type.Boolean({ default: true, description: 'LDIF: write the base entry first (false for ldapadd into an existing suffix).' }),
          kind: Type.Union([Type.Literal('users'), Type.Literal('ous')], { default: 'users', description: 'CSV: users, or the OU list (path,description).' }),
        }),
        response: {
          200: {
            description: 'The file.',
            content: {
              'application/ldif': { schema: { type: 'string' } },
              'text/csv': { schema: { type: 'string' } },
              'application/json': { schema: { type: 'object', additionalProperties: true } },
            },
            headers: { 'x-arbor-event-seq': { type: 'integer', description: 'The last event seq the export reflects.' } },
          },
          401: errors[401],
          403: errors[403],
          404: errors[404],
          422: errors[422],
        },
      },
    },
    async (request, reply) => {
      const access = accessOf(request);
      const principal = request.principal;
      if (principal && principal.kind !== 'platform' && !grants(principal.scopes, 'users:read')) {
        throw new ForbiddenError('auth.insufficient_scope', "An export needs the scope 'users:read' too, which the token does not carry.", {
          'www-authenticate': 'Bearer realm="arbor", error="insufficient_scope", scope="ous:read users:read"',
        });
      }
      if (reachesNothing(access.reach('users:read'))) {
        throw new ForbiddenError('auth.no_role', "This principal holds no role assignment in this tenant that grants 'users:read', which an export needs.");
      }
      const { format, base_dn, base_entry, kind } = request.query;
      const issue = dnParameterIssue(base_dn, 'base_dn');
      if (issue) throw new RequestValidationError([issue]);
      const { seq, body } = await service.start(access, request.params.tenant_id, { format, baseDn: base_dn, baseEntry: base_entry, kind });
      const extension = format === 'csv' ? `${kind}.csv` : format;
      reply
        .header('content-type', MEDIA_TYPE[format])
        .header('content-disposition', `attachment; filename="${request.params.tenant_id}-${seq}.${extension}"`)
        .header('x-arbor-event-seq', String(seq))
        .header('cache-control', 'no-store');
      return reply.send(body as never);
    },
  );
};

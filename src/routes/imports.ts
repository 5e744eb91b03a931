import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, ForbiddenError, RequestValidationError } from '../errors.js';
import { dnParameterIssue } from '../lib/dn.js';
import { drainRejectedBody } from '../http/error-handler.js';
import { accessOf } from '../http/principal.js';
import { ok } from '../http/request-context.js';
import { send, writeContextOf } from '../http/write-context.js';
import { buildValidator } from '../http/validation.js';
import { IdParam, Query, errors, ref, success } from '../schemas/common.js';
import { ApiResponseImportJob } from '../schemas/imports.js';
import { reachesNothing } from '../services/access.js';
import type { ImportFormat } from '../services/import-formats.js';
import { type ImportService, TooLarge } from '../services/import-service.js';
import { grants } from '../services/token-service.js';

const tags = ['Imports'];
const TenantParams = Type.Object({ tenant_id: IdParam });
const ImportParams = Type.Object({ tenant_id: IdParam, import_id: IdParam });

/** The media types an import reads, by format (the `format` parameter overrides Content-Type). */
const MEDIA_TYPES: Record<ImportFormat, string[]> = {
  ldif: ['application/ldif', 'text/ldif', 'text/x-ldif', 'application/x-ldif'],
  csv: ['text/csv', 'application/csv'],
  json: ['application/json'],
};

function formatOf(request: FastifyRequest, given: ImportFormat | undefined): ImportFormat {
  if (given) return given;
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  for (const [format, types] of Object.entries(MEDIA_TYPES)) if (types.includes(type)) return format as ImportFormat;
  throw new AppError(
    415,
    'import.unsupported_format',
    `An import reads LDIF (Content-Type: application/ldif), CSV (text/csv) or JSON (application/json); this body is '${type || 'untyped'}'. Set Content-Type, or the format parameter.`,
  );
}

/**
 * Imports (docs/import-export.md). The body is not parsed by Fastify: it reaches the service as
 * the stream it is, read as it arrives, up to ARBOR_IMPORT_MAX_BYTES rather than the JSON body
 * limit.
 */
export const importRoutes: FastifyPluginAsyncTypebox<{ service: ImportService; maxBytes: number; drainMs: number }> = async (app, { service, maxBytes, drainMs }) => {
  // This plugin's own parsers (encapsulated): every body is handed over unread.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  const compile = buildValidator(app.getSchemas());

  app.post(
    '/api/v1/tenants/:tenant_id/imports',
    {
      config: { scope: 'ous:write' },
      // The body is a stream the service reads; query and path are validated as everywhere.
      validatorCompiler: (part) => (part.httpPart === 'body' ? () => true : compile(part)),
      schema: {
        summary: 'Create Import',
        description:
          "Import a file of OUs and users: LDIF (RFC 2849, as slapcat and ldifde write it), CSV (Google Workspace's user export, or an OU list with `path,description`) or JSON (the export's shape). Needs `ous:write` and `users:write`; a delegated administrator imports within its subtrees only. The body is received as it arrives; the answer comes once all of it is, with the job, which then reads and applies it (GET the job until `state` is no longer `running`).",
        tags,
        params: TenantParams,
        consumes: [...MEDIA_TYPES.ldif.slice(0, 1), ...MEDIA_TYPES.csv.slice(0, 1), ...MEDIA_TYPES.json],
        body: Type.String({ format: 'binary', description: 'The file.' }),
        querystring: Query({
          format: Type.Optional(Type.Union([Type.Literal('ldif'), Type.Literal('csv'), Type.Literal('json')], { description: 'Overrides Content-Type.' })),
          dry_run: Type.Boolean({ default: false, description: 'true: read, check and report what would be created, updated, skipped and deleted; change nothing.' }),
          on_conflict: Type.Union([Type.Literal('fail'), Type.Literal('skip'), Type.Literal('overwrite')], {
            default: 'fail',
            description: 'An entry that matches an existing OU or user (by external_id, then path or email): fail (reject it), skip it, or overwrite its fields.',
          }),
          base_dn: Type.Optional(Type.String({ maxLength: 1024, description: 'LDIF: the DN mapped to the root level. Default: the parent of the first OU or user entry.' })),
          prune: Type.Boolean({ default: false, description: 'true: delete the OUs and users (within your reach) that the file does not name.' }),
          max_deletes: Type.Integer({ default: 500, minimum: 0, maximum: 2_147_483_647, description: 'With prune: the import fails, changing nothing, if it would delete more.' }),
          atomic: Type.Boolean({ default: true, description: 'true: any rejected entry fails the whole import, changing nothing; false: rejected entries are left out and the rest lands.' }),
        }),
        response: {
          202: { ...ref(ApiResponseImportJob), description: 'The file was received: the job, with its Location, applying it (or already failed: an empty file).' },
          401: errors[401],
          403: errors[403],
          404: errors[404],
          413: errors[413],
          415: errors[415],
          422: errors[422],
        },
      },
    },
    async (request, reply) => {
      const access = accessOf(request);
      // Both halves of an import: the route's scope covers OUs, this the users.
      const principal = request.principal;
      if (principal && principal.kind !== 'platform' && !grants(principal.scopes, 'users:write')) {
        throw new ForbiddenError('auth.insufficient_scope', "An import needs the scope 'users:write' too, which the token does not carry.", {
          'www-authenticate': 'Bearer realm="arbor", error="insufficient_scope", scope="ous:write users:write"',
        });
      }
      if (reachesNothing(access.reach('users:write'))) {
        throw new ForbiddenError('auth.no_role', "This principal holds no role assignment in this tenant that grants 'users:write', which an import needs.");
      }
      const { format: given, dry_run, on_conflict, base_dn, prune, max_deletes, atomic } = request.query;
      const format = formatOf(request, given);
      const issue = base_dn === undefined ? null : dnParameterIssue(base_dn, 'base_dn');
      if (issue) throw new RequestValidationError([issue]);
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        drainRejectedBody(request, drainMs);
        throw new AppError(413, 'request.body_too_large', `The file is ${declared} bytes; an import reads at most ${maxBytes} (ARBOR_IMPORT_MAX_BYTES).`);
      }
      // A request without a body never reaches the parser: it is an empty file, as one with Content-Length: 0.
      const body = (request.body ?? Readable.from([])) as unknown as AsyncIterable<Uint8Array>;
      const options = { format, dry_run, on_conflict, base_dn: base_dn ?? null, prune, max_deletes, atomic };
      const answer = (job: { id: string; tenant_id: string }) => ({
        status: 202,
        headers: { location: `/api/v1/tenants/${job.tenant_id}/imports/${job.id}` },
        body: ok(request, job),
      });
      let job;
      try {
        job = await service.start(writeContextOf(request, answer as never), access, request.params.tenant_id, options, body, maxBytes);
      } catch (error) {
        if (!(error instanceof TooLarge)) throw error;
        drainRejectedBody(request, drainMs);
        throw new AppError(413, 'request.body_too_large', `The file is larger than ${error.limit} bytes, the most an import reads (ARBOR_IMPORT_MAX_BYTES); nothing was changed.`);
      }
      // Stopped reading early (too many rejected entries): the rest is discarded, not reset.
      if (!request.raw.complete) drainRejectedBody(request, drainMs);
      return send(reply, answer(job));
    },
  );

  app.get(
    '/api/v1/tenants/:tenant_id/imports/:import_id',
    {
      config: { scope: 'ous:write' },
      schema: {
        summary: 'Get Import',
        description: 'An import job: its state, progress and, once done, its report of rejected entries.',
        tags,
        params: ImportParams,
        response: { 200: success(ref(ApiResponseImportJob)), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
      },
    },
    async (request) => ok(request, await service.get(accessOf(request), request.params.tenant_id, request.params.import_id)) as never,
  );
};

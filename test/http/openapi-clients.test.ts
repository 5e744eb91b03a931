import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/error-codes.js';
import { operationIdOf } from '../../src/http/openapi-conventions.js';
import { ROOT } from '../helpers/server-process.js';
import { useTestApp } from '../helpers/test-app.js';

/**
 * What a client generator needs of /openapi.json beyond the contract page (issue 15, tried as an
 * integrator would): operation ids, a server, the public routes saying they are public, typed
 * rows and error codes, the token endpoint's form, and `redocly lint` with no error.
 */

type Operation = { operationId?: string; security?: unknown[]; requestBody?: { content: Record<string, { schema: unknown }> } };
interface Document {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> };
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('the OpenAPI document for client generators', () => {
  const t = useTestApp();
  const load = async () => (await t.ctx.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Document;
  const operations = (doc: Document) =>
    Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).filter(([method]) => METHODS.includes(method)).map(([method, op]) => ({ method, path, op })));

  it('gives every operation an operationId, unique, and the OU operations the names of their summaries', async () => {
    const doc = await load();
    const ids = operations(doc).map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]*$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const ous = '/api/v1/tenants/{tenant_id}/ous';
    expect(doc.paths[ous].get.operationId).toBe('listOus');
    expect(doc.paths[`${ous}/{ou_id}/users`].get.operationId).toBe('listOuUsers');
    expect(doc.paths[`${ous}/tree`].get.operationId).toBe('getOuTree');
    expect(operationIdOf('Authorization Server Metadata')).toBe('authorizationServerMetadata');
    expect(operationIdOf('JWKS')).toBe('jwks');
  });

  it('names this instance as its server', async () => {
    expect((await load()).servers).toEqual([{ url: t.ctx.config.issuer, description: expect.any(String) }]);
  });

  it('declares security: [] on exactly the routes that take no token, and a bearer scope on every other', async () => {
    const doc = await load();
    const open = operations(doc).filter(({ op }) => Array.isArray(op.security) && op.security.length === 0).map(({ method, path }) => `${method} ${path}`);
    expect(open.sort()).toEqual([
      'get /.well-known/jwks.json',
      'get /.well-known/oauth-authorization-server',
      'get /.well-known/oauth-protected-resource',
      'get /healthz',
      'get /readyz',
      'post /oauth/token',
    ]);
    for (const { method, path, op } of operations(doc).filter(({ path }) => path.startsWith('/api/'))) {
      expect(op.security, `${method} ${path}`).toEqual([{ bearerAuth: [expect.any(String)] }]);
    }
  });

  it('types the rows of an OU’s users page (PaginatedResponse) as UserResponse', async () => {
    const { components } = await load();
    expect(components.schemas.PaginatedResponse.properties.data).toEqual({ type: 'array', items: { $ref: '#/components/schemas/UserResponse' } });
  });

  it('lists every error code as the values of ErrorResponse.code, each with its meaning', async () => {
    const code = (await load()).components.schemas.ErrorResponse.properties.code;
    expect(code.enum).toEqual(Object.keys(ERROR_CODES));
    expect(code['x-enum-descriptions']).toEqual(Object.values(ERROR_CODES));
  });

  it('answers with codes of that list (a missing OU, an unknown route, a wrong method)', async () => {
    const tenant = await t.ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: t.ctx.platformHeaders, payload: { name: 'Codes' } });
    const headers = await t.ctx.headersFor(tenant.json().data.id);
    const answers = [
      await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.json().data.id}/ous/ou_missing`, headers }),
      await t.ctx.app.inject({ method: 'GET', url: '/api/v1/nothing-here' }),
      await t.ctx.app.inject({ method: 'PUT', url: '/healthz' }),
    ];
    expect(answers.map((answer) => answer.json().code)).toEqual(['ou.not_found', 'route.not_found', 'request.method_not_allowed']);
    for (const answer of answers) expect(Object.keys(ERROR_CODES)).toContain(answer.json().code);
  });

  it('declares the token endpoint’s form body (TokenRequest), the only media type it reads', async () => {
    const doc = await load();
    const body = doc.paths['/oauth/token'].post.requestBody;
    expect(Object.keys(body?.content ?? {})).toEqual(['application/x-www-form-urlencoded']);
    expect(body?.content['application/x-www-form-urlencoded'].schema).toEqual({ $ref: '#/components/schemas/TokenRequest' });
  });

  it('passes `redocly lint` with no error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(await load(), null, 2));
      const cli = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
      const result = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile(process.execPath, [cli, 'lint', '--config', join(ROOT, 'redocly.yaml'), '--format', 'stylish', file], { cwd: dir, timeout: 120_000, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` }),
        );
      });
      expect(result.code, result.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a wrong method on a known path', () => {
  const t = useTestApp();

  it('answers 405 with Allow listing the methods the path has, before any token is asked for', async () => {
    const response = await t.ctx.app.inject({ method: 'PUT', url: '/api/v1/tenants/tnt_x/ous/ou_y' });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow?.toString().split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD', 'PATCH']);
    expect(response.json()).toEqual({ detail: expect.stringContaining('has GET'), code: 'request.method_not_allowed' });
  });

  it('answers 405 for POST on the tree and on /healthz, with their methods', async () => {
    const tree = await t.ctx.app.inject({ method: 'POST', url: '/api/v1/tenants/tnt_x/ous/tree', payload: {} });
    // /ous/{ou_id} matches too: "tree" could be an OU id, and it has no POST either.
    expect(tree.statusCode).toBe(405);
    expect(tree.headers.allow?.toString().split(', ')).toEqual(expect.arrayContaining(['GET', 'HEAD']));
    const health = await t.ctx.app.inject({ method: 'DELETE', url: '/healthz' });
    expect(health.statusCode).toBe(405);
    expect(health.headers.allow?.toString().split(', ').sort()).toEqual(['GET', 'HEAD']);
  });

  it('still answers 404 route.not_found for a path no route has, whatever the method', async () => {
    for (const method of ['GET', 'POST'] as const) {
      const response = await t.ctx.app.inject({ method, url: '/api/v1/tenants/tnt_x/nothing' });
      expect(response.statusCode).toBe(404);
      expect(response.json().code).toBe('route.not_found');
      expect(response.headers.allow).toBeUndefined();
    }
  });
});

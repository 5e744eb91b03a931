import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Config } from './config.js';
import { type Store, openStore } from './db/database.js';
import { migrateToLatest } from './db/migrator.js';
import { registerAuth } from './http/auth.js';
import { registerErrorHandling } from './http/error-handler.js';
import { requestIdOf } from './http/request-context.js';
import { buildValidator } from './http/validation.js';
import { healthRoutes } from './routes/health.js';
import { orgUnitUserRoutes } from './routes/org-unit-users.js';
import { orgUnitRoutes } from './routes/org-units.js';
import { tenantRoutes } from './routes/tenants.js';
import { userRoutes } from './routes/users.js';
import { registerSchemas } from './schemas/index.js';
import { createOrgUnitService } from './services/org-unit-service.js';
import { createTenantService } from './services/tenant-service.js';
import { type TokenService, createTokenService } from './services/token-service.js';
import { createUserService } from './services/user-service.js';

export interface BuildAppOptions {
  /** A store to use instead of opening `config.databaseUrl` (the caller then closes it). */
  store?: Store;
  /** false: no logs (tests). */
  logger?: false;
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
}

export interface App {
  app: FastifyInstance;
  store: Store;
  tokens: TokenService;
}

export const API_VERSION = '0.1.0';

function loggerOptions(config: Config, stream?: BuildAppOptions['logStream']): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    ...(stream ? { stream } : {}),
    // Tokens and secrets never reach the logs, whatever a serializer is later taught to print.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '[redacted]' },
  };
}

/** Builds the whole service, migrated and ready, but not listening (server.ts listens; tests inject). */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<App> {
  const store = options.store ?? openStore(config.databaseUrl);
  await migrateToLatest(store.db);
  await store.optimize();
  const tokens = createTokenService({ store, issuer: config.issuer, audience: config.audience, ttlSeconds: config.tokenTtlSeconds });
  await tokens.ensureSigningKey();

  const app = Fastify({
    logger: options.logger === false ? false : loggerOptions(config, options.logStream),
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestIdOf,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    // Bodies and query strings need different coercion: see http/validation.ts.
    schemaController: { compilersFactory: { buildValidator: buildValidator as never } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  if (!options.store) app.addHook('onClose', () => store.close());
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // The API speaks JSON only: a text/plain body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  // An empty body with a JSON content type (common on DELETE) is "no body", not a syntax error.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return parseJson(request, body as string, done);
  });

  registerSchemas(app);
  registerErrorHandling(app);
  registerAuth(app, tokens);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Arbor',
        version: API_VERSION,
        description: 'Organizational units, users and tenants of a multi-tenant identity platform.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    // Name components after the schemas' $id (OUResponse, ...) instead of def-0, def-1, ...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const orgUnitService = createOrgUnitService({ store, maxDepth: config.maxOuDepth });
  await app.register(healthRoutes);
  await app.register(tenantRoutes, { service: createTenantService({ store }) });
  await app.register(orgUnitRoutes, { service: orgUnitService });
  await app.register(orgUnitUserRoutes, { service: orgUnitService });
  await app.register(userRoutes, { service: createUserService({ store }) });
  await app.ready();
  return { app, store, tokens };
}

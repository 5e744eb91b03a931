import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { type Config, isPostgresUrl, sqliteFile } from './config.js';
import { type Store, openStore } from './db/store.js';
import { migrateToLatest } from './db/migrator.js';
import { pick } from './db/repositories/index.js';
import { registerAuth } from './http/auth.js';
import { registerConsole } from './http/console.js';
import { registerErrorHandling } from './http/error-handler.js';
import { registerOpenApiConventions } from './http/openapi-conventions.js';
import { registerUnknownRoutes } from './http/unknown-routes.js';
import { clientErrorHandler, frameworkErrors, httpServerOptions, registerLoadShedding, registerParameterChecks, registerRateLimit, registerRequestLimits } from './http/protection.js';
import { registerRequestContext, requestIdOf, runInRequestScope } from './http/request-context.js';
import { registerRequestMetrics } from './http/request-metrics.js';
import { childLoggerWithTraceId, registerTraceContext } from './http/request-trace.js';
import { type Metrics, createMetrics } from './metrics/metrics.js';
import { buildValidator, inspectBody } from './http/validation.js';
import { RequestValidationError } from './errors.js';
import { registerIdempotency } from './http/idempotency.js';
import { lazySerializers } from './http/lazy-serializers.js';
import { clientRoutes } from './routes/clients.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { exportRoutes } from './routes/exports.js';
import { importRoutes } from './routes/imports.js';
import { oauthRoutes } from './routes/oauth.js';
import { orgUnitUserRoutes } from './routes/org-unit-users.js';
import { orgUnitRoutes } from './routes/org-units.js';
import { orgUnitAncestryRoutes } from './routes/org-unit-ancestry.js';
import { roleAssignmentRoutes } from './routes/role-assignments.js';
import { tenantRoutes } from './routes/tenants.js';
import { userRoutes } from './routes/users.js';
import { registerSchemas } from './schemas/index.js';
import { createClientService } from './services/client-service.js';
import { createOAuthService } from './services/oauth-service.js';
import { ChangeSignal } from './services/change-signal.js';
import { createEventService } from './services/event-service.js';
import { createIdempotencyService } from './services/idempotency-service.js';
import { createOrgUnitService } from './services/org-unit-service.js';
import { createOrgUnitAncestryService } from './services/org-unit-ancestry-service.js';
import { createOrgUnitUserService } from './services/org-unit-user-service.js';
import { createRoleAssignmentService } from './services/role-assignment-service.js';
import { createAccessService } from './services/access-service.js';
import { StoreHealth } from './services/store-health.js';
import { createTenantService } from './services/tenant-service.js';
import { type TokenService, createTokenService } from './services/token-service.js';
import { createUserService } from './services/user-service.js';
import { type LookupAll, systemLookup } from './services/webhook-address-guard.js';
import { createWebhookDispatcher } from './services/webhook-dispatcher.js';
import { createImportService } from './services/import-service.js';
import { createExportService } from './services/export-service.js';
import { createSecretBox, fallbackSecretsKey } from './services/webhook-secrets.js';
import { createWebhookSender } from './services/webhook-sender.js';
import { createWebhookService } from './services/webhook-service.js';
import { webhookRoutes } from './routes/webhooks.js';

export interface BuildAppOptions {
  /** A store to use instead of opening `config.databaseUrl` (the caller then closes it). */
  store?: Store;
  /** false: no logs (tests). */
  logger?: false;
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
  /** Ensure the platform admin client at start (default true; tests that don't need it skip the hashing). */
  bootstrapAdminClient?: boolean;
  /** Registers more routes beside Arbor's own before the app is ready (the benchmark's ceiling routes). */
  extraRoutes?: (app: FastifyInstance) => void;
  /** How webhook hosts are resolved (tests map names to addresses of each class; default: the system resolver). */
  webhookLookup?: LookupAll;
  /** Told each address a webhook delivery connects to, after every check (tests: a loopback-only tripwire). */
  webhookBeforeConnect?: (address: string) => void;
  /** Compile every response serializer at start (a test proves they all compile); default: on first use. */
  eagerSerializers?: boolean;
}

export interface App {
  app: FastifyInstance;
  store: Store;
  tokens: TokenService;
  /** Credentials of a platform client generated by this start, to be shown once; else null. */
  generatedAdminClient: { id: string; secret: string } | null;
  /**
   * Ensures the platform admin client (ARBOR_ADMIN_CLIENT_*, or one generated when the store has
   * none): its credentials when generated now, to be shown once; else null. server.ts calls it
   * once it listens, so that a start that cannot bind creates no secret nobody saw.
   */
  ensureAdminClient(): Promise<{ id: string; secret: string } | null>;
  /** Every route the app registered, with the scope it declares (tests enumerate them). */
  routes: RegisteredRoute[];
  /** What `/metrics` serves (server.ts starts its listener: metrics/metrics-server.ts); null when ARBOR_METRICS_PORT is 0. */
  metrics: Metrics | null;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  scope: string | undefined;
  /** Refused to a principal scoped to OU subtrees (config.tenantWide). */
  tenantWide: boolean;
}

export const API_VERSION = '0.1.0';
const OPTIMIZE_INTERVAL_MS = 5 * 60_000;
/** How often expired events and idempotency keys are pruned. */
const PRUNE_INTERVAL_MS = 10 * 60_000;
/** How often a long-polling feed reader's instance looks for other instances' commits (within 200 ms on PostgreSQL, 1 s on SQLite). */
const FEED_POLL_MS = { postgres: 100, sqlite: 500 } as const;

function loggerOptions(config: Config, stream?: BuildAppOptions['logStream']): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    ...(stream ? { stream } : {}),
    // Tokens and secrets never reach the logs, whatever a serializer is later taught to print.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '[redacted]' },
    serializers: {
      // A client may put a token or secret in the query string; the URL is logged without them.
      req: (request: { method: string; url: string; hostname?: string; ip?: string }) => ({
        method: request.method,
        url: redactQuery(request.url),
        host: request.hostname,
        remoteAddress: request.ip,
      }),
    },
  };
}

const SECRET_PARAMETERS = /([?&](?:access_token|client_secret|token|password)=)[^&]*/gi;

/** `url` with the values of credential-carrying query parameters replaced. */
export function redactQuery(url: string): string {
  return url.replace(SECRET_PARAMETERS, '$1[redacted]');
}

/** Builds the whole service, migrated and ready, but not listening (server.ts listens; tests inject). */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<App> {
  // The store can fail outside a request (an idle PostgreSQL connection, a WAL checkpoint)
  // before the app and its logger exist.
  let logBackgroundError = (error: Error, meaning: string) => console.error(`${meaning}:`, error.message);
  const open = (poolSize: number) =>
    openStore(config.databaseUrl, {
      poolSize,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      queryTimeoutMs: config.dbQueryTimeoutMs,
      preparedStatements: config.dbPreparedStatements,
      onBackgroundError: (error, meaning) => logBackgroundError(error, meaning),
    });
  const store = options.store ?? open(config.dbPoolSize);
  await migrateToLatest(store.db);
  await store.optimize();
  const tokens = createTokenService({
    store,
    issuer: config.issuer,
    audience: config.audience,
    ttlSeconds: config.tokenTtlSeconds,
    cacheSize: config.tokenCacheSize,
    externalIdp: config.externalIdp,
  });
  await tokens.ensureSigningKey();
  const changes = new ChangeSignal(store.db, FEED_POLL_MS[store.dialect]);
  // Set once the webhook dispatcher exists: a commit here is delivered without waiting for its poll.
  let kickWebhooks = () => {};
  const onEventsCommitted = (tenantId: string) => {
    changes.committed(tenantId);
    kickWebhooks();
  };
  const access = createAccessService({ store });
  const onRolesChanged = () => access.invalidate();
  const clientService = createClientService({ store, onEventsCommitted, onRolesChanged });
  const ensureAdminClient = () => clientService.ensurePlatformClient(config.adminClient);
  const generatedAdminClient = options.bootstrapAdminClient === false ? null : await ensureAdminClient();

  const app = Fastify({
    logger: options.logger === false ? false : loggerOptions(config, options.logStream),
    bodyLimit: config.bodyLimitBytes,
    // Explicit timeouts: a slow or stalled client cannot hold a connection and its memory forever.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: httpServerOptions(config),
    clientErrorHandler,
    frameworkErrors,
    // Path segments are bounded by the URL limit; an over-long id is then a 422 from its schema.
    routerOptions: { maxParamLength: config.maxUrlBytes },
    // Behind a load balancer the client address (for the token endpoint's limit) is in X-Forwarded-For.
    trustProxy: config.trustProxy as boolean, // a hop count is valid too (proxy-addr), though the types omit it
    genReqId: requestIdOf,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    // Every log line of a request carries its W3C trace id too (http/request-trace.ts).
    childLoggerFactory: childLoggerWithTraceId,
    // Bodies and query strings need different coercion: see http/validation.ts.
    schemaController: { compilersFactory: { buildValidator: buildValidator as never, ...(options.eagerSerializers ? {} : { buildSerializer: lazySerializers as never }) } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Off with ARBOR_METRICS_PORT=0: then not even the hooks run.
  const metrics =
    config.metricsPort === 0
      ? null
      : createMetrics({
          tokenCache: () => tokens.cacheStats(),
          monitoring: pick(store.db, ['monitoring']).monitoring,
          onStoreReadError: (error) => app.log.warn({ err: error }, 'metrics: reading the change feed and webhook backlog failed'),
        });
  metrics?.watchPool('main', () => store.poolStats());
  logBackgroundError = (error, meaning) => {
    metrics?.storeError(error);
    app.log.warn({ err: error }, meaning);
  };
  // Planner statistics go stale as a store fills up; PRAGMA optimize only re-analyzes where
  // they have, so running it every few minutes costs nothing when little changed.
  const optimizer = setInterval(() => {
    store.optimize().catch((error: unknown) => app.log.warn({ err: error }, 'PRAGMA optimize failed'));
  }, OPTIMIZE_INTERVAL_MS).unref();
  // Set once the webhook dispatcher exists: its deliveries in flight end before the store closes.
  let stopWebhooks = async () => {};
  app.addHook('onClose', async () => {
    clearInterval(optimizer);
    changes.close();
    await stopWebhooks();
    if (options.store) return;
    await store.optimize();
    await store.close();
  });
  registerRequestContext(app);
  registerTraceContext(app);
  if (metrics) registerRequestMetrics(app, metrics);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    runInRequestScope(request.id, done);
  });
  // Before authentication, so that neither an overloaded instance nor a hostile request pays for it.
  await registerLoadShedding(app, config);
  registerRequestLimits(app, config);
  registerParameterChecks(app);
  // The API speaks JSON only: a text/plain body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  // An empty body with a JSON content type (common on DELETE) is "no body", not a syntax error.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return parseJson(request, body as string, (error, parsed) => {
      if (error) return done(error, undefined);
      const issue = inspectBody(parsed, config);
      if (issue) return done(new RequestValidationError([issue]), undefined);
      return done(null, parsed);
    });
  });

  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, scope: route.config?.scope, tenantWide: route.config?.tenantWide === true });
  });
  registerSchemas(app);
  const storeHealth = new StoreHealth(store);
  registerErrorHandling(app, storeHealth, config.rejectedBodyDrainMs);
  registerUnknownRoutes(app, { maxParamLength: config.maxUrlBytes });
  registerOpenApiConventions(app);
  registerAuth(app, tokens, access);
  await registerRateLimit(app, config);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Arbor',
        version: API_VERSION,
        description: 'Organizational units, users and tenants of a multi-tenant identity platform.',
      },
      servers: [{ url: config.issuer, description: 'This instance (ARBOR_ISSUER)' }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    // Name components after the schemas' $id (OUResponse, ...) instead of def-0, def-1, ...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  if (config.consoleDir !== null) {
    const idp = config.externalIdp;
    const oidc = config.consoleOidc !== null && idp !== null ? { issuer: idp.issuer, clientId: config.consoleOidc.clientId, scope: config.consoleOidc.scope, tenantClaim: idp.tenantClaim } : null;
    await registerConsole(app, config.consoleDir, oidc);
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const idempotency = createIdempotencyService({ store, ttlMs: config.idempotencyTtlHours * 3600_000 });
  registerIdempotency(app, idempotency, config.idempotencyTtlHours);
  const events = createEventService({ store, signal: changes, retentionDays: config.eventRetentionDays, maxWaitSeconds: config.feedMaxWaitSeconds });
  // Retention: events past ARBOR_EVENT_RETENTION_DAYS, stored responses past their TTL.
  const fallback = config.secretsKey ? null : fallbackSecretsKey(isPostgresUrl(config.databaseUrl) ? null : sqliteFile(config.databaseUrl));
  if (fallback?.createdFile) app.log.warn({ file: fallback.createdFile }, 'generated the key that encrypts webhook secrets beside the database: back it up with it, or set ARBOR_SECRETS_KEY (docs/webhooks.md)');
  const secretsKey = config.secretsKey ?? fallback?.key ?? null;
  const secrets = secretsKey ? createSecretBox(secretsKey) : null;
  const webhookPolicy = { allowInsecure: config.webhooks.allowInsecure, allowHosts: config.webhooks.allowHosts, lookup: options.webhookLookup ?? systemLookup };
  const sender = createWebhookSender({ policy: webhookPolicy, timeoutMs: config.webhooks.timeoutMs, beforeConnect: options.webhookBeforeConnect });
  // On PostgreSQL the dispatcher has connections of its own: it never waits for, nor takes, a
  // slot of the pool requests use (SQLite has one connection for everything anyway).
  const deliveryStore = config.webhooks.dispatch && secrets && store.dialect === 'postgres' && !options.store ? open(2) : store;
  if (deliveryStore !== store) metrics?.watchPool('webhooks', () => deliveryStore.poolStats());
  // Without a key the secrets cannot be opened, so nothing could be signed: this instance leaves delivery to others.
  if (config.webhooks.dispatch && !secrets) app.log.warn('webhook delivery is off on this instance: ARBOR_SECRETS_KEY is not set (docs/webhooks.md)');
  const webhookDispatcher =
    config.webhooks.dispatch && secrets
    ? createWebhookDispatcher({ store: deliveryStore, secrets, send: sender.send, settings: config.webhooks, onEventsCommitted, log: app.log })
    : null;
  const webhooks = createWebhookService({ store, secrets, policy: webhookPolicy, onEventsCommitted, onDeliveryQueued: () => webhookDispatcher?.kick() });
  stopWebhooks = async () => {
    await webhookDispatcher?.stop();
    sender.close();
    if (deliveryStore !== store) await deliveryStore.close();
  };
  const prune = () =>
    Promise.all([events.pruneExpired(), idempotency.pruneExpired(), webhooks.pruneDeliveries(config.eventRetentionDays)]).catch((error: unknown) => app.log.warn({ err: error }, 'pruning expired events or idempotency keys failed'));
  const pruner = setInterval(prune, PRUNE_INTERVAL_MS).unref();
  app.addHook('onClose', async () => clearInterval(pruner));
  await app.register(healthRoutes, { storeHealth });
  await app.register(tenantRoutes, { service: createTenantService({ store, onEventsCommitted, onRolesChanged }) });
  await app.register(orgUnitRoutes, {
    service: createOrgUnitService({ store, maxDepth: config.maxOuDepth, treeMaxOus: config.treeMaxOus, onEventsCommitted, onRolesChanged }),
  });
  await app.register(orgUnitAncestryRoutes, { service: createOrgUnitAncestryService({ store }) });
  await app.register(orgUnitUserRoutes, { service: createOrgUnitUserService({ store }) });
  await app.register(userRoutes, { service: createUserService({ store, onEventsCommitted }) });
  await app.register(clientRoutes, { service: clientService });
  await app.register(eventRoutes, { service: events });
  await app.register(webhookRoutes, { service: webhooks });
  const imports = createImportService({ store, maxDepth: config.maxOuDepth, onEventsCommitted, log: app.log });
  await imports.failAbandoned();
  app.addHook('onClose', async () => imports.settled());
  await app.register(importRoutes, { service: imports, maxBytes: config.importMaxBytes, drainMs: config.rejectedBodyDrainMs });
  await app.register(exportRoutes, { service: createExportService({ store, log: app.log }) });
  await app.register(roleAssignmentRoutes, { service: createRoleAssignmentService({ store, onEventsCommitted, onRolesChanged }) });
  await app.register(oauthRoutes, {
    oauth: createOAuthService({ store, tokens, failedAuthLimit: config.tokenFailedAuthLimit }),
    tokens,
    issuer: config.issuer,
    audience: config.audience,
    externalIssuer: config.externalIdp?.issuer,
    requestsPerAddress: config.tokenRequestsPerAddress,
  });
  options.extraRoutes?.(app);
  await app.ready();
  if (webhookDispatcher) {
    kickWebhooks = () => webhookDispatcher.kick();
    webhookDispatcher.start();
  }
  return { app, store, tokens, generatedAdminClient, ensureAdminClient, routes, metrics };
}

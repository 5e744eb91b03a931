/**
 * The server the benchmark drives: Arbor exactly as `npm start` builds it, plus two ceiling
 * routes measured in the same process and run. Environment as for Arbor, and:
 *   BENCH_TENANT_ID, BENCH_OU_ID  the OU whose response size the ceiling body copies.
 *
 *   GET /bench/ceiling       a bare route: a constant body of that size, no auth, no store
 *   GET /bench/ceiling-auth  the same, behind Arbor's bearer-token check (scope ous:read)
 */
// Plain JavaScript on the compiled dist/ (what `npm start` runs): no TypeScript loader in the
// measured process. `npm run bench` builds first.
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';
import { openStore } from '../dist/db/database.js';
import { migrateToLatest } from '../dist/db/migrator.js';
import { createOrgUnitService } from '../dist/services/org-unit-service.js';

/** Starts the server; prints BENCH_SERVER_READY when it listens. */
async function main() {
  const config = loadConfig();
  const store = openStore(config.databaseUrl, { poolSize: config.dbPoolSize });
  await migrateToLatest(store.db);
  const tenantId = process.env.BENCH_TENANT_ID ?? '';
  const ouId = process.env.BENCH_OU_ID ?? '';
  const ou = await createOrgUnitService({ store, maxDepth: config.maxOuDepth }).get(tenantId, ouId);
  // The envelope the OU route sends, with a request id of the usual length.
  const body = JSON.stringify({ data: ou, meta: { request_id: '00000000-0000-4000-8000-000000000000', timestamp: new Date().toISOString() } });

  const { app } = await buildApp(config, {
    store,
    extraRoutes: (instance) => {
      instance.get('/bench/ceiling', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json').send(body));
      instance.get('/bench/ceiling-auth', { schema: { hide: true }, config: { scope: 'ous:read' } }, async (_request, reply) =>
        reply.type('application/json').send(body),
      );
    },
  });
  await app.listen({ host: config.host, port: config.port });
  process.stdout.write(`BENCH_SERVER_READY ${body.length}\n`);
  const stop = () => {
    app.close().then(
      () => store.close().then(() => process.exit(0)),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  console.error('bench server failed to start:', error);
  process.exit(1);
});

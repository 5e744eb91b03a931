import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { storeUnavailableReason } from './db/store-errors.js';
import { type MetricsServer, startMetricsServer } from './metrics/metrics-server.js';
import { heapPolicy } from './lib/heap-policy.js';
import { installProcessGuards } from './process-guards.js';

/** Listens, prints where, and closes gracefully on SIGTERM/SIGINT. Nothing else. */
async function main(): Promise<void> {
  const config = loadConfig();
  // A configured admin client (ARBOR_ADMIN_CLIENT_*) is ensured before the API listens, so that
  // a wrong one stops the start before any traffic. A generated one only once the API listens: a
  // start that cannot bind must not create a secret nobody saw, which no later start shows again.
  const { app, store, ensureAdminClient, metrics } = await buildApp(config, { bootstrapAdminClient: config.adminClient !== null });
  installProcessGuards(app.log, () => app.server.listening);
  // Before the API listens: a metrics port already taken fails the start, not the first scrape.
  let metricsServer: MetricsServer | null = null;
  if (metrics) {
    metricsServer = await startMetricsServer(metrics, { host: config.metricsHost, port: config.metricsPort }).catch((error: unknown) => {
      throw listenError(error, config.metricsHost, config.metricsPort, 'the metrics listener', 'set ARBOR_METRICS_PORT (0 turns it off) or ARBOR_METRICS_HOST');
    });
    app.log.info(`Prometheus metrics at ${metricsServer.url}`);
  } else {
    app.log.info('metrics off (ARBOR_METRICS_PORT=0)');
  }
  // One line that says where Arbor listens, what it stores into, and where the docs are.
  await app
    .listen({
      host: config.host,
      port: config.port,
      listenTextResolver: (address) => `Arbor listening on ${address} | store ${store.description} | API docs ${address}/docs | OpenAPI ${address}/openapi.json`,
    })
    .catch((error: unknown) => {
      throw listenError(error, config.host, config.port, 'the API', 'set PORT (or HOST)');
    });
  // V8's own choice let a fresh server's heap grow to three times what it holds alive before its
  // first full collection (lib/heap-policy.ts).
  heapPolicy.serve();
  const generatedAdminClient = config.adminClient === null ? await ensureAdminClient() : null;
  if (generatedAdminClient) printAdminClient(generatedAdminClient, config.issuer, config.tokenTtlSeconds);

  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      app.log.info(`${signal} received: finishing in-flight requests, then closing`);
      // close() drops the connections idle at this moment; one that finishes its request later
      // would otherwise stay open until its keep-alive timeout (72 s) and hold the exit back.
      const reaper = setInterval(() => app.server.closeIdleConnections(), 100);
      // The metrics listener last: the drain shows in its figures until the end.
      app
        .close()
        .then(() => metricsServer?.close())
        .then(
          () => {
            clearInterval(reaper);
            process.exit(0);
          },
          (error: unknown) => {
            app.log.error({ err: error }, 'error while closing');
            process.exit(1);
          },
        );
    });
  }
}

/** A start that cannot listen, said without a stack: what is wrong and which setting changes it. */
class ListenError extends Error {}

function listenError(error: unknown, host: string, port: number, what: string, remedy: string): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return new ListenError(`port ${port} on ${host} is in use by another process, so ${what} cannot listen there: stop that process, or ${remedy}.`);
  if (code === 'EACCES') return new ListenError(`this user may not listen on port ${port} (ports below 1024 need privileges): ${remedy}.`);
  if (code === 'EADDRNOTAVAIL') return new ListenError(`${host} is not an address of this machine: ${remedy}.`);
  return error instanceof Error ? error : new Error(String(error));
}

/** Shown once, on stdout and never in a log record: the secret exists nowhere else. */
function printAdminClient({ id, secret }: { id: string; secret: string }, issuer: string, ttlSeconds: number): void {
  process.stdout.write(
    [
      '',
      'Created the platform admin client. Its secret is shown this once; store it now.',
      `  client_id:     ${id}`,
      `  client_secret: ${secret}`,
      `Get a token (valid ${Math.round(ttlSeconds / 60)} minutes):`,
      `  curl -s -u '${id}:${secret}' -d grant_type=client_credentials ${issuer}/oauth/token`,
      'To choose these credentials yourself, set ARBOR_ADMIN_CLIENT_ID and ARBOR_ADMIN_CLIENT_SECRET.',
      '',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  const outage = storeUnavailableReason(error);
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
  } else if (error instanceof ListenError) {
    console.error(`Arbor cannot start: ${error.message}`);
  } else if (outage) {
    // The store is the usual reason a start fails: say which, and what to check.
    console.error(`Arbor failed to start: ${outage} (${(error as Error).message}). Check DATABASE_URL, and that the store is up and, for SQLite, that its folder is writable.`);
  } else {
    console.error('Arbor failed to start:', error);
  }
  process.exit(1);
});

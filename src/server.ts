import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/** Listens, prints where, and closes gracefully on SIGTERM/SIGINT. Nothing else. */
async function main(): Promise<void> {
  const config = loadConfig();
  const { app, store } = await buildApp(config);
  // One line that says where Arbor listens, what it stores into, and where the docs are.
  await app.listen({
    host: config.host,
    port: config.port,
    listenTextResolver: (address) => `Arbor listening on ${address} | store ${store.description} | API docs ${address}/docs | OpenAPI ${address}/openapi.json`,
  });

  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      app.log.info(`${signal} received: finishing in-flight requests, then closing`);
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          app.log.error({ err: error }, 'error while closing');
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
  } else {
    console.error('Arbor failed to start:', error);
  }
  process.exit(1);
});

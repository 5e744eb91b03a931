import { expect } from 'vitest';
import { type App, type BuildAppOptions, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type MetricsServer, startMetricsServer } from '../../src/metrics/metrics-server.js';
import { type Scrape, scrape } from './prometheus.js';
import type { TestContext } from './test-app.js';
import { closeTestStore, openTestStore } from './test-store.js';
import { loopbackTripwire, testLookup, testWebhooks } from './webhooks.js';

export interface MetricsApp {
  built: App;
  /** The app's metrics listener, on a free loopback port. */
  server: MetricsServer;
  /** Authorization headers of a platform token. */
  platform: Record<string, string>;
  inject: App['app']['inject'];
  /** GET /metrics over HTTP, parsed. */
  scrape(): Promise<Scrape>;
  /** What the factories (createTenant, createOu) need of a TestContext. */
  context: TestContext;
  close(): Promise<void>;
}

/**
 * An app as createTestContext builds one (rate limiting, shedding and webhook delivery off unless
 * asked), on a fresh test store, with its metrics listener started as server.ts starts it.
 */
export async function startMetricsApp(overrides: Partial<Config> = {}, options: Pick<BuildAppOptions, 'extraRoutes'> = {}): Promise<MetricsApp> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }, { rateLimitPerMinute: 0, maxEventLoopDelayMs: 0, webhooks: testWebhooks(), ...overrides });
  const store = await openTestStore();
  const built = await buildApp(config, { store, logger: false, bootstrapAdminClient: false, webhookLookup: testLookup, webhookBeforeConnect: loopbackTripwire, ...options });
  const close = async () => {
    await built.app.close();
    await closeTestStore(store);
  };
  expect(built.metrics, 'metrics are on at the default ARBOR_METRICS_PORT').not.toBeNull();
  const server = await startMetricsServer(built.metrics!, { host: '127.0.0.1', port: 0 }).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  const token = await built.tokens.sign({ subject: 'metrics-test', scopes: ['platform:admin'] });
  const platform = { authorization: `Bearer ${token}` };
  return {
    built,
    server,
    platform,
    inject: built.app.inject.bind(built.app),
    scrape: () => scrape(server.url),
    context: { app: built.app, platformHeaders: platform } as unknown as TestContext,
    async close() {
      await server.close();
      await close();
    },
  };
}

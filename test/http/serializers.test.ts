import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

describe('response serializers', () => {
  it('every response schema of every route compiles (as at start-up before serializers became lazy)', async () => {
    const store = await openTestStore();
    try {
      // Fastify compiles each route's serializers while the app gets ready, and fails on a bad schema.
      const built = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:' }), { store, logger: false, bootstrapAdminClient: false, eagerSerializers: true });
      expect(built.routes.length).toBeGreaterThan(30);
      await built.app.close();
    } finally {
      await closeTestStore(store);
    }
  });
});

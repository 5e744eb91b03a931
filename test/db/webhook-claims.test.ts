import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { pick } from '../../src/db/repositories/index.js';
import type { Store } from '../../src/db/store.js';
import { sqliteStatementPrototype, statementSources } from '../helpers/sqlite-statements.js';
import { closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';

/*
 * The dispatcher looks for due webhooks after every commit that wrote events. On SQLite an
 * UPDATE is a write transaction of its own even when it changes nothing, so the claims look with
 * a SELECT first (db/sql.ts anyRow). That they lease what is due is the dispatcher's tests' part.
 */

describe.skipIf(isPostgresPass)('webhook claims on SQLite', () => {
  let store: Store;

  beforeEach(async () => {
    store = await openTestStore();
    await migrateToLatest(store.db);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await closeTestStore(store);
  });

  it('write nothing when no subscription and no delivery is due', async () => {
    const run = vi.spyOn(sqliteStatementPrototype, 'run');
    const all = vi.spyOn(sqliteStatementPrototype, 'all');
    const repos = pick(store.db, ['webhooks', 'webhookDeliveries']);
    const now = new Date().toISOString();

    expect(await repos.webhooks.claimDue('instance-1', now, now, 8)).toEqual([]);
    expect(await repos.webhookDeliveries.claimDue('instance-1', now, now, 8)).toEqual([]);

    const sources = statementSources(run, all);
    expect(sources.filter((source) => /^\s*update/i.test(source))).toEqual([]);
    expect(sources.filter((source) => /^select exists/i.test(source))).toHaveLength(2);
  });
});

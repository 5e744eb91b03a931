import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { pick } from '../../src/db/repositories/index.js';
import type { Store } from '../../src/db/store.js';
import { createIdempotencyService } from '../../src/services/idempotency-service.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * How long a stored answer is replayed (ARBOR_IDEMPOTENCY_TTL_HOURS), on both stores: the
 * service is given a clock, so "a day later" needs no waiting.
 */

let store: Store;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

beforeEach(async () => {
  store = await openTestStore();
  await migrateToLatest(store.db);
});

afterEach(async () => {
  await closeTestStore(store);
});

const at = (ms: number) => createIdempotencyService({ store, ttlMs: 24 * HOUR, now: () => ms });

/** Claims `key` at `ms` and stores an answer for it, as a request's unit of work does. */
async function answered(key: string, ms: number): Promise<void> {
  const outcome = await at(ms).claim('scope', key, 'fingerprint');
  if (outcome.kind !== 'claimed') throw new Error(`expected a fresh claim of ${key}`);
  await pick(store.db, ['idempotencyKeys']).idempotencyKeys.complete('scope', key, outcome.claim, { status: 201, headers: '{}', body: '{"data":1}' });
}

describe('the time a stored answer is replayed', () => {
  it('replays the answer until the TTL ends, then lets the key run afresh', async () => {
    await answered('k', T0);
    expect(await at(T0 + 24 * HOUR - 1).claim('scope', 'k', 'fingerprint')).toEqual({ kind: 'replay', status: 201, headers: {}, body: '{"data":1}' });
    expect((await at(T0 + 24 * HOUR + 1).claim('scope', 'k', 'fingerprint')).kind).toBe('claimed');
  });

  it('lets an expired key be used for another request (its old body no longer counts)', async () => {
    await answered('k', T0);
    expect((await at(T0 + 25 * HOUR).claim('scope', 'k', 'another fingerprint')).kind).toBe('claimed');
  });

  it('prunes only the answers past their TTL', async () => {
    await answered('old', T0);
    await answered('new', T0 + 20 * HOUR);
    expect(await at(T0 + 25 * HOUR).pruneExpired()).toBe(1);
    const left = await store.db.selectFrom('idempotency_keys').select('key').execute();
    expect(left.map((row) => row.key)).toEqual(['new']);
  });
});

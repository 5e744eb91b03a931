import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { pick } from '../../src/db/repositories/index.js';
import type { NewEventRow } from '../../src/db/repositories/event-repository.js';
import type { Store } from '../../src/db/store.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * The events table on both stores: seqs handed out under the tenant's lock (one event in one
 * statement, a batch as several inserts), the bounds a feed reader checks its cursor against,
 * and retention, which deletes only a run of the oldest and keeps a live tenant's newest.
 */

let store: Store;

beforeEach(async () => {
  store = await openTestStore();
  await migrateToLatest(store.db);
});

afterEach(async () => {
  await closeTestStore(store);
});

const event = (tenantId: string, n: number, occurredAt = '2026-01-01T00:00:00.000Z'): NewEventRow => ({
  tenant_id: tenantId,
  id: `evt_${tenantId}_${n}`,
  type: 'ou.created',
  occurred_at: occurredAt,
  actor: '{"type":"system","id":"arbor","client_id":null}',
  request_id: null,
  correlation_id: null,
  resource_type: 'ou',
  resource_id: `ou_${n}`,
  data: '{"before":null,"after":{}}',
  ou_paths: null,
  trace_id: null,
});

/** Appends as the unit of work does: in a transaction holding the tenant's lock. */
const append = (tenantId: string, rows: NewEventRow[]) =>
  store.transaction((trx) => pick(trx, ['events']).events.append(tenantId, rows), { lock: `tenant:${tenantId}` });

const events = () => pick(store.db, ['events']).events;

async function seqsOf(tenantId: string): Promise<number[]> {
  return (await events().list(tenantId, 0, 10_000)).map((row) => row.seq);
}

async function addTenant(id: string): Promise<void> {
  const at = '2026-01-01T00:00:00.000Z';
  await pick(store.db, ['tenants']).tenants.insert({ id, name: id, slug: id.replace(/_/g, '-'), ou_count: 0, ou_version: 0, created_at: at, updated_at: at });
}

describe('appending events', () => {
  it('gives one event the seq after the tenant\'s last, starting at 1, and returns it', async () => {
    expect(await append('tnt_a', [event('tnt_a', 1)])).toBe(1);
    expect(await append('tnt_a', [event('tnt_a', 2)])).toBe(2);
    expect(await append('tnt_b', [event('tnt_b', 1)])).toBe(1);
    expect(await seqsOf('tnt_a')).toEqual([1, 2]);
    expect(await seqsOf('tnt_b')).toEqual([1]);
  });

  it('gives a batch larger than one INSERT the consecutive seqs after the last, and returns the first', async () => {
    await append('tnt_a', [event('tnt_a', 0)]);
    const batch = Array.from({ length: 1_201 }, (_, i) => event('tnt_a', i + 1));
    expect(await append('tnt_a', batch)).toBe(2);
    expect(await seqsOf('tnt_a')).toEqual(Array.from({ length: 1_202 }, (_, i) => i + 1));
    expect((await events().list('tnt_a', 1_200, 10)).map((row) => row.id)).toEqual(['evt_tnt_a_1200', 'evt_tnt_a_1201']);
  });

  it('numbers concurrent appends of one tenant without a gap or a duplicate', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => append('tnt_a', i % 4 === 0 ? [event('tnt_a', 100 + i), event('tnt_a', 200 + i)] : [event('tnt_a', i)])));
    expect(await seqsOf('tnt_a')).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });
});

describe('what a feed reader checks', () => {
  it('reports the first and last seq kept, and nothing before the first event', async () => {
    expect(await events().bounds('tnt_a')).toBeUndefined();
    expect(await events().lastSeq('tnt_a')).toBe(0);
    await append('tnt_a', [event('tnt_a', 1), event('tnt_a', 2), event('tnt_a', 3)]);
    expect(await events().bounds('tnt_a')).toEqual({ firstSeq: 1, lastSeq: 3 });
    expect(await events().lastSeq('tnt_a')).toBe(3);
  });

  it('tells the last seq of each tenant asked about, a deleted one too (its readers wait for tenant.deleted), and nothing of one without events', async () => {
    await Promise.all(['tnt_a', 'tnt_b', 'tnt_c'].map(addTenant));
    await append('tnt_a', [event('tnt_a', 1), event('tnt_a', 2)]);
    await append('tnt_b', [event('tnt_b', 1)]);
    // A tenant whose row is gone (deleted) with its feed still there.
    await append('tnt_deleted', [event('tnt_deleted', 1), event('tnt_deleted', 2), event('tnt_deleted', 3)]);
    expect(await events().lastSeqs(['tnt_a', 'tnt_b', 'tnt_c', 'tnt_deleted', 'tnt_missing'])).toEqual(
      new Map([['tnt_a', 2], ['tnt_b', 1], ['tnt_deleted', 3]]),
    );
  });
});

describe('retention', () => {
  const old = '2026-01-01T00:00:00.000Z';
  const recent = '2026-06-01T00:00:00.000Z';
  const cutoff = '2026-03-01T00:00:00.000Z';

  it('lists every tenant that has events, deleted ones included, in id order', async () => {
    await append('tnt_b', [event('tnt_b', 1)]);
    await append('tnt_a', [event('tnt_a', 1)]);
    await append('tnt_c', [event('tnt_c', 1)]);
    expect(await events().tenantsWithEvents()).toEqual(['tnt_a', 'tnt_b', 'tnt_c']);
  });

  it('deletes the oldest run of expired events up to the first one not expired, never a hole in the middle', async () => {
    await append('tnt_a', [event('tnt_a', 1, old), event('tnt_a', 2, old), event('tnt_a', 3, recent), event('tnt_a', 4, old), event('tnt_a', 5, recent)]);
    expect(await events().pruneOldest('tnt_a', cutoff, 5, 100)).toBe(2);
    expect(await seqsOf('tnt_a')).toEqual([3, 4, 5]);
    expect(await events().bounds('tnt_a')).toEqual({ firstSeq: 3, lastSeq: 5 });
  });

  it('deletes nothing while the oldest event is younger than the cutoff', async () => {
    await append('tnt_a', [event('tnt_a', 1, recent), event('tnt_a', 2, old)]);
    expect(await events().pruneOldest('tnt_a', cutoff, 3, 100)).toBe(0);
    expect(await seqsOf('tnt_a')).toEqual([1, 2]);
  });

  it('keeps what keepFrom protects and deletes at most the limit', async () => {
    await append('tnt_a', [1, 2, 3, 4].map((n) => event('tnt_a', n, old)));
    expect(await events().pruneOldest('tnt_a', cutoff, 4, 2)).toBe(2);
    expect(await events().pruneOldest('tnt_a', cutoff, 4, 2)).toBe(1);
    expect(await events().pruneOldest('tnt_a', cutoff, 4, 2)).toBe(0);
    expect(await seqsOf('tnt_a')).toEqual([4]);
  });
});

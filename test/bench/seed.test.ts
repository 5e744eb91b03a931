import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed, type SeedManifest, plannedRows } from '../../bench/seed-data.js';
import type { Store } from '../../src/db/store.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { repositories } from '../../src/db/repositories/index.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/*
 * The benchmark seeder writes maintained columns itself (paths, counts, subtree counts): a
 * small seed must be exactly as consistent as the services would leave it, and shaped as the
 * manifest promises the scenarios.
 */

const OPTIONS = { ous: 2000, users: 20000, tenants: 3 };
let store: Store;
let manifest: SeedManifest;
let written = 0;

beforeAll(async () => {
  store = await openTestStore();
  await migrateToLatest(store.db);
  manifest = await seed(store, OPTIONS, (n) => {
    written += n;
  });
}, 60_000);

afterAll(async () => {
  await closeTestStore(store);
});

const countOf = async (query: ReturnType<typeof sql<{ n: number }>>) => Number((await query.execute(store.db)).rows[0].n);

describe('the benchmark seeder', () => {
  it('writes every planned row and reports each one to the progress callback', async () => {
    const ous = await countOf(sql<{ n: number }>`select count(*) as n from org_units`);
    const users = await countOf(sql<{ n: number }>`select count(*) as n from users`);
    expect(ous + users).toBe(plannedRows(OPTIONS));
    expect(written).toBe(plannedRows(OPTIONS));
  });

  it('leaves every tenant without an invariant violation', async () => {
    for (const tenantId of [manifest.tenantId, ...manifest.otherTenantIds]) {
      expect(await findInvariantViolations(store.db, tenantId, manifest.options.maxDepth)).toEqual([]);
    }
  });

  it('puts the requested OUs and users in the big tenant, under one root, no deeper than the limit', async () => {
    const repos = repositories(store.db);
    const tenant = await repos.tenants.getById(manifest.tenantId);
    expect(tenant?.ou_count).toBe(OPTIONS.ous);
    const root = await repos.orgUnits.getById(manifest.tenantId, manifest.ids.root);
    expect(root?.subtree_user_count).toBe(OPTIONS.users);
    const deepest = await repos.orgUnits.maxDepthInSubtree(manifest.tenantId, root?.id_path ?? '');
    expect(deepest).toBeLessThanOrEqual(8);
    expect(deepest).toBeGreaterThanOrEqual(5);
  });

  it('builds each scenario target with the shape the manifest states', async () => {
    const repos = repositories(store.db);
    const get = async (id: string) => {
      const row = await repos.orgUnits.getById(manifest.tenantId, id);
      if (!row) throw new Error(`manifest OU ${id} missing`);
      return row;
    };
    const subtreeSize = async (id: string) => {
      const { id_path } = await get(id);
      return countOf(sql<{ n: number }>`select count(*) as n from org_units where tenant_id = ${manifest.tenantId} and id_path >= ${id_path} and id_path < ${`${id_path.slice(0, -1)}0`}`);
    };
    expect((await get(manifest.ids.wide)).child_ou_count).toBe(manifest.shape.wideChildren);
    expect((await get(manifest.ids.moveUp)).child_ou_count).toBe(manifest.shape.moveUpChildren);
    expect(await subtreeSize(manifest.ids.rename)).toBe(manifest.shape.renameDescendants + 1);
    expect(await subtreeSize(manifest.ids.moveSource)).toBe(manifest.shape.moveOus);
    expect((await get(manifest.ids.moveSource)).subtree_user_count).toBe(manifest.shape.moveUsers);
    expect(await subtreeSize(manifest.ids.cascade)).toBe(manifest.shape.cascadeOus);
    expect((await get(manifest.ids.midLevel)).subtree_user_count).toBe(manifest.shape.midLevelUsers);
    expect((await get(manifest.ids.midLevel)).depth).toBe(3);
    expect((await get(manifest.ids.createParent)).child_ou_count).toBe(0);
    // The move's target leaves room: the moved subtree ends no deeper than the limit.
    const target = await get(manifest.ids.moveTarget);
    const source = await get(manifest.ids.moveSource);
    const sourceDeepest = await repos.orgUnits.maxDepthInSubtree(manifest.tenantId, source.id_path);
    expect(sourceDeepest - source.depth + target.depth + 1).toBeLessThanOrEqual(8);
  });

  it('spreads users unevenly: the fullest OU holds many times the median', async () => {
    const counts = (await store.db.selectFrom('org_units').select('user_count').where('tenant_id', '=', manifest.tenantId).execute())
      .map((r) => r.user_count)
      .sort((a, b) => a - b);
    const median = counts[Math.floor(counts.length / 2)];
    expect(counts.at(-1)).toBeGreaterThan(10 * Math.max(1, median));
  });
});

import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { statementCounter } from '../helpers/statement-counter.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/store.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { type OrgUnitTreeEntry, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { createUserService } from '../../src/services/user-service.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';
import { systemWrite } from '../../src/services/write-context.js';

/** Writes of these tests are Arbor's own (no request): their events say actor system. */
const W = systemWrite();
import { createOrgUnitUserService } from '../../src/services/org-unit-user-service.js';
let ouUsers: ReturnType<typeof createOrgUnitUserService>;

// Reads and writes of the hierarchy must not issue a query per row (N+1): the number of SQL
// statements a request sends is the same whatever the size of the tree, page or subtree.
// Routes add no queries of their own (they only call the service).
//
// Counted on the test store (SQLite, or PostgreSQL on the second pass) by a plugin on the handle
// the services use (statement-counter.ts): Kysely runs a plugin's transformResult once per executed statement (while
// transformQuery also sees subqueries). Each transaction adds its begin and commit, which run
// outside the plugin, through the store's own transaction() (so the real locking is used).

const MAX_DEPTH = 32;
const counter = statementCounter();
let store: Store;
let counting: Pick<Store, 'db' | 'transaction' | 'snapshot'>;
let tenants: ReturnType<typeof createTenantService>;
let ous: ReturnType<typeof createOrgUnitService>;
let users: ReturnType<typeof createUserService>;

/** The number of statements `run` sends, and its result. */
async function counted<T>(run: () => Promise<T>): Promise<{ queries: number; result: T }> {
  counter.count = 0;
  const result = await run();
  return { queries: counter.count, result };
}

/** A three-level tree: `roots` roots, each with `children` children, each with `grandchildren` children. */
async function threeLevels(tenantId: string, roots: number, children: number, grandchildren: number) {
  for (let r = 0; r < roots; r++) {
    const root = await ous.create(W, ALL, tenantId, { name: `R${r}` });
    for (let c = 0; c < children; c++) {
      const child = await ous.create(W, ALL, tenantId, { name: `C${c}`, parent_id: root.id });
      for (let g = 0; g < grandchildren; g++) await ous.create(W, ALL, tenantId, { name: `G${g}`, parent_id: child.id });
    }
  }
}

function countNodes(nodes: OrgUnitTreeEntry[]): number {
  return nodes.reduce((n, node) => n + 1 + countNodes(node.children), 0);
}

function heightOf(nodes: OrgUnitTreeEntry[]): number {
  return nodes.length === 0 ? 0 : 1 + Math.max(...nodes.map((n) => heightOf(n.children)));
}

/** An OU named `name` under `parentId` with `n` children. */
async function ouWithChildren(tenantId: string, parentId: string | null, name: string, n: number) {
  const ou = await ous.create(W, ALL, tenantId, { name, parent_id: parentId });
  for (let i = 0; i < n; i++) await ous.create(W, ALL, tenantId, { name: `${name}-${i}`, parent_id: ou.id });
  return ou;
}

let smallTree: string;
let bigTree: string;
let tenantId: string;

beforeAll(async () => {
  store = await openTestStore();
  await migrateToLatest(store.db);
  counting = {
    db: store.db.withPlugin(counter),
    transaction: async (fn, options) => {
      counter.count += 2; // begin, commit
      return store.transaction((trx) => fn(trx.withPlugin(counter)), options);
    },
    // A read snapshot's BEGIN and COMMIT are the same two statements whatever the data; the
    // question here is whether the reads grow with it, so they are not counted.
    snapshot: (fn) => store.snapshot((trx) => fn(trx.withPlugin(counter))),
  };
  tenants = createTenantService({ store: counting });
  // The one-statement list page on both stores (by default PostgreSQL's only).
  ous = createOrgUnitService({ store: counting, maxDepth: MAX_DEPTH, listInOneStatement: true });
  users = createUserService({ store: counting });
  ouUsers = createOrgUnitUserService({ store: counting });
  smallTree = (await tenants.create(W, { name: 'Small tree' })).id;
  bigTree = (await tenants.create(W, { name: 'Big tree' })).id;
  tenantId = (await tenants.create(W, { name: 'Counts' })).id;
  // 1 + 2 + 2 = 5 OUs and 3 + 9 + 18 = 30 OUs, both three levels deep.
  await threeLevels(smallTree, 1, 2, 1);
  await threeLevels(bigTree, 3, 3, 2);
});

afterAll(async () => {
  try {
    for (const id of [smallTree, bigTree, tenantId]) expect(await findInvariantViolations(store.db, id, MAX_DEPTH)).toEqual([]);
  } finally {
    await closeTestStore(store);
  }
});

describe('the statement counter', () => {
  it('counts one per executed statement (a subquery included in it), and begin + commit per transaction', async () => {
    const one = await counted(() =>
      counting.db.selectFrom('tenants').select('id').where('id', 'in', counting.db.selectFrom('org_units').select('tenant_id')).execute(),
    );
    expect(one.queries).toBe(1);
    const inTransaction = await counted(() => counting.transaction(async (trx) => trx.selectFrom('tenants').select('id').execute()));
    expect(inTransaction.queries).toBe(3);
    expect((await counted(() => ous.tree(ALL, smallTree))).queries).toBeGreaterThan(0);
  });
});

describe('queries per request do not grow with the data', () => {
  it('reads the tree of 30 OUs on 3 levels with as many queries as a tree of 5, and at most 2', async () => {
    const small = await counted(async () => (await ous.tree(ALL, smallTree)).roots);
    const big = await counted(async () => (await ous.tree(ALL, bigTree)).roots);
    expect([countNodes(small.result), heightOf(small.result)]).toEqual([5, 3]);
    expect([countNodes(big.result), heightOf(big.result)]).toEqual([30, 3]);
    expect(big.queries).toBe(small.queries);
    expect(big.queries).toBeLessThanOrEqual(2);
  });

  it('reads an OU with 10 children with as many queries as an OU with 2', async () => {
    const two = await ouWithChildren(tenantId, null, 'Two', 2);
    const ten = await ouWithChildren(tenantId, null, 'Ten', 10);
    const a = await counted(() => ous.get(ALL, tenantId, two.id));
    const b = await counted(() => ous.get(ALL, tenantId, ten.id));
    expect(a.result.children).toHaveLength(2);
    expect(b.result.children).toHaveLength(10);
    expect(b.queries).toBe(a.queries);
  });

  it('reads a page of the OU list with the same number of queries whatever the page size', async () => {
    await ous.list(ALL, bigTree, {}, { page: 1, per_page: 2 });
    for (const stale of [true, false]) {
      // Stale: the one statement finds an OU write came after the tenant was last seen, and the
      // snapshot reads the page again. Otherwise the page and the tenant are one statement.
      if (stale) await ous.create(W, ALL, bigTree, { name: `Stale ${Date.now()}` });
      const a = await counted(() => ous.list(ALL, bigTree, {}, { page: 1, per_page: 2 }));
      if (stale) await ous.create(W, ALL, bigTree, { name: `Stale again ${Date.now()}` });
      const b = await counted(() => ous.list(ALL, bigTree, {}, { page: 1, per_page: 25 }));
      expect(a.result.items).toHaveLength(2);
      expect(b.result.items).toHaveLength(25);
      expect(b.queries).toBe(a.queries);
    }
  });

  it('reads a page of the whole list as one statement once the tenant was seen, and in a snapshot again after an OU write', async () => {
    const tenantId = (await tenants.create(W, { name: `One statement ${Date.now()}` })).id;
    await threeLevels(tenantId, 2, 3, 2);
    const first = await counted(() => ous.list(ALL, tenantId, {}, { page: 1, per_page: 5 }));
    const second = await counted(() => ous.list(ALL, tenantId, {}, { page: 1, per_page: 5 }));
    expect(first.queries).toBe(2);
    expect(second.queries).toBe(1);
    expect(second.result).toEqual(first.result);

    await ous.create(W, ALL, tenantId, { name: 'A0' });
    // The one statement finds the tenant's OU version moved on: its page is thrown away, and the
    // snapshot reads it again.
    const afterWrite = await counted(() => ous.list(ALL, tenantId, {}, { page: 1, per_page: 5 }));
    expect(afterWrite.queries).toBe(1 + first.queries);
    expect(afterWrite.result.pagination.total_items).toBe(first.result.pagination.total_items + 1);
    expect(afterWrite.result.items[0].name).toBe('A0');
    expect((await counted(() => ous.list(ALL, tenantId, {}, { page: 1, per_page: 5 }))).queries).toBe(1);
  });

  it('counts a repeated search once: the same search again sends one statement fewer, until an OU write', async () => {
    const tenantId = (await tenants.create(W, { name: `Search ${Date.now()}` })).id;
    await threeLevels(tenantId, 2, 3, 2);
    const first = await counted(() => ous.list(ALL, tenantId, { search: 'c' }, { page: 1, per_page: 2 }));
    const second = await counted(() => ous.list(ALL, tenantId, { search: 'c' }, { page: 1, per_page: 2 }));
    expect(second.queries).toBe(first.queries - 1);
    expect(second.result.pagination.total_items).toBe(first.result.pagination.total_items);
    await ous.create(W, ALL, tenantId, { name: 'C9' });
    const afterWrite = await counted(() => ous.list(ALL, tenantId, { search: 'c' }, { page: 1, per_page: 2 }));
    expect(afterWrite.queries).toBe(first.queries);
    expect(afterWrite.result.pagination.total_items).toBe(first.result.pagination.total_items + 1);
  });

  it('builds a search’s rank index once: page 2 again sends one statement fewer, until an OU write', async () => {
    const tenantId = (await tenants.create(W, { name: `Ranked search ${Date.now()}` })).id;
    await threeLevels(tenantId, 2, 3, 2);
    await ous.list(ALL, tenantId, { search: 'c' }, { page: 1, per_page: 2 });
    const first = await counted(() => ous.list(ALL, tenantId, { search: 'c' }, { page: 2, per_page: 2 }));
    const again = await counted(() => ous.list(ALL, tenantId, { search: 'c' }, { page: 3, per_page: 2 }));
    expect(again.queries).toBe(first.queries - 1);
    await ous.create(W, ALL, tenantId, { name: 'C9' });
    await ous.list(ALL, tenantId, { search: 'c' }, { page: 1, per_page: 2 });
    const afterWrite = await counted(() => ous.list(ALL, tenantId, { search: 'c' }, { page: 2, per_page: 2 }));
    expect(afterWrite.queries).toBe(first.queries);
  });

  it('reads a page of the children of an OU with the same number of queries whatever the page size', async () => {
    const parent = await ouWithChildren(tenantId, null, 'Listed', 12);
    const a = await counted(() => ous.list(ALL, tenantId, { parent_id: parent.id }, { page: 1, per_page: 2 }));
    const b = await counted(() => ous.list(ALL, tenantId, { parent_id: parent.id }, { page: 1, per_page: 12 }));
    expect(a.result.items).toHaveLength(2);
    expect(b.result.items).toHaveLength(12);
    expect(b.queries).toBe(a.queries);
  });

  it('reads a page of the nested users of an OU with the same number of queries whatever the page size', async () => {
    const top = await ouWithChildren(tenantId, null, 'Staffed', 5);
    const children = (await ous.get(ALL, tenantId, top.id)).children;
    for (let i = 0; i < 30; i++) await users.create(W, ALL, tenantId, { email: `nested${i}@x.io`, ou_id: children[i % 5].ou_id });
    // Once read, a page is planned from the OU as last read (PostgreSQL): both pages below are.
    await ouUsers.listUsers(ALL, tenantId, top.id, true, { page: 1, per_page: 2 });
    const a = await counted(() => ouUsers.listUsers(ALL, tenantId, top.id, true, { page: 1, per_page: 2 }));
    const b = await counted(() => ouUsers.listUsers(ALL, tenantId, top.id, true, { page: 1, per_page: 25 }));
    expect(a.result.items).toHaveLength(2);
    expect(b.result.items).toHaveLength(25);
    expect(b.result.pagination.total_items).toBe(30);
    expect(b.queries).toBe(a.queries);
  });

  it('reads a page of the direct users of an OU with the same number of queries whatever the page size', async () => {
    const ou = await ous.create(W, ALL, tenantId, { name: 'Direct' });
    for (let i = 0; i < 30; i++) await users.create(W, ALL, tenantId, { email: `direct${i}@x.io`, ou_id: ou.id });
    await ouUsers.listUsers(ALL, tenantId, ou.id, false, { page: 1, per_page: 2 });
    const a = await counted(() => ouUsers.listUsers(ALL, tenantId, ou.id, false, { page: 1, per_page: 2 }));
    const b = await counted(() => ouUsers.listUsers(ALL, tenantId, ou.id, false, { page: 1, per_page: 25 }));
    expect(a.result.items).toHaveLength(2);
    expect(b.result.items).toHaveLength(25);
    expect(b.queries).toBe(a.queries);
  });

  it('moves a subtree of 20 OUs with as many queries as a subtree of 2', async () => {
    // Both subtrees hang under the same non-root OU and move under the same target, so every
    // conditional step (old parent's counter, new parent's counter, children of the result) runs in both.
    const from = await ous.create(W, ALL, tenantId, { name: 'From' });
    const to = await ous.create(W, ALL, tenantId, { name: 'To' });
    const pair = await ouWithChildren(tenantId, from.id, 'Pair', 1);
    const twenty = await ous.create(W, ALL, tenantId, { name: 'Twenty', parent_id: from.id });
    for (let c = 0; c < 4; c++) {
      const child = await ous.create(W, ALL, tenantId, { name: `T${c}`, parent_id: twenty.id });
      for (let g = 0; g < (c < 3 ? 4 : 3); g++) await ous.create(W, ALL, tenantId, { name: `T${c}-${g}`, parent_id: child.id });
    }
    expect((await ous.list(ALL, tenantId, { search: 'T' }, { page: 1, per_page: 100 })).items.filter((o) => o.path.startsWith('/From/Twenty')).length).toBe(20);

    const a = await counted(() => ous.update(W, ALL, tenantId, pair.id, { parent_id: to.id }));
    const b = await counted(() => ous.update(W, ALL, tenantId, twenty.id, { parent_id: to.id }));
    expect(a.result.ou.path).toBe('/To/Pair');
    expect(b.result.ou.path).toBe('/To/Twenty');
    const moved = await ous.list(ALL, tenantId, { search: 'T3-2' }, { page: 1, per_page: 10 });
    expect(moved.items.map((o) => o.path)).toEqual(['/To/Twenty/T3/T3-2']);
    expect(b.queries).toBe(a.queries);
  });
});

import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, type KyselyPlugin, type QueryId, type RootOperationNode, SqliteDialect } from 'kysely';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { repositories } from '../../src/db/repositories/index.js';
import type { Database } from '../../src/db/schema.js';
import { createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { createUserService } from '../../src/services/user-service.js';
import { isPostgresPass } from '../helpers/test-store.js';
import { systemWrite } from '../../src/services/write-context.js';

/** Writes of these tests are Arbor's own (no request): their events say actor system. */
const W = systemWrite();

// Without statistics SQLite can drive a subtree join from the wrong side (measured 800x slower).
// These tests capture the SQL the repositories really send and check SQLite's plan for it.

const sqlite = new SqliteDatabase(':memory:');
sqlite.pragma('foreign_keys = ON');
const captured: { sql: string; parameters: readonly unknown[] }[] = [];
const db = new Kysely<Database>({
  dialect: new SqliteDialect({ database: sqlite }),
  log: (event) => {
    if (event.level === 'query') captured.push({ sql: event.query.sql, parameters: event.query.parameters });
  },
});
const store = {
  db,
  transaction: <T>(fn: (trx: Kysely<Database>) => Promise<T>) => db.transaction().execute(fn),
  snapshot: <T>(fn: (trx: Kysely<Database>) => Promise<T>) => db.transaction().execute(fn),
};
let tenantId: string;
let smallSubtreeIdPath: string;

beforeAll(async () => {
  await migrateToLatest(db);
  tenantId = (await createTenantService({ store }).create(W, { name: 'Plans' })).id;
  const ous = createOrgUnitService({ store, maxDepth: 32 });
  const users = createUserService({ store });
  // Enough rows for statistics to mean something: 40 departments of 20 teams, a user per team.
  const root = await ous.create(W, ALL, tenantId, { name: 'Root' });
  let department = root;
  for (let d = 0; d < 40; d++) {
    department = await ous.create(W, ALL, tenantId, { name: `D${d}`, parent_id: root.id });
    for (let t = 0; t < 20; t++) {
      const team = await ous.create(W, ALL, tenantId, { name: `T${t}`, parent_id: department.id });
      await users.create(W, ALL, tenantId, { email: `u${d}-${t}@x.io`, ou_id: team.id });
    }
  }
  smallSubtreeIdPath = (await repositories(db).orgUnits.getById(tenantId, department.id))!.id_path;
  sqlite.exec('ANALYZE');
});

afterAll(async () => {
  await db.destroy();
});

async function planOf(run: () => Promise<unknown>): Promise<string> {
  captured.length = 0;
  await run();
  const { sql, parameters } = captured.at(-1)!;
  const rows = sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(parameters as unknown[])) as { detail: string }[];
  return rows.map((r) => r.detail).join('\n');
}

// SQLite-only: checks SQLite's own EXPLAIN QUERY PLAN on an in-memory SQLite database of its own.
describe.skipIf(isPostgresPass)('query plans on SQLite', () => {
  it('reads a subtree through the id_path index, not a scan', async () => {
    const plan = await planOf(() => repositories(db).orgUnits.maxDepthInSubtree(tenantId, smallSubtreeIdPath));
    expect(plan).toMatch(/USING (COVERING )?INDEX org_units_id_path_uq/);
    expect(plan).not.toMatch(/^SCAN org_units/m);
  });

  it('drives the users of a small subtree from the OU range and reaches users by index', async () => {
    const plan = await planOf(() => repositories(db).users.listInSubtree(tenantId, smallSubtreeIdPath, { limit: 20, offset: 0, descending: false }, false));
    expect(plan).toMatch(/SEARCH o USING (COVERING )?INDEX org_units_id_path_uq/);
    expect(plan).toMatch(/SEARCH u USING (COVERING )?INDEX users_ou_ix/);
  });

  it('lists direct children through the sibling index', async () => {
    const root = (await repositories(db).orgUnits.list(tenantId, {}, { limit: 1, offset: 0, descending: false }))[0];
    const plan = await planOf(() => repositories(db).orgUnits.listChildren(tenantId, root.id));
    expect(plan).toMatch(/USING INDEX org_units_sibling_name_uq/);
  });

  it('reads the users of a subtree holding every placed user by ids from users_id_ou_ix alone, then rows by primary key, both ways, without a sort', async () => {
    for (const offset of [400, 5_000]) {
      for (const descending of [false, true]) {
        const plan = await planOf(() => repositories(db).users.listInSubtree(tenantId, '/any/', { limit: 20, offset, descending }, true));
        expect(plan).toMatch(/SEARCH users USING COVERING INDEX users_id_ou_ix \(tenant_id=\?\)/);
        expect(plan).toMatch(/SEARCH users USING INDEX sqlite_autoindex_users_1 \(tenant_id=\? AND id=\?\)/);
        expect(plan).not.toMatch(/TEMP B-TREE|org_units/);
      }
    }
  });

  it('lists OUs in path order from org_units_path_ix, both ways, without a sort', async () => {
    for (const descending of [false, true]) {
      const plan = await planOf(() => repositories(db).orgUnits.list(tenantId, {}, { limit: 20, offset: 400, descending }));
      expect(plan).toMatch(/USING INDEX org_units_path_ix/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    }
  });

  it('counts a name search over the small org_units_name_key_ix, not the table', async () => {
    const plan = await planOf(() => repositories(db).orgUnits.count(tenantId, { search: 't1' }));
    expect(plan).toMatch(/USING COVERING INDEX org_units_name_key_ix/);
  });

  it('lists one parent\'s children in path order from org_units_parent_path_ix, both ways, without a sort', async () => {
    const root = (await repositories(db).orgUnits.list(tenantId, {}, { limit: 1, offset: 0, descending: false }))[0];
    for (const descending of [false, true]) {
      const plan = await planOf(() => repositories(db).orgUnits.list(tenantId, { parentId: root.id }, { limit: 20, offset: 10, descending }));
      expect(plan).toMatch(/USING INDEX org_units_parent_path_ix \(tenant_id=\? AND parent_id=\?\)/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    }
  });
});

// Not a plan: what the users-first read lists. Whether a subtree holds every placed user is the
// service's to tell, from the counts of its snapshot (test/routes/list-paging.test.ts).
describe('users-first read of a subtree that holds every placed user', () => {
  it('lists the tenant\'s placed users in id order, at every skip and both ways, the same rows as the read through the OU range', async () => {
    const repos = repositories(db);
    const first = (await repos.orgUnits.list(tenantId, {}, { limit: 1, offset: 0, descending: false }))[0];
    const root = (await repos.orgUnits.getById(tenantId, first.id))!;
    const exact = (await repos.users.listInSubtree(tenantId, root.id_path, { limit: 10_000, offset: 0, descending: false }, false)).map((r) => r.id);
    expect(exact).toHaveLength(800);
    for (const offset of [0, 7, 799, 1_000]) {
      for (const descending of [false, true]) {
        const page = await repos.users.listInSubtree(tenantId, root.id_path, { limit: 20, offset, descending }, true);
        const ordered = descending ? [...exact].reverse() : exact;
        expect(page.map((r) => r.id), `offset ${offset}${descending ? ' descending' : ''}`).toEqual(ordered.slice(offset, offset + 20));
      }
    }
    const after = exact[99];
    const fromKey = await repos.users.listInSubtree(tenantId, root.id_path, { after, limit: 20, offset: 3, descending: false }, true);
    expect(fromKey.map((r) => r.id)).toEqual(exact.slice(103, 123));
  });
});

/**
 * A handle on `db` that keeps the SQL and parameters of every statement run through it: those
 * Kysely builds (seen by a plugin) and those a repository compiled once and runs as they are
 * (db/sql.ts's compiledOnce, through `executeQuery`, which plugins see only the result of).
 */
function capturing(db: Kysely<Database>) {
  const statements: CompiledQuery[] = [];
  const built = new Map<QueryId, RootOperationNode>();
  const withPlugin = db.withPlugin({
    transformQuery: (args) => {
      built.set(args.queryId, args.node);
      return args.node;
    },
    async transformResult(args) {
      const node = built.get(args.queryId);
      if (node !== undefined) statements.push(db.getExecutor().compileQuery(node, args.queryId));
      return args.result;
    },
  } satisfies KyselyPlugin);
  const handle = new Proxy(withPlugin, {
    get(target, property) {
      if (property === 'executeQuery') {
        return (query: CompiledQuery) => {
          statements.push(query);
          return target.executeQuery(query);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: handle, statements };
}

// Both stores: each reads the statement's plan in its own words.
describe('query plans on the test store', () => {
  let fixture: ServiceFixture;
  beforeAll(async () => {
    fixture = await openServiceFixture(32, 'Plans everywhere');
    const root = await fixture.ous.create(W, ALL, fixture.tenantId, { name: 'Root' });
    for (let i = 0; i < 30; i++) await fixture.ous.create(W, ALL, fixture.tenantId, { name: `C${i}`, parent_id: root.id });
  });
  afterAll(async () => closeServiceFixture(fixture, 32));

  async function planOfStatement(query: CompiledQuery): Promise<string> {
    const explain = isPostgresPass ? 'EXPLAIN' : 'EXPLAIN QUERY PLAN';
    const { rows } = await fixture.store.db.executeQuery<Record<string, string>>(CompiledQuery.raw(`${explain} ${query.sql}`, [...query.parameters]));
    return rows.map((row) => row['QUERY PLAN'] ?? row.detail).join('\n');
  }

  it('reads the tenant\'s last event seq once for a page of the whole OU list, not once for each of its rows, forwards, after a key and backwards', async () => {
    const repos = repositories(fixture.store.db);
    const all = (await repos.orgUnits.list(fixture.tenantId, {}, { limit: 100, offset: 0, descending: false })).map((row) => row.path);
    expect(all).toHaveLength(31);
    const windows = [
      { window: { limit: 20, offset: 5, descending: false }, paths: all.slice(5, 25) },
      { window: { limit: 20, offset: 2, descending: false, after: all[9] }, paths: all.slice(12, 31) },
      { window: { limit: 20, offset: 5, descending: true }, paths: [...all].reverse().slice(5, 25) },
    ];
    for (const { window, paths } of windows) {
      const { db, statements } = capturing(fixture.store.db);
      const listed = await repositories(db).orgUnits.listWholeWithTenant(fixture.tenantId, window);
      expect(listed?.rows.map((row) => row.path)).toEqual(paths);
      expect(listed?.tenant.ou_count).toBe(31);
      expect(statements).toHaveLength(1);
      const plan = await planOfStatement(statements[0]);
      // PostgreSQL: an InitPlan runs once, a SubPlan once a row; SQLite: a CORRELATED subquery runs once a row.
      if (isPostgresPass) {
        expect(plan).toMatch(/InitPlan/);
        expect(plan).not.toMatch(/SubPlan/);
      } else {
        expect(plan).toMatch(/SCALAR SUBQUERY/);
        expect(plan).not.toMatch(/CORRELATED/);
      }
    }
  });
});

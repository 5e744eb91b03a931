import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import type { Kysely, KyselyPlugin, OperationNode, RootOperationNode } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/store.js';
import { repositories } from '../../src/db/repositories/index.js';
import type { Database } from '../../src/db/schema.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { type OrgUnitService, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { type UserService, createUserService } from '../../src/services/user-service.js';
import { chainTree, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';
import { systemWrite } from '../../src/services/write-context.js';
import { createIdempotencyService } from '../../src/services/idempotency-service.js';

/** Writes of these tests are Arbor's own (no request): their events say actor system. */
const W = systemWrite();

// Every multi-row write must be one transaction: a failure after its first write must leave the
// store exactly as it was. A Kysely plugin throws when a chosen write is about to run; by then
// at least one earlier write of the same operation has executed, and only a rollback undoes it.
// The faulty services run their transactions through the store's own transaction() (BEGIN IMMEDIATE
// on SQLite, the tenant's advisory lock on PostgreSQL), so both stores' rollbacks are what is tested.

const MAX_DEPTH = 32;

/** What a write statement touches: its target table and, for an UPDATE or INSERT, its columns. */
interface Write {
  kind: 'InsertQueryNode' | 'UpdateQueryNode' | 'DeleteQueryNode';
  table: string;
  columns: string[];
}

function nameOf(node: OperationNode | undefined): string {
  // A TableNode (`{table: {identifier: {name}}}`), possibly inside an AliasNode (`{node: TableNode}`).
  const n = node as { kind?: string; node?: OperationNode; table?: { identifier?: { name?: string } } } | undefined;
  if (n?.kind === 'AliasNode') return nameOf(n.node);
  return n?.table?.identifier?.name ?? '?';
}

function columnName(node: OperationNode): string {
  return (node as { column?: { name?: string } }).column?.name ?? '?';
}

/** The write a root node is, or null for reads; looks at the target only, never at subqueries. */
function describeWrite(node: RootOperationNode): Write | null {
  switch (node.kind) {
    case 'InsertQueryNode':
      return { kind: node.kind, table: nameOf(node.into), columns: (node.columns ?? []).map((c) => c.column.name) };
    case 'UpdateQueryNode':
      return { kind: node.kind, table: nameOf(node.table), columns: (node.updates ?? []).map((u) => columnName(u.column)) };
    case 'DeleteQueryNode':
      return { kind: node.kind, table: nameOf(node.from.froms[0]), columns: [] };
    default:
      return null;
  }
}

const isUpdateOf = (table: string, column: string) => (w: Write) =>
  w.kind === 'UpdateQueryNode' && w.table === table && w.columns.includes(column);
const isDeleteOf = (table: string) => (w: Write) => w.kind === 'DeleteQueryNode' && w.table === table;
const isInsertInto = (table: string) => (w: Write) => w.kind === 'InsertQueryNode' && w.table === table;

interface Fault {
  /** True once the injected error was thrown. */
  fired: boolean;
  /** The writes that ran before the fault (the ones a rollback has to undo). */
  writesBefore: Write[];
  ous: OrgUnitService;
  users: UserService;
  tenants: ReturnType<typeof createTenantService>;
}

let store: Store;
let ous: OrgUnitService;
let users: UserService;
let tenantId: string;

/**
 * The writes of a statement compiled once and run as SQL text (db/sql.ts compiledOnce: the event
 * append, on PostgreSQL with the tenant's OU bookkeeping in a WITH), which plugins never see.
 */
function describeCompiledWrites(text: string): Write[] {
  const writes: Write[] = [];
  const update = /update "(\w+)" set (.*?) where/.exec(text);
  if (update) writes.push({ kind: 'UpdateQueryNode', table: update[1], columns: [...update[2].matchAll(/"(\w+)" =/g)].map((m) => m[1]) });
  const insert = /insert into "(\w+)" \(([^)]*)\)/.exec(text);
  if (insert) writes.push({ kind: 'InsertQueryNode', table: insert[1], columns: [...insert[2].matchAll(/"(\w+)"/g)].map((m) => m[1]) });
  return writes;
}

/** Services on a handle that throws 'injected' on the `occurrence`-th write matching `matches`. */
function faultOn(matches: (w: Write) => boolean, occurrence = 1): Fault {
  let seen = 0;
  const fault = { fired: false, writesBefore: [] as Write[] } as Fault;
  /** Records the writes of one statement, or throws at the chosen one. */
  const observe = (writes: Write[]) => {
    if (fault.fired || writes.length === 0) return;
    if (writes.some(matches) && ++seen === occurrence) {
      fault.fired = true;
      throw new Error('injected');
    }
    fault.writesBefore.push(...writes);
  };
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      const write = describeWrite(args.node);
      observe(write ? [write] : []);
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
  /** The handle with the plugin, also watching the statements it runs as compiled text. */
  const watched = (db: Kysely<Database>): Kysely<Database> => {
    const handle = db.withPlugin(plugin);
    const executeQuery = handle.executeQuery.bind(handle);
    handle.executeQuery = ((query: Parameters<typeof executeQuery>[0]) => {
      if ('sql' in query && query.query.kind === 'RawNode') observe(describeCompiledWrites(query.sql));
      return executeQuery(query);
    }) as typeof handle.executeQuery;
    return handle;
  };
  const faulty: Kysely<Database> = watched(store.db);
  const faultyStore: Pick<Store, 'db' | 'transaction' | 'snapshot'> = {
    db: faulty,
    transaction: (fn, options) => store.transaction((trx) => fn(watched(trx)), options),
    snapshot: (fn) => store.snapshot((trx) => fn(watched(trx))),
  };
  fault.ous = createOrgUnitService({ store: faultyStore, maxDepth: MAX_DEPTH });
  fault.users = createUserService({ store: faultyStore });
  fault.tenants = createTenantService({ store: faultyStore });
  return fault;
}

/** Every row of every table a hierarchy write touches, in a stable order. */
async function snapshot() {
  const db = store.db;
  return {
    tenants: await db.selectFrom('tenants').selectAll().orderBy('id').execute(),
    orgUnits: await db.selectFrom('org_units').selectAll().orderBy('tenant_id').orderBy('id').execute(),
    users: await db.selectFrom('users').select(['tenant_id', 'id', 'ou_id']).orderBy('tenant_id').orderBy('id').execute(),
    apiClients: await db.selectFrom('api_clients').select(['id', 'tenant_id']).orderBy('id').execute(),
    events: await db.selectFrom('events').select(['tenant_id', 'seq', 'type', 'resource_id']).orderBy('tenant_id').orderBy('seq').execute(),
    idempotencyKeys: await db.selectFrom('idempotency_keys').selectAll().orderBy('scope').orderBy('key').execute(),
  };
}

/**
 * Runs `faulty` expecting the injected error after at least one earlier write, checks that the
 * store is unchanged and consistent, then runs `healthy` (the same operation without the fault)
 * to show the operation does change the store when nothing fails.
 */
async function expectAllOrNothing(fault: Fault, faulty: () => Promise<unknown>, healthy: () => Promise<unknown>) {
  const before = await snapshot();
  await expect(faulty()).rejects.toThrow('injected');
  expect(fault.fired, 'the fault was injected').toBe(true);
  expect(fault.writesBefore.length, 'at least one write ran before the fault').toBeGreaterThan(0);
  expect(await snapshot()).toEqual(before);
  expect(await findInvariantViolations(store.db, tenantId, MAX_DEPTH)).toEqual([]);
  await healthy();
  expect(await snapshot(), 'the operation without the fault changes the store').not.toEqual(before);
}

beforeEach(async () => {
  ({ store, ous, users, tenantId } = await openServiceFixture(MAX_DEPTH, 'Atomic'));
});

afterEach(() => closeServiceFixture({ store, tenantId }, MAX_DEPTH));

const tree = () => chainTree({ ous, users, tenantId });

describe('the fault injection itself', () => {
  it('sees the target table of a write, not the tables of its subqueries', async () => {
    const { b } = await tree();
    // CASCADE moves users with `UPDATE users ... WHERE ou_id IN (SELECT id FROM org_units ...)`.
    const fault = faultOn(isDeleteOf('org_units'));
    await expect(fault.ous.delete(W, ALL, tenantId, b.id, 'CASCADE')).rejects.toThrow('injected');
    expect(fault.writesBefore).toEqual([{ kind: 'UpdateQueryNode', table: 'users', columns: ['ou_id', 'updated_at'] }]);
  });
});

describe('multi-row writes are all or nothing', () => {
  it('a failed rename leaves the OU name and every descendant path as they were', async () => {
    const { a } = await tree();
    const fault = faultOn(isUpdateOf('org_units', 'id_path'));
    await expectAllOrNothing(
      fault,
      () => fault.ous.update(W, ALL, tenantId, a.id, { name: 'Alpha' }),
      () => ous.update(W, ALL, tenantId, a.id, { name: 'Alpha' }),
    );
    // The name itself was written before the subtree rewrite failed.
    expect(fault.writesBefore).toContainEqual(expect.objectContaining({ kind: 'UpdateQueryNode', table: 'org_units', columns: expect.arrayContaining(['name']) }));
  });

  it('a failed move leaves parent, paths, depths and both parents\' counters as they were', async () => {
    const { c, z } = await tree();
    // The second counter update (the new parent's) fails after the rewrite and the old parent's decrement.
    const fault = faultOn(isUpdateOf('org_units', 'child_ou_count'), 2);
    await expectAllOrNothing(
      fault,
      () => fault.ous.update(W, ALL, tenantId, c.id, { parent_id: z.id }),
      () => ous.update(W, ALL, tenantId, c.id, { parent_id: z.id }),
    );
    expect(fault.writesBefore.filter(isUpdateOf('org_units', 'id_path'))).toHaveLength(1);
    expect(fault.writesBefore.filter(isUpdateOf('org_units', 'child_ou_count'))).toHaveLength(1);
  });

  it('a failed MOVE_UP leaves the OU, its children and its users where they were', async () => {
    const { b } = await tree();
    // The last step: the parent's counters, after users moved, paths were rewritten, the OU was deleted and children re-parented.
    const fault = faultOn(isUpdateOf('org_units', 'child_ou_count'));
    await expectAllOrNothing(
      fault,
      () => fault.ous.delete(W, ALL, tenantId, b.id, 'MOVE_UP'),
      () => ous.delete(W, ALL, tenantId, b.id, 'MOVE_UP'),
    );
    expect(fault.writesBefore.map((w) => `${w.kind} ${w.table}`)).toEqual([
      'UpdateQueryNode users',
      'UpdateQueryNode org_units',
      'DeleteQueryNode org_units',
      'UpdateQueryNode org_units',
    ]);
  });

  it('a failed CASCADE leaves the subtree and its users as they were', async () => {
    const { b } = await tree();
    const fault = faultOn(isDeleteOf('org_units'));
    await expectAllOrNothing(
      fault,
      () => fault.ous.delete(W, ALL, tenantId, b.id, 'CASCADE'),
      () => ous.delete(W, ALL, tenantId, b.id, 'CASCADE'),
    );
    expect(fault.writesBefore).toContainEqual(expect.objectContaining({ kind: 'UpdateQueryNode', table: 'users' }));
  });

  it('a failed OU create leaves neither the OU nor a changed parent counter', async () => {
    const { a } = await tree();
    // The last write of a create: the parent's counter and the new row have both been written.
    const fault = faultOn(isUpdateOf('tenants', 'ou_count'));
    await expectAllOrNothing(
      fault,
      () => fault.ous.create(W, ALL, tenantId, { name: 'New', parent_id: a.id }),
      () => ous.create(W, ALL, tenantId, { name: 'New', parent_id: a.id }),
    );
    expect(fault.writesBefore).toContainEqual(expect.objectContaining({ kind: 'InsertQueryNode', table: 'org_units' }));
    expect(fault.writesBefore).toContainEqual(expect.objectContaining({ kind: 'UpdateQueryNode', table: 'org_units' }));
  });

  it('a failed event append leaves neither the OU, nor its parent\'s counter, nor the tenant\'s OU count', async () => {
    const { a } = await tree();
    const fault = faultOn(isInsertInto('events'));
    await expectAllOrNothing(
      fault,
      () => fault.ous.create(W, ALL, tenantId, { name: 'New', parent_id: a.id }),
      () => ous.create(W, ALL, tenantId, { name: 'New', parent_id: a.id }),
    );
    expect(fault.writesBefore).toContainEqual(expect.objectContaining({ kind: 'InsertQueryNode', table: 'org_units' }));
  });

  it('a failed store of the Idempotency-Key response leaves no OU, no event and no stored response', async () => {
    const { a } = await tree();
    const keys = createIdempotencyService({ store, ttlMs: 86_400_000 });
    /** A write context holding a fresh claim of `key`, as http/idempotency.ts makes one. */
    const claimed = async (key: string) => {
      const outcome = await keys.claim('atomic-scope', key, 'fingerprint');
      if (outcome.kind !== 'claimed') throw new Error('expected a fresh claim');
      const respond = (result: unknown) => ({ status: 201, headers: {}, body: result });
      return systemWrite({ idempotency: { scope: 'atomic-scope', key, claim: outcome.claim, respond, stored: false } });
    };
    const faultyCtx = await claimed('key-1');
    const healthyCtx = await claimed('key-2');
    const fault = faultOn(isUpdateOf('idempotency_keys', 'response_body'));
    await expectAllOrNothing(
      fault,
      () => fault.ous.create(faultyCtx, ALL, tenantId, { name: 'New', parent_id: a.id }),
      () => ous.create(healthyCtx, ALL, tenantId, { name: 'New', parent_id: a.id }),
    );
    expect(fault.writesBefore).toContainEqual(expect.objectContaining({ kind: 'InsertQueryNode', table: 'events' }));
    expect(faultyCtx.idempotency?.stored).toBe(false);
    expect(healthyCtx.idempotency?.stored).toBe(true);
  });

  it('a failed user create with an OU leaves neither the user nor a changed OU counter', async () => {
    const { b } = await tree();
    const fault = faultOn(isUpdateOf('org_units', 'user_count'));
    await expectAllOrNothing(
      fault,
      () => fault.users.create(W, ALL, tenantId, { email: 'new@x.io', ou_id: b.id }),
      () => users.create(W, ALL, tenantId, { email: 'new@x.io', ou_id: b.id }),
    );
    expect(fault.writesBefore.filter(isInsertInto('users'))).toHaveLength(1);
  });

  it('a failed user move between OUs leaves the user and both OU counters as they were', async () => {
    const { ub, z } = await tree();
    const fault = faultOn(isUpdateOf('org_units', 'user_count'), 2);
    await expectAllOrNothing(
      fault,
      () => fault.users.update(W, ALL, tenantId, ub.id, { ou_id: z.id }),
      () => users.update(W, ALL, tenantId, ub.id, { ou_id: z.id }),
    );
    expect(fault.writesBefore.filter(isUpdateOf('org_units', 'user_count'))).toHaveLength(1);
  });

  it('a failed user delete leaves the user and its OU counter as they were', async () => {
    const { ub } = await tree();
    const fault = faultOn(isUpdateOf('org_units', 'user_count'));
    await expectAllOrNothing(
      fault,
      () => fault.users.delete(W, ALL, tenantId, ub.id),
      () => users.delete(W, ALL, tenantId, ub.id),
    );
    expect(fault.writesBefore.filter(isDeleteOf('users'))).toHaveLength(1);
  });

  it('a failed tenant delete leaves the tenant with all its OUs, users and clients', async () => {
    await tree();
    await repositories(store.db).apiClients.insert({
      id: 'cli_atomic',
      tenant_id: tenantId,
      name: 'Client',
      secret_hash: 'scrypt$x',
      scopes: 'ous:read',
      created_at: new Date().toISOString(),
    });
    const fault = faultOn(isDeleteOf('tenants'));
    await expectAllOrNothing(
      fault,
      () => fault.tenants.delete(W, tenantId),
      () => createTenantService({ store }).delete(W, tenantId),
    );
    expect(fault.writesBefore.map((w) => `${w.kind} ${w.table}`)).toEqual([
      'DeleteQueryNode role_assignments',
      'DeleteQueryNode webhooks',
      'DeleteQueryNode webhook_deliveries',
      'DeleteQueryNode import_jobs',
      'DeleteQueryNode users',
      'DeleteQueryNode api_clients',
      'DeleteQueryNode org_units',
    ]);
  });
});

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/db/store.js';
import { createOu, createTenant, createUser, type OuData, type TenantData } from '../helpers/factories.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { type ServerProcess, startServer } from '../helpers/server-process.js';
import { createTestContext, expectInvariants, type TestContext } from '../helpers/test-app.js';
import { TEST_DATABASE_URL, isPostgresPass, openTestStore } from '../helpers/test-store.js';

/**
 * The store goes away under a running instance: requests fail at once with 503
 * store.unavailable, /readyz turns red, nothing is half-written, and when the store comes back
 * the same instance serves again (no restart).
 */

/** Every row of the tenant's OUs and users and the tenant itself, as the store holds them. */
async function rowsOf(ctx: TestContext, tenantId: string) {
  const db = ctx.store.db;
  return {
    tenant: await db.selectFrom('tenants').selectAll().where('id', '=', tenantId).execute(),
    orgUnits: await db.selectFrom('org_units').selectAll().where('tenant_id', '=', tenantId).orderBy('id').execute(),
    users: await db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).orderBy('id').execute(),
  };
}

/** A tenant with /Eng (2 users), /Eng/Backend (1 user) with a child, and /Sales. */
async function seed(ctx: TestContext) {
  const tenant = await createTenant(ctx);
  const eng = await createOu(ctx, tenant.id, { name: 'Eng' });
  const backend = await createOu(ctx, tenant.id, { name: 'Backend', parent_id: eng.id });
  await createOu(ctx, tenant.id, { name: 'Db', parent_id: backend.id });
  const sales = await createOu(ctx, tenant.id, { name: 'Sales' });
  for (const ou of [eng, eng, backend]) await createUser(ctx, tenant.id, { ou_id: ou.id });
  return { tenant, eng, backend, sales };
}

/** Moves Backend (and its subtree and users) under Sales: a write of many rows. */
function moveBackend(ctx: TestContext, tenant: TenantData, backend: OuData, sales: OuData) {
  return ctx.app.inject({
    method: 'PATCH',
    url: `/api/v1/tenants/${tenant.id}/ous/${backend.id}`,
    headers: ctx.platformHeaders,
    payload: { parent_id: sales.id },
  });
}

function expectStoreUnavailable(response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, reason: RegExp) {
  expect(response.statusCode).toBe(503);
  expect(response.headers['retry-after']).toBe('5');
  const body = response.json() as { detail: string; code: string };
  expect(body.code).toBe('store.unavailable');
  expect(body.detail).toMatch(reason);
}

/** Polls /readyz until it is 200 (the store is back); fails after `attempts`. */
async function untilReady(ctx: TestContext, attempts = 100): Promise<void> {
  let last = '';
  for (let i = 0; i < attempts; i++) {
    const response = await ctx.app.inject({ method: 'GET', url: '/readyz' });
    if (response.statusCode === 200) return;
    last = response.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`/readyz still not ready: ${last}`);
}

// PostgreSQL only: they need its server behind a proxy, so they run in the PostgreSQL pass.
describe.skipIf(!isPostgresPass)('PostgreSQL goes away under a running instance', () => {
  let proxy: TcpProxy;
  let ctx: TestContext | undefined;

  beforeAll(async () => {
    const server = new URL(TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432');
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) });
  });
  afterEach(async () => {
    proxy.restore();
    await proxy.up().catch(() => undefined);
    if (ctx) await ctx.close();
    ctx = undefined;
  });
  afterAll(async () => {
    await proxy.close();
  });

  async function contextThroughProxy(timeouts: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Promise<TestContext> {
    const store = await openTestStore({
      connectVia: (url) => proxy.urlFor(url),
      store: { connectTimeoutMs: 1_000, ...timeouts, onBackgroundError: () => {} },
    });
    return createTestContext({}, { store });
  }

  it('fails requests with 503 within the query and connect timeouts when the network silently drops everything, and recovers once it is back', async () => {
    // Queries give up before connections do: the stuck connections are discarded first, so
    // the requests waiting for a connection meet a dead server, not a full pool.
    ctx = await contextThroughProxy({ connectTimeoutMs: 2_000, queryTimeoutMs: 500 });
    const { tenant, backend, sales } = await seed(ctx);
    const before = await rowsOf(ctx, tenant.id);

    proxy.blackhole();
    // More requests at once than the pool (4) has connections: each is refused as an outage,
    // none as the instance's overload, though every connection is stuck.
    const answers = await Promise.all([
      moveBackend(ctx, tenant, backend, sales),
      ...Array.from({ length: 7 }, () => ctx!.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/tree`, headers: ctx!.platformHeaders })),
    ]);
    for (const answer of answers) expectStoreUnavailable(answer, /PostgreSQL/);
    expect((await ctx.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    proxy.restore();
    await untilReady(ctx);
    expect(await rowsOf(ctx, tenant.id)).toEqual(before);
    expect((await moveBackend(ctx, tenant, backend, sales)).statusCode).toBe(200);
    await expectInvariants(ctx);
  });

  it('answers 503 store.unavailable when the connection dies before COMMIT, and has written nothing of the move', async () => {
    ctx = await contextThroughProxy();
    const { tenant, backend, sales } = await seed(ctx);
    const before = await rowsOf(ctx, tenant.id);

    proxy.cutOnNext(/commit/i);
    const response = await moveBackend(ctx, tenant, backend, sales);
    expect(proxy.cut, 'the proxy cut the connection carrying COMMIT').toBe(true);
    expectStoreUnavailable(response, /PostgreSQL/);

    expect(await rowsOf(ctx, tenant.id)).toEqual(before);
    await expectInvariants(ctx);
    // The pool replaced the dead connection: the same write now goes through.
    expect((await moveBackend(ctx, tenant, backend, sales)).statusCode).toBe(200);
  });

  it('fails requests with 503 and turns /readyz red while the server is down, and serves again once it is back, without a restart', async () => {
    ctx = await contextThroughProxy();
    const { tenant, backend, sales } = await seed(ctx);
    const before = await rowsOf(ctx, tenant.id);

    await proxy.down();
    expectStoreUnavailable(await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/tree`, headers: ctx.platformHeaders }), /PostgreSQL/);
    expectStoreUnavailable(await moveBackend(ctx, tenant, backend, sales), /PostgreSQL/);
    const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'not_ready', detail: expect.any(String) });
    expect((await ctx.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 'liveness does not depend on the store').toBe(200);

    await proxy.up();
    await untilReady(ctx);
    expect(await rowsOf(ctx, tenant.id)).toEqual(before);
    expect((await moveBackend(ctx, tenant, backend, sales)).statusCode).toBe(200);
    await expectInvariants(ctx);
  });
});

describe.skipIf(!isPostgresPass)('PostgreSQL connections all busy', () => {
  it('answers 503 server.overloaded, not store.unavailable, when every pooled connection stays busy past the connect timeout', async () => {
    const store = await openTestStore({ store: { connectTimeoutMs: 500 } });
    const ctx = await createTestContext({}, { store });
    let release = () => {};
    try {
      const tenant = await createTenant(ctx);
      // openTestStore gives each test store 4 connections: hold all of them in transactions.
      const held = Array.from({ length: 4 }, () =>
        store.transaction(() => new Promise<void>((resolve) => {
          const previous = release;
          release = () => {
            previous();
            resolve();
          };
        })),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/tree`, headers: ctx.platformHeaders });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json()).toEqual({ detail: expect.stringMatching(/all 4 PostgreSQL connections of this instance stayed busy/), code: 'server.overloaded' });
      expect(response.headers['retry-after']).toBe('2');
      const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode, 'a busy instance stays in the load balancer').toBe(200);
      release();
      await Promise.all(held);
      expect((await ctx.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    } finally {
      release();
      await ctx.close();
    }
  });
});

/** A small tmpfs of our own to fill up: root and mount(8) needed; the test skips without them. */
function mountSmallDisk(): { dir: string; unmount(): void } | string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs to fill (needs root): ${(error as Error).message.split('\n')[0]}`;
  }
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' }); // still busy: detach it now, freed when closed
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `fn` with a small tmpfs of its own mounted at `dir`, then unmounts it; skips the test,
 * saying why, where it cannot be mounted (not root): the SQLite pass still runs everything else.
 */
async function withSmallDisk(test: { skip(): void }, fn: (dir: string) => Promise<void>): Promise<void> {
  const disk = mountSmallDisk();
  if (typeof disk === 'string') {
    console.warn(`skipped: ${disk}`);
    test.skip();
    return;
  }
  try {
    await fn(disk.dir);
  } finally {
    disk.unmount();
  }
}

/** Writes a file until the disk is full; returns its path. */
function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return path;
}

// SQLite only: it runs in the SQLite pass (its store is a file of its own, whatever the pass).
describe.skipIf(isPostgresPass)('the SQLite file\'s disk fills up under a running instance', () => {
  it('refuses writes with 503 store.unavailable, keeps serving reads, turns /readyz red, writes nothing half, and recovers once there is space', async (test) => {
    await withSmallDisk(test, async (dir) => {
      const ctx = await createTestContext({}, { store: openStore(`sqlite:${join(dir, 'arbor.sqlite')}`) });
      try {
        const { tenant, backend, sales } = await seed(ctx);
        // An empty WAL: the next commit needs new blocks on the disk (a used WAL is rewritten in place).
        await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(ctx.store.db);
        const before = await rowsOf(ctx, tenant.id);
        const filler = fillDisk(dir);

        expectStoreUnavailable(await moveBackend(ctx, tenant, backend, sales), /disk holding the SQLite file is full/);
        const created = await ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenant.id}/ous`, headers: ctx.platformHeaders, payload: { name: 'New' } });
        expectStoreUnavailable(created, /disk holding the SQLite file is full/);
        expect(await rowsOf(ctx, tenant.id)).toEqual(before);

        const tree = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/tree`, headers: ctx.platformHeaders });
        expect(tree.statusCode, 'reads are still served').toBe(200);
        const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toEqual({ status: 'not_ready', detail: expect.stringMatching(/refuses writes: the disk holding the SQLite file is full/) });

        rmSync(filler);
        await untilReady(ctx);
        expect((await moveBackend(ctx, tenant, backend, sales)).statusCode).toBe(200);
        await expectInvariants(ctx);
      } finally {
        await ctx.close();
      }
    });
  });
});

// SQLite only, like the test above.
describe.skipIf(isPostgresPass)('the SQLite file on a read-only filesystem', () => {
  it('refuses to start, exiting 1 and saying the file cannot be opened and what to check, and starts once it is writable again', async (test) => {
    await withSmallDisk(test, async (dir) => {
      const databaseUrl = `sqlite:${join(dir, 'arbor.sqlite')}`;
      const servers: ServerProcess[] = [];
      const start = async (name: string) => {
        const server = await startServer(name, databaseUrl);
        servers.push(server);
        return server;
      };
      try {
        const first = await start('writable');
        await first.ready(60_000);
        await first.stop(); // closes the file: SQLite removes its -wal and -shm
        expect(await first.exit, 'the first instance shut down cleanly (a killed one leaves its -wal behind)').toEqual({ code: 0, signal: null });
        // Remounting read-only needs no file open for writing: only possible between runs.
        execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' });
        const refused = await start('read-only');
        const { code } = await refused.exit;
        expect(code).toBe(1);
        expect(refused.output.join('\n')).toMatch(/Arbor failed to start: the SQLite file cannot be opened .*its folder is writable/);

        execFileSync('mount', ['-o', 'remount,rw', dir], { stdio: 'pipe' });
        const again = await start('writable-again');
        await again.ready(60_000);
      } finally {
        for (const server of servers) await server.stop();
      }
    });
  }, 120_000); // three server processes, each loading the code with tsx: seconds apiece on a busy runner
});

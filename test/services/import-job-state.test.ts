import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { FULL_ACCESS } from '../../src/services/access.js';
import { createImportService } from '../../src/services/import-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { createTenant } from '../helpers/factories.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';

/*
 * A job's GET answers from this instance's memory while it runs. Its final state must not show
 * there before the store holds it: a client (or a test) that saw the job finished would otherwise
 * find its row still changing. The store's write of the job's row is held at a gate here.
 */

let ctx: TestContext;
let spoolDir: string;
beforeAll(async () => {
  ctx = await createTestContext();
  spoolDir = mkdtempSync(join(tmpdir(), 'arbor-import-state-'));
});
afterAll(async () => {
  await ctx.close();
  rmSync(spoolDir, { recursive: true, force: true });
});

/** `db` whose UPDATEs of import_jobs wait for `gate.open()` while the gate is closed. */
function gated(db: Kysely<Database>) {
  let closed = false;
  let waiters: (() => void)[] = [];
  const gate = {
    close: () => void (closed = true),
    open: () => {
      closed = false;
      for (const wake of waiters.splice(0)) wake();
    },
  };
  const wrap = <T extends object>(builder: T): T =>
    new Proxy(builder, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        if (key === 'execute' || key === 'executeTakeFirst' || key === 'executeTakeFirstOrThrow') {
          return async (...args: unknown[]) => {
            if (closed) await new Promise<void>((resolve) => waiters.push(resolve));
            return value.apply(target, args);
          };
        }
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          return result && typeof result === 'object' && 'execute' in result ? wrap(result) : result;
        };
      },
    });
  const proxied = new Proxy(db, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key === 'updateTable') return (table: string) => (table === 'import_jobs' ? wrap(target.updateTable(table as never)) : target.updateTable(table as never));
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: proxied as Kysely<Database>, gate };
}

describe('an import job', () => {
  it('shows as running until the store holds its final state', async () => {
    const tenant = await createTenant(ctx);
    const { db, gate } = gated(ctx.store.db);
    const service = createImportService({
      store: { db, transaction: ctx.store.transaction, insertMany: ctx.store.insertMany, deferIndexes: ctx.store.deferIndexes },
      maxDepth: ctx.config.maxOuDepth,
      log: { warn: () => {}, info: () => {} },
      spoolDir,
    });
    const file = Buffer.from('path,description\n/Sales,\n/Sales/East,\n');
    const options = { format: 'csv' as const, dry_run: false, on_conflict: 'fail' as const, base_dn: null, prune: false, max_deletes: 500, atomic: true };
    const started = await service.start(systemWrite(), FULL_ACCESS, tenant.id, options, Readable.from([file]), 1024 * 1024);
    expect(started.state).toBe('running');
    gate.close();
    // The import applies meanwhile; its job's final write waits at the gate.
    const row = () => ctx.store.db.selectFrom('import_jobs').select('state').where('id', '=', started.id).executeTakeFirstOrThrow();
    const deadline = performance.now() + 5_000;
    while ((await ctx.store.db.selectFrom('org_units').select('id').where('tenant_id', '=', tenant.id).execute()).length < 2) {
      if (performance.now() > deadline) throw new Error('the import did not apply');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await row()).state).toBe('running');
    expect((await service.get(FULL_ACCESS, tenant.id, started.id)).state).toBe('running');
    gate.open();
    for (let i = 0; i < 500 && (await service.get(FULL_ACCESS, tenant.id, started.id)).state === 'running'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const finished = await service.get(FULL_ACCESS, tenant.id, started.id);
    expect(finished.state).toBe('succeeded');
    expect((await row()).state).toBe('succeeded');
  });
});

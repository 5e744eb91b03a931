import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/store.js';
import { FULL_ACCESS } from '../../src/services/access.js';
import { type ImportJob, createImportService } from '../../src/services/import-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';

/*
 * An import looks up the users a batch of the file may match, by email and by external_id. Into a
 * tenant that held no user when it began, the only users to match are those it wrote itself, and
 * it asks only for the keys a filter of those may hold (src/lib/bloom-filter.ts). The statements
 * the import sends are read here through a Kysely plugin on its transaction.
 */

let ctx: TestContext;
let spoolDir: string;
beforeAll(async () => {
  ctx = await createTestContext();
  spoolDir = mkdtempSync(join(tmpdir(), 'arbor-import-lookups-'));
});
afterAll(async () => {
  await ctx.close();
  rmSync(spoolDir, { recursive: true, force: true });
});

/** Imports `csv` into the tenant and counts the keys its user lookups asked for. */
async function importCounting(tenantId: string, csv: string): Promise<{ job: ImportJob; keysAsked: number }> {
  let keysAsked = 0;
  const counting = (store: Store): KyselyPlugin => ({
    transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
      const { sql, parameters } = store.db.getExecutor().compileQuery(node, queryId);
      // The lookups: every user column, from users, by a list of emails or external ids.
      if (/from "users" where "tenant_id" = .* and "(email_key|external_id)" in/.test(sql)) keysAsked += parameters.length - 1;
      return node;
    },
    transformResult: async ({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => result,
  });
  const store = ctx.store;
  const service = createImportService({
    store: { db: store.db, insertMany: store.insertMany, transaction: (fn, options) => store.transaction((trx) => fn(trx.withPlugin(counting(store))), options) },
    maxDepth: ctx.config.maxOuDepth,
    log: { warn: () => {}, info: () => {} },
    spoolDir,
  });
  const options = { format: 'csv' as const, dry_run: false, on_conflict: 'skip' as const, base_dn: null, prune: false, max_deletes: 500, atomic: false };
  const started = await service.start(systemWrite(), FULL_ACCESS, tenantId, options, Readable.from([Buffer.from(csv)]), 16 * 1024 * 1024);
  let job = started;
  for (let i = 0; i < 1000 && job.state === 'running'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    job = await service.get(FULL_ACCESS, tenantId, started.id);
  }
  return { job, keysAsked };
}

/** A Google Workspace user export of `n` users at the top level, then the first one again. */
const usersCsv = (n: number) =>
  [
    'Email Address [Required],First Name,Last Name,Org Unit Path [Required]',
    ...Array.from({ length: n }, (_, i) => `user${i}@lookups.example,User,${i},/`),
    'USER0@lookups.example,User,Again,/',
    '',
  ].join('\n');

describe('the user lookups of an import', () => {
  it('into an empty tenant, asks only for the keys it may have written, and still finds a repeat a batch later', async () => {
    const tenant = await createTenant(ctx);
    const { job, keysAsked } = await importCounting(tenant.id, usersCsv(1_500));
    expect(job).toMatchObject({ state: 'succeeded', progress: { users: { created: 1_500, skipped: 0 }, rejected: 1 } });
    expect(job.rejected[0]?.reason).toMatch(/the email 'USER0@lookups\.example' is already in the file/);
    // The repeat's key, and the filter's false positives: ~1 % of the rest.
    expect(keysAsked).toBeGreaterThanOrEqual(1);
    expect(keysAsked).toBeLessThan(150);
  });

  it('into a tenant that holds users, asks for every key', async () => {
    const tenant = await createTenant(ctx);
    await createUser(ctx, tenant.id, { email: 'user7@lookups.example' });
    const { job, keysAsked } = await importCounting(tenant.id, usersCsv(1_500));
    expect(job).toMatchObject({ state: 'succeeded', progress: { users: { created: 1_499, skipped: 1 }, rejected: 1 } });
    expect(keysAsked).toBeGreaterThanOrEqual(1_501);
  });
});

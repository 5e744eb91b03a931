/**
 * npm run bench:seed -- [--store sqlite|postgres] [--ous 100000] [--users 1000000] [--tenants 20]
 *
 * Builds the benchmark store from scratch (see bench/README.md), then checks its invariants.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { sql } from 'kysely';
import { openStore } from '../src/db/store.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { findInvariantViolations } from '../src/services/invariant-service.js';
import { plannedRows, seed } from './seed-data.js';
import { type BenchStore, manifestFile, recreateSeedStore } from './stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    ous: { type: 'string', default: '100000' },
    users: { type: 'string', default: '1000000' },
    tenants: { type: 'string', default: '20' },
    'skip-check': { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got '${text}'.`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const store = values.store as BenchStore;
  if (store !== 'sqlite' && store !== 'postgres') {
    console.error(`--store must be sqlite or postgres, got '${values.store}'.`);
    process.exit(2);
  }
  const options = { ous: positive('ous', values.ous), users: positive('users', values.users), tenants: positive('tenants', values.tenants) };
  const url = await recreateSeedStore(store);
  const db = openStore(url, { poolSize: 2 });
  await migrateToLatest(db.db);
  if (store === 'sqlite') {
    // A bulk load into three indexes of 10^6 entries: a page cache that holds them (the default
    // 2 MB thrashes), and no fsync per transaction (a failed seed is simply run again).
    await sql`PRAGMA cache_size = -524288`.execute(db.db);
    await sql`PRAGMA synchronous = OFF`.execute(db.db);
  }
  console.log(`Seeding ${url}: ${options.ous} OUs and ${options.users} users in the big tenant, ${options.tenants - 1} smaller tenants beside it`);

  const started = performance.now();
  const bar = new SingleBar({
    format: '  {bar} {percentage}% | {value}/{total} rows | {duration}s elapsed, ETA {eta}s',
    hideCursor: true,
    // In a log (CI, a pipe) too: a line every 5 s instead of a redrawn bar.
    noTTYOutput: true,
    notTTYSchedule: 5000,
  });
  bar.start(plannedRows(options), 0);
  const manifest = await seed(db, options, (n) => bar.increment(n));
  bar.stop();
  const seeded = performance.now();

  // Planner statistics for the store as the server will find it.
  if (store === 'sqlite') await sql`ANALYZE`.execute(db.db);
  else await sql`VACUUM ANALYZE`.execute(db.db);
  const analyzed = performance.now();
  console.log(`Wrote the rows in ${((seeded - started) / 1000).toFixed(1)} s; statistics in ${((analyzed - seeded) / 1000).toFixed(1)} s`);

  if (!values['skip-check']) {
    const violations = await findInvariantViolations(db.db, manifest.tenantId, manifest.options.maxDepth);
    if (violations.length > 0) throw new Error(`The seeded store breaks ${violations.length} invariants, e.g. ${violations.slice(0, 3).join('; ')}`);
    console.log(`Invariant check of the big tenant passed in ${((performance.now() - analyzed) / 1000).toFixed(1)} s`);
  }
  if (store === 'sqlite') await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db.db);
  await db.close();
  writeFileSync(manifestFile(store), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`Seeded in ${((performance.now() - started) / 1000).toFixed(1)} s. Next: npm run bench -- --store ${store}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

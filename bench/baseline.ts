/**
 * `npm run bench -- --baseline <git ref>`: the same scenarios against an earlier commit, in the
 * same run, so that a change is judged against figures taken on the same machine at the same
 * moment (a 2-core machine's absolute figures drift by tens of percent between sessions).
 *
 * The ref is checked out as a git worktree under $TMPDIR/arbor-bench-baseline/<sha> (outside
 * this checkout, so neither the type check nor the tests see its files) and built there. Its
 * runs use the same seeded store, migrated down (by this checkout's migrations) to the last
 * migration the baseline knows, so that each side starts from the same rows.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/db/store.js';
import { migratorFor } from '../src/db/migrator.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A built checkout the benchmark can start a server from. */
export interface Checkout {
  /** What the tables call it: `current`, or `baseline <short sha>`. */
  label: string;
  /** Its top folder: bench/server.mjs and dist/ are under it. */
  dir: string;
  /** Its newest migration, or undefined for this checkout (which migrates the copy itself). */
  lastMigration?: string;
}

export const CURRENT: Checkout = { label: 'current', dir: ROOT };

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

/** Checks `ref` out beside this checkout (once per commit) and builds it; progress on stderr. */
export function prepareBaseline(ref: string): Checkout {
  let sha: string;
  try {
    sha = git('rev-parse', '--verify', `${ref}^{commit}`);
  } catch {
    throw new Error(`--baseline: '${ref}' is not a commit of this repository (try a sha, a tag or main~3).`);
  }
  const dir = join(tmpdir(), 'arbor-bench-baseline', sha);
  if (!existsSync(join(dir, 'package.json'))) {
    console.error(`Checking out the baseline ${sha.slice(0, 10)} in ${dir} …`);
    git('worktree', 'add', '--force', '--detach', dir, sha);
  }
  if (!existsSync(join(dir, 'node_modules'))) {
    // The same lockfile: share this checkout's installed packages instead of installing again.
    const sameLock = readFileSync(join(dir, 'package-lock.json'), 'utf8') === readFileSync(join(ROOT, 'package-lock.json'), 'utf8');
    if (sameLock) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    else execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  if (!existsSync(join(dir, 'dist', 'app.js'))) {
    console.error(`Building the baseline ${sha.slice(0, 10)} …`);
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const migrations = readdirSync(join(dir, 'src', 'db', 'migrations'))
    .filter((file) => /^\d{4}-.*\.ts$/.test(file))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
  return { label: `baseline ${sha.slice(0, 10)}`, dir, lastMigration: migrations.at(-1) };
}

/**
 * Brings a fresh copy of the seed to the schema `checkout` expects: down to its last migration
 * for a baseline (its code refuses a store with migrations it does not know).
 */
export async function fitStoreTo(checkout: Checkout, databaseUrl: string): Promise<void> {
  if (checkout.lastMigration === undefined) return;
  const store = openStore(databaseUrl, { poolSize: 1 });
  try {
    const migrator = await migratorFor(store.db);
    const { error } = await migrator.migrateTo(checkout.lastMigration);
    if (error) throw error instanceof Error ? error : new Error(String(error));
  } finally {
    await store.close();
  }
}

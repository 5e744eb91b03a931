/** Where the benchmark keeps its stores, and how a run gets a fresh copy of the seeded one. */
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export type BenchStore = 'sqlite' | 'postgres';

export const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '.data');
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** The PostgreSQL server the benchmark uses; databases are created on it by name. */
export const POSTGRES_SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const SEED_DB = 'arbor_bench_seed';
const RUN_DB = 'arbor_bench_run';

function postgresUrl(database: string): string {
  const url = new URL(POSTGRES_SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

export function seedUrl(store: BenchStore): string {
  return store === 'sqlite' ? `sqlite:${join(DATA_DIR, 'seed.sqlite')}` : postgresUrl(SEED_DB);
}

export function manifestFile(store: BenchStore): string {
  return join(DATA_DIR, `manifest-${store}.json`);
}

async function onServer<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_SERVER });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** An empty store at the seed location (any earlier seed is removed). */
export async function recreateSeedStore(store: BenchStore): Promise<string> {
  mkdirSync(DATA_DIR, { recursive: true });
  if (store === 'sqlite') {
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(DATA_DIR, `seed.sqlite${suffix}`), { force: true });
  } else {
    await onServer(async (client) => {
      await client.query(`drop database if exists ${SEED_DB} with (force)`);
      await client.query(`create database ${SEED_DB}`);
    });
  }
  return seedUrl(store);
}

/**
 * A fresh copy of the seeded store for one run, so that the write scenarios of every run start
 * from the same state: a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL.
 */
export async function freshRunStore(store: BenchStore): Promise<string> {
  if (store === 'sqlite') {
    const seedFile = join(DATA_DIR, 'seed.sqlite');
    if (!existsSync(seedFile)) throw new Error('No seeded SQLite store: run `npm run bench:seed` first.');
    const runFile = join(DATA_DIR, 'run.sqlite');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${runFile}${suffix}`, { force: true });
    copyFileSync(seedFile, runFile);
    return `sqlite:${runFile}`;
  }
  await onServer(async (client) => {
    const seeded = await client.query('select 1 from pg_database where datname = $1', [SEED_DB]);
    if (seeded.rowCount === 0) throw new Error('No seeded PostgreSQL store: run `npm run bench:seed -- --store postgres` first.');
    await client.query(`drop database if exists ${RUN_DB} with (force)`);
    await client.query(`create database ${RUN_DB} template ${SEED_DB}`);
  });
  return postgresUrl(RUN_DB);
}

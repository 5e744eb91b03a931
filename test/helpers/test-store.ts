import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Store, type StoreOptions, openStore } from '../../src/db/store.js';

/**
 * The store the suite runs on: SQLite in memory by default; PostgreSQL when TEST_DATABASE_URL is
 * set (npm test sets it for its second pass), each test in a fresh schema of that database.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined;
export const isPostgresPass = TEST_DATABASE_URL !== undefined;

const schemas = new WeakMap<Store, string>();

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestStoreOptions {
  /** PostgreSQL: connect through this URL instead of TEST_DATABASE_URL (e.g. a fault-injecting proxy's). */
  connectVia?: (databaseUrl: string) => string;
  /** PostgreSQL: more store options (connect timeout, idle connection errors). */
  store?: Omit<StoreOptions, 'schema' | 'poolSize'>;
}

/** A new, empty store (not migrated): in-memory SQLite, or a fresh PostgreSQL schema. */
export async function openTestStore(options: TestStoreOptions = {}): Promise<Store> {
  if (!TEST_DATABASE_URL) return openStore('sqlite::memory:');
  const schema = `t_${process.pid}_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`create schema ${schema}`));
  const url = options.connectVia ? options.connectVia(TEST_DATABASE_URL) : TEST_DATABASE_URL;
  const store = openStore(url, { ...options.store, schema, poolSize: 4 });
  schemas.set(store, schema);
  return store;
}

/** Closes a store from openTestStore and drops its PostgreSQL schema. */
export async function closeTestStore(store: Store): Promise<void> {
  await store.close();
  const schema = schemas.get(store);
  if (schema) await admin((client) => client.query(`drop schema if exists ${schema} cascade`));
}

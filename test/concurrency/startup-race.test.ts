import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/db/store.js';
import * as initial from '../../src/db/migrations/0001-initial.js';
import { MIGRATION_NAMES } from '../../src/db/migrator.js';
import {
  ADMIN_ID,
  type ScratchStore,
  type ServerProcess,
  call,
  platformToken,
  scratchPostgres,
  scratchSqlite,
  startServer,
} from '../helpers/server-process.js';
import { TEST_DATABASE_URL, isPostgresPass } from '../helpers/test-store.js';

// Issue 4: several instances starting at the same moment on an empty (or an older) store create
// the schema, the signing key and the bootstrap client exactly once between them, and all come up.

const INSTANCES = 3;
const ALL_MIGRATIONS = MIGRATION_NAMES;

let servers: ServerProcess[] = [];
let scratch: ScratchStore | undefined;

afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
  await scratch?.dispose();
  scratch = undefined;
}, 30_000);

async function newStore(kind: 'sqlite' | 'postgres'): Promise<ScratchStore> {
  scratch = kind === 'sqlite' ? scratchSqlite('arbor-start-') : await scratchPostgres(TEST_DATABASE_URL!);
  return scratch;
}

/** A store as an older Arbor left it: only the first migration applied, no key, no client. */
async function applyFirstMigrationOnly(databaseUrl: string): Promise<void> {
  const store = openStore(databaseUrl, { poolSize: 1 });
  try {
    const { error } = await new Migrator({ db: store.db, provider: { getMigrations: async () => ({ '0001-initial': initial }) } }).migrateToLatest();
    if (error) throw error;
  } finally {
    await store.close();
  }
}

/**
 * Starts the instances so that they reach the store together: each loads its code, then waits at
 * a barrier (start-barrier.ts) until all have; returns the spread of their release times.
 */
async function startTogether(databaseUrl: string): Promise<{ readyMs: number; spreadMs: number }> {
  const started = Date.now();
  const barrier = mkdtempSync(join(tmpdir(), 'arbor-barrier-'));
  try {
    const env = { START_BARRIER_DIR: barrier, START_BARRIER_COUNT: String(INSTANCES) };
    servers = await Promise.all(
      Array.from({ length: INSTANCES }, (_, i) => startServer(`i${i + 1}`, databaseUrl, { env, preload: ['test/concurrency/start-barrier.ts'] })),
    );
    const outcomes = await Promise.allSettled(servers.map((s) => s.ready(60_000)));
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${servers[i].name}: ${(o.reason as Error).message}`] : []));
    // Thrown, not compared: a failed comparison would show the reasons only as "[ Array(1) ]".
    if (failed.length > 0) throw new Error(`not every instance came up:\n${failed.join('\n')}`);
    const released = readdirSync(barrier)
      .filter((f) => f.startsWith('released-'))
      .map((f) => Number(readFileSync(join(barrier, f), 'utf8')));
    expect(released, 'every instance passed the start barrier').toHaveLength(INSTANCES);
    return { readyMs: Date.now() - started, spreadMs: Math.max(...released) - Math.min(...released) };
  } finally {
    rmSync(barrier, { recursive: true, force: true });
  }
}

async function expectCreatedOnce(databaseUrl: string, kind: string, { readyMs, spreadMs }: { readyMs: number; spreadMs: number }): Promise<void> {
  const store = openStore(databaseUrl, { poolSize: 1 });
  try {
    const keys = await store.db.selectFrom('signing_keys').select(['kid', 'retired_at']).execute();
    const clients = await store.db.selectFrom('api_clients').select(['id', 'tenant_id', 'scopes']).execute();
    const migrations = (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db)).rows.map((r) => r.name);
    console.log(
      `[startup-race ${kind}] ${INSTANCES} instances released within ${spreadMs} ms of each other, all ready ${readyMs} ms after spawn; signing_keys ${JSON.stringify(keys.map((k) => ({ kid: k.kid.slice(0, 8), retired: k.retired_at !== null })))}; ` +
        `api_clients ${JSON.stringify(clients.map((c) => c.id))}; migrations ${JSON.stringify(migrations)}`,
    );
    expect(keys.filter((k) => k.retired_at === null)).toHaveLength(1);
    expect(keys).toHaveLength(1);
    expect(clients.filter((c) => c.id === ADMIN_ID)).toEqual([{ id: ADMIN_ID, tenant_id: null, scopes: 'platform:admin' }]);
    expect(clients).toHaveLength(1);
    expect(migrations).toEqual(ALL_MIGRATIONS);
  } finally {
    await store.close();
  }

  // One key between them: a token any instance issues is accepted by every other.
  const tokens = await Promise.all(servers.map((s) => platformToken(s.baseUrl)));
  for (const [i, token] of tokens.entries()) {
    for (const server of servers) {
      const answer = await call(server.baseUrl, server.name, token, `token of i${i + 1}`, 'GET', '/api/v1/tenants');
      expect(answer.status, `token of i${i + 1} on ${server.name}`).toBe(200);
    }
  }
  const errorLines = servers.flatMap((s) => s.errorLines());
  expect(errorLines).toEqual([]);
}

function scenarios(kind: 'sqlite' | 'postgres') {
  it(
    `${INSTANCES} instances starting together on an empty store: all come up; migrations, key and admin client exist once`,
    async () => {
      const { databaseUrl } = await newStore(kind);
      await expectCreatedOnce(databaseUrl, `${kind} empty`, await startTogether(databaseUrl));
    },
    90_000,
  );

  it(
    `${INSTANCES} instances starting together on an older store (first migration only): the rest is applied once`,
    async () => {
      const { databaseUrl } = await newStore(kind);
      await applyFirstMigrationOnly(databaseUrl);
      await expectCreatedOnce(databaseUrl, `${kind} older`, await startTogether(databaseUrl));
    },
    90_000,
  );
}

describe.skipIf(isPostgresPass)('instances racing at start-up on one SQLite file', () => scenarios('sqlite'));
describe.skipIf(!TEST_DATABASE_URL)('instances racing at start-up on one PostgreSQL database', () => scenarios('postgres'));

import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { pick } from '../../src/db/repositories/index.js';
import { startCheckpointer } from '../../src/db/sqlite-checkpointer.js';
import { type Store, openStore } from '../../src/db/store.js';
import { isPostgresPass } from '../helpers/test-store.js';

/*
 * A SQLite file's WAL is checkpointed by a worker thread (src/db/sqlite-checkpointer.ts), not by
 * the commits on the event loop. Observable from outside: the database file alone, without its
 * WAL, soon holds what was committed, long before a commit would have checkpointed (10,000 pages).
 */

// SQLite files only: the PostgreSQL pass has no WAL of Arbor's to checkpoint.
describe.skipIf(isPostgresPass)('WAL checkpoints in a worker thread', () => {
  let dir: string;
  let store: Store | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'arbor-checkpoint-'));
  });

  afterEach(async () => {
    await store?.close();
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** The tenant ids in a copy of the database file alone, as a reader without the WAL sees it. */
  function tenantsInFileAlone(file: string): string[] {
    const copy = join(dir, `copy-${Date.now()}.sqlite`);
    copyFileSync(file, copy);
    const db = new SqliteDatabase(copy, { readonly: true });
    try {
      return (db.prepare('select id from tenants').all() as { id: string }[]).map((row) => row.id);
    } catch {
      return []; // not even the migrations have reached the file yet
    } finally {
      db.close();
    }
  }

  it('copies a commit into the database file within seconds, which a commit alone would not do for 10,000 pages', async () => {
    const file = join(dir, 'arbor.sqlite');
    store = openStore(`sqlite:${file}`);
    await migrateToLatest(store.db);
    const at = new Date().toISOString();
    await pick(store.db, ['tenants']).tenants.insert({ id: 'tnt_checkpointed', name: 'C', slug: 'c', ou_count: 0, ou_version: 0, created_at: at, updated_at: at });
    let found: string[] = [];
    for (let waited = 0; waited < 10_000 && !found.includes('tnt_checkpointed'); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      found = tenantsInFileAlone(file);
    }
    expect(found).toContain('tnt_checkpointed');
  });

  it('reports a worker that cannot open its file, once, with the file named', async () => {
    const exits: Error[] = [];
    const checkpointer = startCheckpointer(join(dir, 'missing.sqlite'), { intervalMs: 50, onError: () => {}, onExit: (error) => exits.push(error) });
    for (let waited = 0; waited < 10_000 && exits.length === 0; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    await checkpointer.stop();
    expect(exits).toHaveLength(1);
    expect(exits[0].message).toMatch(/cannot open .*missing\.sqlite/);
  });

  it('checkpoints at once when asked, and says when it has', async () => {
    const file = join(dir, 'asked.sqlite');
    const db = new SqliteDatabase(file);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec("create table tenants (id text primary key); insert into tenants values ('tnt_asked')");
    // A minute between its own checkpoints: only the one asked for can copy the row in time.
    const checkpointer = startCheckpointer(file, { intervalMs: 60_000, onError: () => {}, onExit: () => {} });
    try {
      expect(tenantsInFileAlone(file)).toEqual([]);
      await checkpointer.checkpointed();
      expect(tenantsInFileAlone(file)).toEqual(['tnt_asked']);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("leaves a bulk transaction's WAL to the worker: the connection checkpoints again only once the worker has", async () => {
    const file = join(dir, 'arbor.sqlite');
    store = openStore(`sqlite:${file}`);
    await migrateToLatest(store.db);
    const autocheckpoint = async () => Number(Object.values((await sql`pragma wal_autocheckpoint`.execute(store!.db)).rows[0] as object)[0]);
    expect(await autocheckpoint()).toBe(10_000);
    const at = new Date().toISOString();
    await store.transaction((trx) => pick(trx, ['tenants']).tenants.insert({ id: 'tnt_bulk', name: 'B', slug: 'b', ou_count: 0, ou_version: 0, created_at: at, updated_at: at }), { bulk: true });
    // Before the worker's answer can arrive (it needs a turn of the event loop), the next
    // commit on this connection would copy the whole WAL itself at 10,000 pages.
    expect(await autocheckpoint()).toBe(0);
    let pages = 0;
    for (let waited = 0; waited < 10_000 && pages === 0; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      pages = await autocheckpoint();
    }
    expect(pages).toBe(10_000);
    expect(tenantsInFileAlone(file)).toContain('tnt_bulk');
  });

  it('stops when its store closes, leaving no WAL behind', async () => {
    const file = join(dir, 'arbor.sqlite');
    store = openStore(`sqlite:${file}`);
    await migrateToLatest(store.db);
    await store.close();
    store = undefined;
    // The last connection to close checkpoints and removes the WAL: the worker's was closed first.
    expect(() => copyFileSync(`${file}-wal`, join(dir, 'wal-copy'))).toThrow(/ENOENT/);
  });
});

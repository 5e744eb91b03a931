import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openStore } from '../../src/db/store.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { createOrgUnitService } from '../../src/services/org-unit-service.js';
import { createTenantService } from '../../src/services/tenant-service.js';
import { createUserService } from '../../src/services/user-service.js';
import { QUIET_ENV } from '../helpers/test-app.js';
import { isPostgresPass } from '../helpers/test-store.js';
import { systemWrite } from '../../src/services/write-context.js';

/** Writes of these tests are Arbor's own (no request): their events say actor system. */
const W = systemWrite();

// The real command-line tools, run as a user runs them, against a SQLite file.
// SQLite-only: the tools run in other processes on a file shared with the test, so every describe
// below is skipped on the PostgreSQL pass.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TIMEOUT_MS = 60_000;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

let dir: string;
let file: string;
let databaseUrl: string;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a user who only set DATABASE_URL: nothing else of Arbor's leaks in from the test run. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(ARBOR_|DATABASE_URL$|HOST$|PORT$|LOG_LEVEL$)/.test(key)) continue;
    env[key] = value;
  }
  env.DATABASE_URL = databaseUrl;
  return env;
}

function runCli(name: string, args: string[] = []): Promise<Outcome> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `src/cli/${name}.ts`, ...args],
      { cwd: ROOT, env: cliEnv(), timeout: TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`${name} did not exit normally (${error.signal ?? error.code}): ${stderr}`));
          return;
        }
        resolvePromise({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** An app on the same file, configured from nothing but DATABASE_URL (like the CLI). */
async function appOnFile() {
  return buildApp(loadConfig({ ...QUIET_ENV, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' }), { logger: false, bootstrapAdminClient: false });
}

/** A tenant with /Eng -> /Eng/Backend and a user in Backend, written through the services. */
async function seed() {
  const store = openStore(databaseUrl);
  try {
    await migrateToLatest(store.db);
    const tenant = await createTenantService({ store }).create(W, { name: 'Cli' });
    const ous = createOrgUnitService({ store, maxDepth: 32 });
    const eng = await ous.create(W, ALL, tenant.id, { name: 'Eng' });
    const backend = await ous.create(W, ALL, tenant.id, { name: 'Backend', parent_id: eng.id });
    await createUserService({ store }).create(W, ALL, tenant.id, { email: 'dev@x.io', ou_id: backend.id });
    return { tenantId: tenant.id, engId: eng.id, backendId: backend.id };
  } finally {
    await store.close();
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arbor-cli-'));
  file = join(dir, 'arbor.sqlite');
  databaseUrl = `sqlite:${file}`;
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(isPostgresPass)('token', { timeout: 2 * TIMEOUT_MS }, () => {
  it('--platform prints one JWT line that an app on the same file accepts', async () => {
    const { code, stdout, stderr } = await runCli('token', ['--platform']);
    expect(code, stderr).toBe(0);
    const lines = stdout.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(JWT);

    const { app } = await appOnFile();
    try {
      const response = await app.inject({ method: 'GET', url: '/api/v1/tenants', headers: { authorization: `Bearer ${lines[0]}` } });
      expect(response.statusCode, response.body).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('--tenant with an existing tenant prints a token for that tenant only', async () => {
    const { tenantId } = await seed();
    const { code, stdout, stderr } = await runCli('token', ['--tenant', tenantId, '--scope', 'ous:read']);
    expect(code, stderr).toBe(0);
    const token = stdout.trim();
    expect(token).toMatch(JWT);

    const { app } = await appOnFile();
    try {
      const headers = { authorization: `Bearer ${token}` };
      expect((await app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous`, headers })).statusCode).toBe(200);
      // ous:read only: writing is refused.
      const write = await app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/ous`, headers, payload: { name: 'X' } });
      expect(write.statusCode).toBe(403);
    } finally {
      await app.close();
    }
  });

  it('--tenant unknown exits 1 naming the tenant on stderr and prints no token', async () => {
    const { code, stdout, stderr } = await runCli('token', ['--tenant', 'unknown']);
    expect(code).toBe(1);
    expect(stderr).toContain("Tenant 'unknown' does not exist");
    expect(stdout).toBe('');
  });

  it('refuses a --ttl longer than the configured token lifetime, which would outlive a rotated key', async () => {
    const { code, stdout, stderr } = await runCli('token', ['--platform', '--ttl', '3600']);
    expect(code).toBe(2);
    expect(stderr).toContain('ARBOR_TOKEN_TTL_SECONDS');
    expect(stdout).toBe('');
  });

  it('without arguments exits 2 and prints the usage', async () => {
    const { code, stdout, stderr } = await runCli('token');
    expect(code).toBe(2);
    expect(stderr).toContain('--platform');
    expect(stderr).toContain('--tenant');
    expect(stdout).toBe('');
  });
});

describe.skipIf(isPostgresPass)('migrate', { timeout: 2 * TIMEOUT_MS }, () => {
  it('applies the migrations to a new file, then says the schema is already up to date', async () => {
    const first = await runCli('migrate');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('Applied: 0001-initial');

    const second = await runCli('migrate');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('Schema already up to date');
    expect(second.stdout).not.toContain('Applied');
  });
});

describe.skipIf(isPostgresPass)('check', { timeout: 2 * TIMEOUT_MS }, () => {
  it('exits 0 on a consistent store, and 1 listing the violation after an OU path is corrupted', async () => {
    const { tenantId, engId } = await seed();
    const clean = await runCli('check');
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toContain('1 tenant(s) checked, 0 violation(s).');

    const sqlite = new SqliteDatabase(file);
    try {
      expect(sqlite.prepare("UPDATE org_units SET path = '/broken' WHERE id = ?").run(engId).changes).toBe(1);
    } finally {
      sqlite.close();
    }

    const broken = await runCli('check');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`${tenantId}: ${engId}: path '/broken' should be '/Eng'`);
    expect(broken.stdout).toContain('1 tenant(s) checked, 1 violation(s).');
  });
});

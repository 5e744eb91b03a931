import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { type App, type BuildAppOptions, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { repositories } from '../../src/db/repositories/index.js';
import { newId } from '../../src/lib/ids.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import type { Store } from '../../src/db/store.js';
import { closeTestStore, openTestStore } from './test-store.js';
import { loopbackTripwire, testLookup, testWebhooks } from './webhooks.js';

export interface TestContext extends App {
  config: Config;
  /** A platform token (scope platform:admin). */
  platformToken: string;
  /** Authorization headers for a token of `tenantId` with `scopes` (default: every tenant scope). */
  headersFor(tenantId: string, scopes?: string[]): Promise<Record<string, string>>;
  platformHeaders: Record<string, string>;
  /** Closes the app and its store (dropping a PostgreSQL test schema). */
  close(): Promise<void>;
}

export const ALL_TENANT_SCOPES = ['ous:read', 'ous:write', 'users:read', 'users:write', 'tenants:read', 'tenants:write'];

/**
 * Environment that turns rate limiting and load shedding off, for tests that build an app from
 * their own environment: on a busy test machine they would turn a test's requests into 429s and 503s.
 */
export const QUIET_ENV = { ARBOR_RATE_LIMIT_PER_MINUTE: '0', ARBOR_MAX_EVENT_LOOP_DELAY_MS: '0' } as const;

/** A fully built app on a fresh store: in-memory SQLite, or a new PostgreSQL schema (test-store.ts). */
export async function createTestContext(
  overrides: Partial<Config> = {},
  options: { store?: Store } & Pick<BuildAppOptions, 'webhookLookup' | 'webhookBeforeConnect'> = {},
): Promise<TestContext> {
  // Rate limiting and load shedding are off unless a test turns them on: a busy test machine
  // must not turn a test's requests into 429s or 503s.
  // Webhooks: no dispatcher unless a test turns it on, names from the test resolver, loopback only.
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }, { rateLimitPerMinute: 0, maxEventLoopDelayMs: 0, webhooks: testWebhooks(), ...overrides });
  // A store passed in is closed (and a PostgreSQL test schema dropped) with the context.
  const store = options.store ?? (await openTestStore());
  const built = await buildApp(config, { store, logger: false, bootstrapAdminClient: false, webhookLookup: options.webhookLookup ?? testLookup, webhookBeforeConnect: options.webhookBeforeConnect ?? loopbackTripwire });
  const platformToken = await built.tokens.sign({ subject: 'test-platform', scopes: ['platform:admin'] });
  return {
    ...built,
    config,
    platformToken,
    platformHeaders: { authorization: `Bearer ${platformToken}` },
    async headersFor(tenantId, scopes = ALL_TENANT_SCOPES) {
      // Rights come from role assignments: the test principal is its tenant's administrator.
      await grantRole(store, tenantId, `test-${tenantId}`, 'tenant_admin', null);
      const token = await built.tokens.sign({ subject: `test-${tenantId}`, tenantId, scopes });
      return { authorization: `Bearer ${token}` };
    },
    async close() {
      await built.app.close();
      await closeTestStore(store);
    },
  };
}

/**
 * Gives the Arbor client (or token subject) `principalId` `role` in `tenantId`, at `ouId` (null:
 * tenant-wide), straight in the store, unless it already holds it; a tenant that does not exist
 * is left alone. Tests use it for tokens they sign themselves; the API path is tested elsewhere.
 */
export async function grantRole(
  store: Store,
  tenantId: string,
  principalId: string,
  role: 'tenant_admin' | 'ou_admin' | 'user_manager' | 'viewer',
  ouId: string | null,
  principalType: 'client' | 'external' = 'client',
): Promise<void> {
  const repos = repositories(store.db);
  if (!(await repos.tenants.exists(tenantId))) return;
  const row = { principal_type: principalType, principal_id: principalId, role, ou_id: ouId };
  if (await repos.roleAssignments.findSame(tenantId, row)) return;
  await repos.roleAssignments.insert({
    tenant_id: tenantId,
    id: newId('ra'),
    ...row,
    expires_at: null,
    created_at: new Date().toISOString(),
    created_by: JSON.stringify({ type: 'system', id: 'test', client_id: null }),
  });
}

/** Fails the test if any tenant's hierarchy disagrees with a fresh computation. */
export async function expectInvariants(ctx: TestContext): Promise<void> {
  const tenants = await repositories(ctx.store.db).tenants.list({ limit: 1_000_000, offset: 0, descending: false });
  for (const tenant of tenants) {
    expect(await findInvariantViolations(ctx.store.db, tenant.id, ctx.config.maxOuDepth), `invariants of ${tenant.id}`).toEqual([]);
  }
}

/**
 * Registers a fresh app per test, and after each test the invariant check, then close.
 * Usage: `const t = useTestApp();` then `t.ctx` inside tests.
 */
export function useTestApp(overrides: Partial<Config> = {}): { readonly ctx: TestContext } {
  return useApp('useTestApp', overrides, beforeEach, afterEach);
}

/**
 * One app per describe block rather than per test (building one takes most of a second on a busy
 * machine), for tests that each make their own tenant and so stay independent; the invariant
 * check runs once, after the block.
 */
export function useSharedApp(overrides: Partial<Config> = {}): { readonly ctx: TestContext } {
  return useApp('useSharedApp', overrides, beforeAll, afterAll);
}

function useApp(
  name: string,
  overrides: Partial<Config>,
  before: (fn: () => Promise<void>) => void,
  after: (fn: () => Promise<void>) => void,
): { readonly ctx: TestContext } {
  const holder: { ctx?: TestContext } = {};
  before(async () => {
    holder.ctx = await createTestContext(overrides);
  });
  after(async () => {
    const ctx = holder.ctx;
    holder.ctx = undefined;
    if (!ctx) return;
    try {
      await expectInvariants(ctx);
    } finally {
      await ctx.close();
    }
  });
  return {
    get ctx(): TestContext {
      if (!holder.ctx) throw new Error(`${name}(): ctx is only available inside a test`);
      return holder.ctx;
    },
  };
}

import { randomBytes } from 'node:crypto';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookDispatcher } from '../../src/services/webhook-dispatcher.js';
import { createSecretBox } from '../../src/services/webhook-secrets.js';
import type { WebhookMessage } from '../../src/services/webhook-sender.js';
import { createOu, createTenant } from '../helpers/factories.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';
import { testWebhooks } from '../helpers/webhooks.js';

/**
 * The dispatcher on its own, with a store whose answers a test can shape: races that a real
 * receiver only shows now and then (test/webhooks/delivery.test.ts) are made to happen every time.
 */

const open: TestContext[] = [];
afterEach(async () => {
  for (const ctx of open.splice(0)) await ctx.close();
});

/** Makes the first claim answer with `stale` in place of the subscription's row, as a claim read before a change would. */
class StaleClaim implements KyselyPlugin {
  stale: Record<string, unknown> | null = null;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const [row] = args.result.rows;
    if (!this.stale || !row || !('secret' in row) || !('lease_owner' in row)) return args.result;
    const answer = { ...args.result, rows: [{ ...this.stale, lease_owner: row.lease_owner, lease_until: row.lease_until }] };
    this.stale = null;
    return answer;
  }
}

describe('webhook dispatcher', () => {
  it('signs events written after a rotation with the new secret, even when its claim read the row before the rotation', async () => {
    const key = randomBytes(32);
    const ctx = await createTestContext({ secretsKey: key, webhooks: testWebhooks() });
    open.push(ctx);
    const tenant = await createTenant(ctx);
    const headers = await ctx.headersFor(tenant.id, ['admin:read', 'admin:write']);
    const base = `/api/v1/tenants/${tenant.id}/webhooks`;
    const created = await ctx.app.inject({ method: 'POST', url: base, headers, payload: { url: 'http://127.0.0.1:9/hook', event_types: ['ou.*'] } });
    expect(created.statusCode, created.body).toBe(201);
    const { id, secret: old } = created.json().data as { id: string; secret: string };
    const before = await ctx.store.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    const rotated = await ctx.app.inject({ method: 'POST', url: `${base}/${id}/rotate-secret`, headers });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const fresh = (rotated.json().data as { secret: string }).secret;
    await createOu(ctx, tenant.id, { name: 'After the rotation' });

    const plugin = new StaleClaim();
    plugin.stale = before;
    const sent: WebhookMessage[] = [];
    const dispatcher = createWebhookDispatcher({
      store: { db: ctx.store.db.withPlugin(plugin), transaction: ctx.store.transaction },
      secrets: createSecretBox(key),
      send: async (message) => {
        sent.push(message);
        return { ok: true, status: 204, latencyMs: 1, error: null, body: null, retryAfterMs: null };
      },
      settings: { ...testWebhooks(), retryScheduleMs: [0], leaseMs: 60_000, concurrency: 1, pollMs: 1_000_000 },
      log: { warn: () => {}, info: () => {} },
    });
    dispatcher.kick();
    for (let i = 0; i < 200 && sent.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await dispatcher.stop();

    expect(plugin.stale, 'the claim was answered with the stale row').toBeNull();
    expect(sent).toHaveLength(1);
    expect([...sent[0].secrets].sort()).toEqual([fresh, old].sort());
  });
});

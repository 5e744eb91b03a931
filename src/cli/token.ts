import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { Store } from '../db/store.js';
import { createRoleAssignmentService } from '../services/role-assignment-service.js';
import { systemWrite } from '../services/write-context.js';
import { repositories } from '../db/repositories/index.js';
import { PLATFORM_SCOPE, TENANT_SCOPES, createTokenService } from '../services/token-service.js';
import { openMigratedStore, runCli } from './open-store.js';

const USAGE = `Prints an access token signed with Arbor's key.

  npm run -s token -- --platform [--ttl SECONDS]
  npm run -s token -- --tenant <tenant_id> --scope "ous:read ous:write" [--ttl SECONDS]

Scopes: ${TENANT_SCOPES.join(', ')} (default: all of them).`;

/**
 * Rights come from role assignments (docs/delegated-admin.md): the operator's token subject is
 * the tenant's administrator, given once, with an event whose actor is the CLI.
 */
async function ensureTenantAdmin(store: Store, tenantId: string, subject: string): Promise<void> {
  const ctx = systemWrite({ actor: { type: 'cli', id: userInfo().username, client_id: null } });
  await createRoleAssignmentService({ store }).ensureOperatorAdmin(ctx, tenantId, subject);
}

runCli(async () => {
  const { values } = parseArgs({
    options: {
      platform: { type: 'boolean', default: false },
      tenant: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || values.platform === (values.tenant !== undefined)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const scopes = values.scope?.split(/\s+/).filter(Boolean) ?? [...TENANT_SCOPES];
  const unknown = scopes.filter((s) => !(TENANT_SCOPES as readonly string[]).includes(s));
  if (!values.platform && unknown.length > 0) {
    console.error(`Unknown scope(s): ${unknown.join(', ')}.\n\n${USAGE}`);
    return 2;
  }
  const ttlSeconds = values.ttl === undefined ? undefined : Number(values.ttl);
  const { config, store } = await openMigratedStore();
  // A longer-lived token would outlive its key's retirement after a rotation.
  if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds > 0 && ttlSeconds <= config.tokenTtlSeconds)) {
    console.error(`--ttl must be a whole number of seconds from 1 to ${config.tokenTtlSeconds} (ARBOR_TOKEN_TTL_SECONDS).`);
    await store.close();
    return 2;
  }

  try {
    if (values.tenant !== undefined && !(await repositories(store.db).tenants.exists(values.tenant))) {
      console.error(`Tenant '${values.tenant}' does not exist in ${store.description}. Create it first with a platform token.`);
      return 1;
    }
    const tokens = createTokenService({ store, issuer: config.issuer, audience: config.audience, ttlSeconds: config.tokenTtlSeconds });
    await tokens.ensureSigningKey();
    if (values.tenant !== undefined) await ensureTenantAdmin(store, values.tenant, `cli-${values.tenant}`);
    const token = values.platform
      ? await tokens.sign({ subject: 'cli-platform', scopes: [PLATFORM_SCOPE], ttlSeconds })
      : await tokens.sign({ subject: `cli-${values.tenant}`, tenantId: values.tenant, scopes, ttlSeconds });
    console.log(token);
  } finally {
    await store.close();
  }
});

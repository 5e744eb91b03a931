import { parseArgs } from 'node:util';
import { repositories } from '../db/repositories/index.js';
import { findInvariantViolations } from '../services/invariant-service.js';
import { openMigratedStore, runCli } from './open-store.js';

// npm run check -- [--tenant <id>]: recomputes every derived value of the hierarchy and lists
// disagreements; exit status 1 when there is any.
runCli(async () => {
  const { values } = parseArgs({ options: { tenant: { type: 'string' } } });
  const { config, store } = await openMigratedStore();
  try {
    const repos = repositories(store.db);
    const tenantIds = values.tenant !== undefined ? [values.tenant] : (await repos.tenants.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0, descending: false })).map((t) => t.id);
    let total = 0;
    for (const tenantId of tenantIds) {
      const violations = await findInvariantViolations(store.db, tenantId, config.maxOuDepth);
      total += violations.length;
      for (const violation of violations) console.log(`${tenantId}: ${violation}`);
    }
    console.log(`${tenantIds.length} tenant(s) checked, ${total} violation(s).`);
    return total === 0 ? 0 : 1;
  } finally {
    await store.close();
  }
});

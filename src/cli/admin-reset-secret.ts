import { parseArgs } from 'node:util';
import { createClientService } from '../services/client-service.js';
import { openMigratedStore, runCli } from './open-store.js';

const USAGE = `Gives a platform admin client a new secret, printed once (or creates one if there is none).
Run it on the server's machine: it opens the server's store (DATABASE_URL) directly.

  npm run admin:reset-secret                 the only platform client
  npm run admin:reset-secret -- --id cli_…   a given one, when there are several
  arbor admin reset-secret [--id cli_…]      the same, from the arbor CLI

The old secret stops working at once; tokens issued with it keep working until they expire.`;

/** Resets the secret against the store of DATABASE_URL and prints it once (also `arbor admin reset-secret`). */
export async function resetAdminSecret(clientId: string | undefined): Promise<void> {
  const { config, store } = await openMigratedStore();
  try {
    const { id, secret, created } = await createClientService({ store }).resetPlatformSecret(clientId);
    process.stdout.write(
      [
        created ? 'There was no platform admin client; created one. Its secret is shown this once; store it now.' : `New secret for platform admin client ${id}, shown this once; store it now. The old one no longer works.`,
        `  client_id:     ${id}`,
        `  client_secret: ${secret}`,
        `  curl -s -u '${id}:${secret}' -d grant_type=client_credentials ${config.issuer}/oauth/token`,
        '',
      ].join('\n'),
    );
    if (config.adminClient?.id === id) console.error('Note: ARBOR_ADMIN_CLIENT_SECRET is set for this client; the next start sets the secret back to it.');
  } finally {
    await store.close();
  }
}

// Run as `npm run admin:reset-secret` (not when arbor.ts imports it).
if (process.argv[1] && /admin-reset-secret\.(ts|js)$/.test(process.argv[1])) {
  runCli(async () => {
    const { values } = parseArgs({ options: { id: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    await resetAdminSecret(values.id);
  });
}

import type { Command } from 'commander';
import { CliError, EXIT } from './errors.js';

/** `arbor admin …`: run on the server's machine, against its store, not over HTTP. */
export function registerAdmin(program: Command): void {
  program
    .command('admin')
    .description('Run on the server’s machine, against its store (DATABASE_URL), not over HTTP')
    .command('reset-secret')
    .description('Give the platform admin client a new secret, printed once (creates one if there is none)')
    .option('--id <client id>', 'which platform client, when there are several')
    .action(async (options: { id?: string }) => {
      // Loaded here: the server's code (and its store drivers) only for this command.
      const { resetAdminSecret } = await import('../admin-reset-secret.js');
      await resetAdminSecret(options.id).catch((error: unknown) => {
        throw new CliError((error as Error).message, EXIT.api);
      });
    });
}

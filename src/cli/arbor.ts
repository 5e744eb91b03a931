#!/usr/bin/env node
/**
 * `arbor`: Arbor from a terminal, built on @arbor/sdk. `arbor --help` and `arbor <command> --help`
 * say what each command does; docs/cli.md has examples and the exit codes.
 *
 * This file is the program: its global options, the nouns' commands (one file each under
 * ./arbor/), and how a run ends (exit codes, the one line on stderr). The session, the error
 * mapping and the printing helpers the nouns share live beside them in ./arbor/.
 */
import { Command, CommanderError } from 'commander';
import { registerAdmin } from './arbor/admin.js';
import { EXIT, failure } from './arbor/errors.js';
import { registerEvents } from './arbor/events.js';
import { registerExport } from './arbor/export.js';
import { registerImport } from './arbor/import.js';
import { registerLogin } from './arbor/login.js';
import { registerOus } from './arbor/ous.js';
import { pendingSaves } from './arbor/session.js';
import { registerTenants } from './arbor/tenants.js';
import { registerUsers } from './arbor/users.js';

export { EXIT } from './arbor/errors.js';
export { drawTree } from './arbor/ous.js';

const program = new Command('arbor')
  .description('Arbor from a terminal: tenants, OUs, users, the change feed, imports and exports.')
  .option('--json', 'print the API’s answer as JSON, for scripts')
  .option('--tenant <id>', 'the tenant to act in (default: the logged-in client’s own)')
  .showHelpAfterError('(arbor --help lists the commands)')
  .exitOverride();

// In the order `arbor --help` lists them.
registerLogin(program);
registerTenants(program);
registerOus(program);
registerUsers(program);
registerEvents(program);
registerAdmin(program);
registerImport(program);
registerExport(program);

program.parseAsync(process.argv).then(
  async () => {
    await Promise.all(pendingSaves);
    process.exit(process.exitCode ?? EXIT.ok);
  },
  async (error: unknown) => {
    await Promise.all(pendingSaves);
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
    const failed = failure(error);
    process.stderr.write(`arbor: ${failed.message}\n`);
    process.exit(failed.exitCode);
  },
);

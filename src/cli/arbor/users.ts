import { type UserResponse, createUser, deleteUser, each, listOuUsers, listUsers, updateUser } from '@arbor/sdk';
import type { Command } from 'commander';
import { CliError, EXIT, all, call } from './errors.js';
import { resolveOu } from './ous.js';
import { print, table } from './output.js';
import { openSession } from './session.js';

/** `arbor users …`: a user is named by its id; its OU by id or path. */
export function registerUsers(program: Command): void {
  const users = program.command('users').description('Users');
  users
    .command('list')
    .description('List users: of the tenant, or of an OU (--ou), with those of its subtree (--nested)')
    .option('--ou <ou>', 'an OU (id or path)')
    .option('--nested', 'with --ou: the users of its whole subtree')
    .option('--search <text>', 'without --ou: users whose email or name contains this')
    .action(async (options: { ou?: string; nested?: boolean; search?: string }) => {
      const s = await openSession(program);
      let rows: UserResponse[];
      if (options.ou) {
        const id = await resolveOu(s, options.ou);
        if (id === null) throw new CliError('Name an OU, not the root level.', EXIT.usage);
        rows = await all(each(s.arbor, listOuUsers, { path: { tenant_id: await s.tenant(), ou_id: id }, query: { include_nested: options.nested === true, per_page: 100 } }));
      } else {
        rows = await all(each(s.arbor, listUsers, { path: { tenant_id: await s.tenant() }, query: { per_page: 100, ...(options.search ? { search: options.search } : {}) } }));
      }
      print(s, rows, () => (rows.length === 0 ? '(no users)' : table([['ID', 'EMAIL', 'NAME', 'OU'], ...rows.map((u) => [u.id, u.email, u.display_name ?? '', u.ou_id ?? ''])])));
    });
  users
    .command('create <email>')
    .description('Create a user')
    .option('--ou <ou>', 'place it in this OU (id or path)')
    .option('--name <name>', 'its display name')
    .action(async (email: string, options: { ou?: string; name?: string }) => {
      const s = await openSession(program);
      const ouId = options.ou ? await resolveOu(s, options.ou) : null;
      const { data } = await call(createUser({ client: s.arbor.client, path: { tenant_id: await s.tenant() }, body: { email, ou_id: ouId, ...(options.name ? { display_name: options.name } : {}) } }));
      print(s, data, () => `Created user ${data.email} (${data.id}).`);
    });
  users
    .command('mv <user> <ou>')
    .description('Place a user (id) in another OU (id or path; / for none)')
    .action(async (userId: string, ref: string) => {
      const s = await openSession(program);
      const ouId = await resolveOu(s, ref);
      const { data } = await call(updateUser({ client: s.arbor.client, path: { tenant_id: await s.tenant(), user_id: userId }, body: { ou_id: ouId } }));
      print(s, data, () => `Moved ${data.email} to ${ref}.`);
    });
  users
    .command('rm <user>')
    .description('Delete a user (id)')
    .action(async (userId: string) => {
      const s = await openSession(program);
      await call(deleteUser({ client: s.arbor.client, path: { tenant_id: await s.tenant(), user_id: userId } }));
      print(s, { deleted: userId }, () => `Deleted user ${userId}.`);
    });
}

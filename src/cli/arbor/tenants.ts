import { type TenantResponse, createTenant, each, getTenant, listTenants } from '@arbor/sdk';
import type { Command } from 'commander';
import { all, call } from './errors.js';
import { print, table } from './output.js';
import { openSession } from './session.js';

/** `arbor tenants …`: a platform client's work. */
export function registerTenants(program: Command): void {
  const tenants = program.command('tenants').description('Tenants (a platform client lists and creates them)');
  tenants
    .command('list')
    .description('List the tenants')
    .action(async () => {
      const s = await openSession(program);
      const rows: TenantResponse[] = await all(each(s.arbor, listTenants, {}));
      print(s, rows, () => table([['ID', 'NAME', 'SLUG'], ...rows.map((t) => [t.id, t.name, t.slug ?? ''])]));
    });
  tenants
    .command('get <id>')
    .description('Show one tenant')
    .action(async (id: string) => {
      const s = await openSession(program);
      const { data } = await call(getTenant({ client: s.arbor.client, path: { tenant_id: id } }));
      print(s, data, () => table([['ID', 'NAME', 'SLUG'], [data.id, data.name, data.slug ?? '']]));
    });
  tenants
    .command('create <name>')
    .description('Create a tenant')
    .action(async (name: string) => {
      const s = await openSession(program);
      const { data } = await call(createTenant({ client: s.arbor.client, body: { name } }));
      print(s, data, () => `Created tenant ${data.id} (${data.name}).`);
    });
}

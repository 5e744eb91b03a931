import { type OuTreeNode, createOu, deleteOu, each, getOu, getOuTree, listOus, updateOu } from '@arbor/sdk';
import { type Command, Option } from 'commander';
import { CliError, EXIT, all, call, failure } from './errors.js';
import { print } from './output.js';
import { type Session, openSession } from './session.js';

/** `arbor ous …`: an OU is named by its id (ou_…) or its path (/Sales/EMEA). */
export function registerOus(program: Command): void {
  const ous = program.command('ous').description('Organizational units: an OU is named by its id (ou_…) or its path (/Sales/EMEA)');
  ous
    .command('tree')
    .description('Draw the tenant’s OU tree')
    .action(async () => {
      const s = await openSession(program);
      const { data } = await call(getOuTree({ client: s.arbor.client, path: { tenant_id: await s.tenant() } }));
      print(s, data, () => (data.length === 0 ? '(no OUs)' : drawTree(data).join('\n')));
    });
  ous
    .command('create <name>')
    .description('Create an OU')
    .option('--parent <ou>', 'its parent (default: a root OU)')
    .option('--description <text>', 'its description')
    .option('--dry-run', 'check the parent and the name, create nothing')
    .action(async (name: string, options: { parent?: string; description?: string; dryRun?: boolean }) => {
      const s = await openSession(program);
      const parentId = options.parent ? await resolveOu(s, options.parent) : null;
      if (options.dryRun) {
        // The API has no dry run of a create: the two things that can refuse it, checked here.
        // The parent exists (a 404 here, by id or path), and no sibling has the name (every page).
        const parentPath = parentId === null ? '' : (await call(getOu({ client: s.arbor.client, path: { tenant_id: await s.tenant(), ou_id: parentId } }))).data.path;
        const siblings = await all(each(s.arbor, listOus, { path: { tenant_id: await s.tenant() }, query: { search: name, per_page: 100, ...(parentId ? { parent_id: parentId } : {}) } }));
        const taken = siblings.some((ou) => ou.path.toLowerCase() === `${parentPath}/${name}`.toLowerCase());
        const answer = { dry_run: true, would_create: !taken, name, parent_id: parentId, reason: taken ? 'ou.name_conflict' : null };
        print(s, answer, () => (taken ? `Would not create: a sibling is already named ${name}.` : `Would create ${name} under ${options.parent ?? 'the root level'}.`));
        if (taken) process.exitCode = EXIT.api;
        return;
      }
      const { data } = await call(
        createOu({ client: s.arbor.client, path: { tenant_id: await s.tenant() }, body: { name, parent_id: parentId, ...(options.description ? { description: options.description } : {}) } }),
      );
      print(s, data, () => `Created ${data.path} (${data.id}).`);
    });
  ous
    .command('mv <ou> <parent>')
    .description('Move an OU under another (or to the root level: /); it keeps its id and its users')
    .option('--dry-run', 'say what would change, change nothing')
    .action(async (ref: string, parentRef: string, options: { dryRun?: boolean }) => {
      const s = await openSession(program);
      const id = await resolveOu(s, ref);
      if (id === null) throw new CliError('The root level cannot be moved.', EXIT.usage);
      const parentId = await resolveOu(s, parentRef);
      const { data, meta } = await call(
        updateOu({ client: s.arbor.client, path: { tenant_id: await s.tenant(), ou_id: id }, body: { parent_id: parentId }, ...(options.dryRun ? { query: { dry_run: true } } : {}) }),
      );
      print(s, { data, meta }, () => `${options.dryRun ? 'Would move' : 'Moved'} ${ref} to ${data.path}.`);
    });
  ous
    .command('rm <ou>')
    .description('Delete an OU')
    .addOption(new Option('--strategy <strategy>', 'what becomes of its children and users').choices(['BLOCK', 'MOVE_UP', 'CASCADE']).default('BLOCK'))
    .option('--dry-run', 'say what would be deleted or moved, change nothing')
    .action(async (ref: string, options: { strategy: 'BLOCK' | 'MOVE_UP' | 'CASCADE'; dryRun?: boolean }) => {
      const s = await openSession(program);
      const id = await resolveOu(s, ref);
      if (id === null) throw new CliError('The root level is not an OU.', EXIT.usage);
      const answer = await call(
        deleteOu({ client: s.arbor.client, path: { tenant_id: await s.tenant(), ou_id: id }, query: { strategy: options.strategy, ...(options.dryRun ? { dry_run: true } : {}) } }),
      );
      // A dry run answers what would change; a delete answers 204, nothing.
      const outcome = options.dryRun ? answer : { deleted: id };
      print(s, outcome, () => (options.dryRun ? `Would delete ${ref} (${options.strategy}): ${JSON.stringify((answer as { data?: unknown } | undefined)?.data ?? {})}` : `Deleted ${ref}.`));
    });
}

/** An OU by id (`ou_…`) or by path (`/Sales/EMEA`); `/` alone is the root level (null). */
export async function resolveOu(s: Session, ref: string): Promise<string | null> {
  if (ref === '/') return null;
  if (!ref.startsWith('/')) return ref;
  const path = ref.replace(/\/+$/, '');
  const name = path.slice(path.lastIndexOf('/') + 1);
  // Paths are unique; a search by the last name lists it, in path order: read until it comes.
  try {
    for await (const ou of each(s.arbor, listOus, { path: { tenant_id: await s.tenant() }, query: { search: name, per_page: 100 } })) if (ou.path === path) return ou.id;
  } catch (error) {
    throw failure(error);
  }
  throw new CliError(`No OU at ${path} in tenant ${await s.tenant()}.`, EXIT.api);
}

/** An indented tree, as `tree(1)` draws one. */
export function drawTree(nodes: readonly OuTreeNode[], prefix = ''): string[] {
  return nodes.flatMap((node, i) => {
    const last = i === nodes.length - 1;
    return [`${prefix}${last ? '└── ' : '├── '}${node.name}`, ...drawTree(node.children ?? [], `${prefix}${last ? '    ' : '│   '}`)];
  });
}

#!/usr/bin/env node
/**
 * `arbor`: Arbor from a terminal, built on @arbor/sdk. `arbor --help` and `arbor <command> --help`
 * say what each command does; docs/cli.md has examples and the exit codes.
 */
import {
  type AccessToken,
  type ArborClient,
  type OuTreeNode,
  type TenantResponse,
  type UserResponse,
  createArborClient,
  createOu,
  createTenant,
  createUser,
  deleteOu,
  deleteUser,
  each,
  follow,
  getOu,
  getOuTree,
  getTenant,
  listEvents,
  listOuUsers,
  listOus,
  listTenants,
  listUsers,
  updateOu,
  updateUser,
} from '@arbor/sdk';
import { Command, CommanderError, Option } from 'commander';
import { type Profile, loadProfile, removeProfile, saveProfile } from './arbor/profile.js';

/** Exit codes (docs/cli.md). */
export const EXIT = { ok: 0, api: 1, usage: 2, auth: 3, unreachable: 4 } as const;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface GlobalOptions {
  json?: boolean;
  tenant?: string;
}

/** What every command acts with: the SDK client, the tenant, and how to print. */
interface Session {
  arbor: ArborClient;
  profile: Profile;
  json: boolean;
  /** --tenant, or the logged-in client's own (known from its token, fetched if need be). */
  tenant(): Promise<string>;
}

const program = new Command('arbor')
  .description('Arbor from a terminal: tenants, OUs, users, the change feed.')
  .option('--json', 'print the API’s answer as JSON, for scripts')
  .option('--tenant <id>', 'the tenant to act in (default: the logged-in client’s own)')
  .showHelpAfterError('(arbor --help lists the commands)')
  .exitOverride();

// ------------------------------------------------------------------------------------------------
// The session: credentials from `arbor login` or ARBOR_URL / ARBOR_CLIENT_ID / ARBOR_CLIENT_SECRET.

async function session(): Promise<Session> {
  const globals = program.opts<GlobalOptions>();
  const fromEnv = process.env.ARBOR_URL && process.env.ARBOR_CLIENT_ID && process.env.ARBOR_CLIENT_SECRET;
  const profile: Profile | null = fromEnv
    ? { url: process.env.ARBOR_URL!, clientId: process.env.ARBOR_CLIENT_ID!, clientSecret: process.env.ARBOR_CLIENT_SECRET! }
    : await loadProfile();
  if (!profile) throw new CliError('Not logged in: run `arbor login --url <url> --client-id <id>` (or set ARBOR_URL, ARBOR_CLIENT_ID and ARBOR_CLIENT_SECRET).', EXIT.auth);
  const arbor = clientFor(profile, !fromEnv);
  return {
    arbor,
    profile,
    json: globals.json === true,
    async tenant() {
      if (globals.tenant) return globals.tenant;
      const tenant = profile.tenantId ?? tenantOf(profile.token?.value) ?? tenantOf(await arbor.accessToken().catch((error: unknown) => Promise.reject(unreachable(error))));
      if (!tenant) throw new CliError('Which tenant? This client is a platform client: pass --tenant <id> (`arbor tenants list` shows them).', EXIT.usage);
      return tenant;
    },
  };
}

const pendingSaves: Promise<unknown>[] = [];

function clientFor(profile: Profile, keepTokens: boolean): ArborClient {
  return createArborClient({
    baseUrl: profile.url,
    credentials: { clientId: profile.clientId, clientSecret: profile.clientSecret },
    ...(profile.token ? { cachedToken: profile.token } : {}),
    onToken: (token: AccessToken) => {
      profile.token = token;
      profile.tenantId ??= tenantOf(token.value);
      // Kept for the next run; awaited before the process exits.
      if (keepTokens) pendingSaves.push(saveProfile(profile).catch(() => undefined));
    },
  });
}

/** The tenant_id claim of an Arbor token (a tenant client's); null for a platform client. */
function tenantOf(token: string | undefined): string | null {
  if (!token) return null;
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { tenant_id?: unknown };
    return typeof payload.tenant_id === 'string' ? payload.tenant_id : null;
  } catch {
    return null;
  }
}

/** An operation's answer, or the CliError its failure is: the API's own words, and an exit code. */
async function call<T>(pending: Promise<{ data?: T; error?: unknown; response?: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response?: Response };
  try {
    result = await pending;
  } catch (error) {
    throw unreachable(error);
  }
  // No answer at all (the client reports a network error, or a refused token, as `error`).
  if (!result.response) throw unreachable(result.error);
  // A 2xx, its body included when it has one (a 204 has none).
  if (result.response.ok) return result.data as T;
  const status = result.response.status;
  const body = (result.error ?? {}) as { detail?: unknown; code?: unknown; error?: unknown; error_description?: unknown };
  const detail = Array.isArray(body.detail)
    ? body.detail.map((issue: { loc?: unknown[]; msg?: string }) => `${(issue.loc ?? []).join('.')}: ${issue.msg}`).join('; ')
    : String(body.detail ?? body.error_description ?? 'no detail');
  const code = body.code ?? body.error;
  throw new CliError(`${status}${code ? ` ${String(code)}` : ''}: ${detail}`, status === 401 ? EXIT.auth : EXIT.api);
}

function unreachable(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const name = (error as Error)?.name;
  if (name === 'ArborAuthError') return new CliError((error as Error).message, (error as { status?: number }).status ? EXIT.auth : EXIT.unreachable);
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return new CliError(`Cannot reach Arbor: ${cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)}`, EXIT.unreachable);
}

/** What a thrown error is to the user: an error body of the API (each(), follow() throw those), or no answer at all. */
function failure(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const body = error as { code?: unknown; detail?: unknown } | null;
  if (body && typeof body === 'object' && !(error instanceof Error) && typeof body.code === 'string') {
    const auth = body.code === 'auth.missing_token' || body.code === 'auth.invalid_token';
    return new CliError(`${body.code}: ${typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail ?? '')}`, auth ? EXIT.auth : EXIT.api);
  }
  return unreachable(error);
}

/** Every item of a listing, or the CliError its failure is. */
async function all<T>(items: AsyncGenerator<T>): Promise<T[]> {
  const rows: T[] = [];
  try {
    for await (const item of items) rows.push(item);
  } catch (error) {
    throw failure(error);
  }
  return rows;
}

function print(s: Session, data: unknown, text: () => string): void {
  process.stdout.write(`${s.json ? JSON.stringify(data, null, 2) : text()}\n`);
}

/** An OU by id (`ou_…`) or by path (`/Sales/EMEA`); `/` alone is the root level (null). */
async function resolveOu(s: Session, ref: string): Promise<string | null> {
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

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()).join('\n');
}

/** An indented tree, as `tree(1)` draws one. */
export function drawTree(nodes: readonly OuTreeNode[], prefix = ''): string[] {
  return nodes.flatMap((node, i) => {
    const last = i === nodes.length - 1;
    return [`${prefix}${last ? '└── ' : '├── '}${node.name}`, ...drawTree(node.children ?? [], `${prefix}${last ? '    ' : '│   '}`)];
  });
}

/** The secret from stdin: typed at a terminal without echo, or piped. */
async function secretFromStdin(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').trim();
  }
  process.stderr.write('Client secret: ');
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  let secret = '';
  try {
    for await (const chunk of stdin) {
      for (const c of chunk as string) {
        if (c === '\r' || c === '\n' || c === '\u0004') return secret;
        if (c === '\u0003') throw new CliError('Interrupted.', EXIT.usage);
        if (c === '\u007f' || c === '\b') secret = secret.slice(0, -1);
        else if (c >= ' ') secret += c;
      }
    }
    return secret;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

// ------------------------------------------------------------------------------------------------
// Commands.

program
  .command('login')
  .description('Check an API client’s credentials and keep them (OS keyring, else a 0600 file)')
  .requiredOption('--url <url>', 'where Arbor listens, e.g. http://127.0.0.1:8000')
  .requiredOption('--client-id <id>', 'the API client (a tenant’s, or the platform admin client)')
  .option('--client-secret <secret>', 'its secret (else read from ARBOR_CLIENT_SECRET or stdin; a flag shows in `ps`)')
  .action(async (options: { url: string; clientId: string; clientSecret?: string }) => {
    const secret = options.clientSecret ?? process.env.ARBOR_CLIENT_SECRET ?? (await secretFromStdin());
    if (!secret) throw new CliError('No client secret: pass --client-secret, set ARBOR_CLIENT_SECRET, or type it on stdin.', EXIT.usage);
    const profile: Profile = { url: options.url.replace(/\/+$/, ''), clientId: options.clientId, clientSecret: secret };
    const token = await clientFor(profile, false).accessToken().catch((error: unknown) => {
      throw unreachable(error);
    });
    profile.tenantId = tenantOf(token);
    const where = await saveProfile(profile);
    const json = program.opts<GlobalOptions>().json === true;
    const answer = { url: profile.url, client_id: profile.clientId, tenant_id: profile.tenantId, kept_in: where };
    process.stdout.write(`${json ? JSON.stringify(answer, null, 2) : `Logged in to ${profile.url} as ${profile.clientId}${profile.tenantId ? ` (tenant ${profile.tenantId})` : ' (platform)'}; credentials kept in ${where}.`}\n`);
  });

program
  .command('logout')
  .description('Forget the kept credentials and token')
  .action(async () => {
    await removeProfile();
    process.stdout.write('Logged out.\n');
  });

const tenants = program.command('tenants').description('Tenants (a platform client lists and creates them)');
tenants
  .command('list')
  .description('List the tenants')
  .action(async () => {
    const s = await session();
    const rows: TenantResponse[] = await all(each(s.arbor, listTenants, {}));
    print(s, rows, () => table([['ID', 'NAME', 'SLUG'], ...rows.map((t) => [t.id, t.name, t.slug ?? ''])]));
  });
tenants
  .command('get <id>')
  .description('Show one tenant')
  .action(async (id: string) => {
    const s = await session();
    const { data } = await call(getTenant({ client: s.arbor.client, path: { tenant_id: id } }));
    print(s, data, () => table([['ID', 'NAME', 'SLUG'], [data.id, data.name, data.slug ?? '']]));
  });
tenants
  .command('create <name>')
  .description('Create a tenant')
  .action(async (name: string) => {
    const s = await session();
    const { data } = await call(createTenant({ client: s.arbor.client, body: { name } }));
    print(s, data, () => `Created tenant ${data.id} (${data.name}).`);
  });

const ous = program.command('ous').description('Organizational units: an OU is named by its id (ou_…) or its path (/Sales/EMEA)');
ous
  .command('tree')
  .description('Draw the tenant’s OU tree')
  .action(async () => {
    const s = await session();
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
    const s = await session();
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
    const s = await session();
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
    const s = await session();
    const id = await resolveOu(s, ref);
    if (id === null) throw new CliError('The root level is not an OU.', EXIT.usage);
    const answer = await call(
      deleteOu({ client: s.arbor.client, path: { tenant_id: await s.tenant(), ou_id: id }, query: { strategy: options.strategy, ...(options.dryRun ? { dry_run: true } : {}) } }),
    );
    // A dry run answers what would change; a delete answers 204, nothing.
    const outcome = options.dryRun ? answer : { deleted: id };
    print(s, outcome, () => (options.dryRun ? `Would delete ${ref} (${options.strategy}): ${JSON.stringify((answer as { data?: unknown } | undefined)?.data ?? {})}` : `Deleted ${ref}.`));
  });

const users = program.command('users').description('Users');
users
  .command('list')
  .description('List users: of the tenant, or of an OU (--ou), with those of its subtree (--nested)')
  .option('--ou <ou>', 'an OU (id or path)')
  .option('--nested', 'with --ou: the users of its whole subtree')
  .option('--search <text>', 'without --ou: users whose email or name contains this')
  .action(async (options: { ou?: string; nested?: boolean; search?: string }) => {
    const s = await session();
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
    const s = await session();
    const ouId = options.ou ? await resolveOu(s, options.ou) : null;
    const { data } = await call(createUser({ client: s.arbor.client, path: { tenant_id: await s.tenant() }, body: { email, ou_id: ouId, ...(options.name ? { display_name: options.name } : {}) } }));
    print(s, data, () => `Created user ${data.email} (${data.id}).`);
  });
users
  .command('mv <user> <ou>')
  .description('Place a user (id) in another OU (id or path; / for none)')
  .action(async (userId: string, ref: string) => {
    const s = await session();
    const ouId = await resolveOu(s, ref);
    const { data } = await call(updateUser({ client: s.arbor.client, path: { tenant_id: await s.tenant(), user_id: userId }, body: { ou_id: ouId } }));
    print(s, data, () => `Moved ${data.email} to ${ref}.`);
  });
users
  .command('rm <user>')
  .description('Delete a user (id)')
  .action(async (userId: string) => {
    const s = await session();
    await call(deleteUser({ client: s.arbor.client, path: { tenant_id: await s.tenant(), user_id: userId } }));
    print(s, { deleted: userId }, () => `Deleted user ${userId}.`);
  });

program
  .command('events')
  .description('The change feed: events after --after, or --follow them as they happen (Ctrl-C stops)')
  .option('--after <seq>', 'events with a seq greater than this', '0')
  .option('--type <types>', 'comma-separated types, e.g. ou.*,user.moved')
  .option('--follow', 'keep waiting for new events')
  .action(async (options: { after: string; type?: string; follow?: boolean }) => {
    const s = await session();
    const after = Number(options.after);
    if (!Number.isSafeInteger(after) || after < 0) throw new CliError(`--after must be a seq (a whole number), not ${options.after}.`, EXIT.usage);
    const line = (event: { seq: number; occurred_at: string; type: string; resource: { id: string } }) =>
      s.json ? JSON.stringify(event) : `${event.seq}  ${event.occurred_at}  ${event.type}  ${event.resource.id}`;
    if (options.follow) {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      try {
        for await (const event of follow(s.arbor, await s.tenant(), { after, signal: controller.signal, ...(options.type ? { type: options.type } : {}) })) process.stdout.write(`${line(event)}\n`);
      } catch (error) {
        throw failure(error);
      }
      return;
    }
    const { data } = await call(listEvents({ client: s.arbor.client, path: { tenant_id: await s.tenant() }, query: { after, ...(options.type ? { type: options.type } : {}) } }));
    for (const event of data) process.stdout.write(`${line(event)}\n`);
  });

program
  .command('admin')
  .description('Run on the server’s machine, against its store (DATABASE_URL), not over HTTP')
  .command('reset-secret')
  .description('Give the platform admin client a new secret, printed once (creates one if there is none)')
  .option('--id <client id>', 'which platform client, when there are several')
  .action(async (options: { id?: string }) => {
    // Loaded here: the server's code (and its store drivers) only for this command.
    const { resetAdminSecret } = await import('./admin-reset-secret.js');
    await resetAdminSecret(options.id).catch((error: unknown) => {
      throw new CliError((error as Error).message, EXIT.api);
    });
  });

// ------------------------------------------------------------------------------------------------

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

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ousByPath, runImport, usersByEmail } from '../helpers/imports.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';
import { arbor, arborOnTerminal, hasScript } from './arbor-process.js';

/**
 * `arbor import` and `arbor export` (docs/cli.md) as a user runs them: a process per command
 * against an Arbor listening on a socket, each test in a tenant of its own with its own API
 * client (credentials by ARBOR_URL, ARBOR_CLIENT_ID and ARBOR_CLIENT_SECRET). What the server
 * holds afterwards is read through its API.
 */

let ctx: TestContext;
let baseUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'arbor-cli-import-'));

const SMALL_LDIF = [
  'version: 1',
  '',
  'dn: dc=example,dc=com',
  'objectClass: top',
  'objectClass: dcObject',
  'objectClass: organization',
  'dc: example',
  'o: Example',
  '',
  'dn: ou=Engineering,dc=example,dc=com',
  'objectClass: organizationalUnit',
  'ou: Engineering',
  'description: Builds things',
  '',
  'dn: ou=Backend,ou=Engineering,dc=example,dc=com',
  'objectClass: organizationalUnit',
  'ou: Backend',
  '',
  'dn: ou=Sales,dc=example,dc=com',
  'objectClass: organizationalUnit',
  'ou: Sales',
  '',
  'dn: uid=ada,ou=Backend,ou=Engineering,dc=example,dc=com',
  'objectClass: inetOrgPerson',
  'uid: ada',
  'cn: Ada Lovelace',
  'sn: Lovelace',
  'mail: ada@example.com',
  '',
  'dn: uid=bob,ou=Sales,dc=example,dc=com',
  'objectClass: inetOrgPerson',
  'uid: bob',
  'cn: Bob Marley',
  'sn: Marley',
  'mail: bob@example.com',
  '',
  'dn: uid=carol,dc=example,dc=com',
  'objectClass: inetOrgPerson',
  'uid: carol',
  'cn: Carol Root',
  'sn: Root',
  'mail: carol@example.com',
  '',
].join('\n');

/** The small directory, then twelve OUs whose parent is neither in the file nor in the tenant. */
const ORPHANS = Array.from({ length: 12 }, (_, i) => [`dn: ou=Lost${i},ou=Nowhere,dc=example,dc=com`, 'objectClass: organizationalUnit', `ou: Lost${i}`, ''].join('\n'));
const FAILING_LDIF = `${SMALL_LDIF}\n${ORPHANS.join('\n')}`;
/** The line the first orphan starts on (1-based): after the small directory's lines and a blank one. */
const FIRST_ORPHAN_LINE = SMALL_LDIF.split('\n').length + 1;

const smallFile = join(dir, 'small.ldif');
const failingFile = join(dir, 'failing.ldif');

beforeAll(async () => {
  ctx = await createTestContext();
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as { port: number }).port}`;
  writeFileSync(smallFile, SMALL_LDIF);
  writeFileSync(failingFile, FAILING_LDIF);
});
afterAll(async () => {
  ctx.app.server.closeAllConnections();
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A new tenant and an API client of its own, as the CLI's environment; and the tenant's id. */
async function tenantWithClient(name: string): Promise<{ tenantId: string; env: Record<string, string> }> {
  const tenantId = (await ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: ctx.platformHeaders, payload: { name } })).json().data.id as string;
  const scopes = ['ous:read', 'ous:write', 'users:read', 'users:write'];
  const client = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/clients`,
    headers: await ctx.headersFor(tenantId, ['clients:write', ...scopes]),
    payload: { name: 'cli', scopes },
  });
  expect(client.statusCode, client.body).toBe(201);
  return { tenantId, env: { ARBOR_URL: baseUrl, ARBOR_CLIENT_ID: client.json().data.id, ARBOR_CLIENT_SECRET: client.json().data.client_secret } };
}

/** What a tenant holds, read through the API: OU paths with descriptions, users with their OU's path. */
async function snapshot(tenantId: string) {
  const ous = await ousByPath(ctx, tenantId);
  const pathOf = new Map([...ous.values()].map((ou) => [ou.id, ou.path]));
  // A listing leaves descriptions out: each OU's own.
  const described = await Promise.all(
    [...ous.values()].map(async (ou) => (await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ou.id}`, headers: ctx.platformHeaders })).json().data),
  );
  const users = await usersByEmail(ctx, tenantId);
  return {
    ous: described.map((ou) => `${ou.path} ${ou.description ?? '-'}`).sort(),
    users: [...users.values()].map((u) => `${u.email} ${u.display_name} ${u.ou_id ? pathOf.get(u.ou_id) : '-'}`).sort(),
  };
}

const SMALL_SNAPSHOT = {
  ous: ['/Engineering Builds things', '/Engineering/Backend -', '/Sales -'],
  users: ['ada@example.com Ada Lovelace /Engineering/Backend', 'bob@example.com Bob Marley /Sales', 'carol@example.com Carol Root -'],
};

describe('arbor import', () => {
  it('imports an LDIF file and prints a summary of what it created', async () => {
    const { tenantId, env } = await tenantWithClient('Import Co');
    const outcome = await arbor(['import', smallFile], env, dir);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(new RegExp(`^Imported ${smallFile} into tenant ${tenantId} \\(import imp_\\w+\\)\\.`));
    expect(outcome.stdout).toMatch(/^\s+CREATED\s+UPDATED\s+SKIPPED\s+DELETED$/m);
    expect(outcome.stdout).toMatch(/^OUs\s+3\s+0\s+0\s+0$/m);
    expect(outcome.stdout).toMatch(/^users\s+3\s+0\s+0\s+0$/m);
    expect(outcome.stdout).toContain('Entries read: 7; ignored: 1; rejected: 0.');
    // No terminal: no progress bar, nothing on stderr.
    expect(outcome.stderr).toBe('');
    expect(await snapshot(tenantId)).toEqual(SMALL_SNAPSHOT);
  });

  it('a dry run changes nothing', async () => {
    const { tenantId, env } = await tenantWithClient('Dry Co');
    const outcome = await arbor(['import', smallFile, '--dry-run'], env, dir);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(/^Dry run imp_\w+ of .*small\.ldif: nothing was changed; the import would do this\./);
    expect(outcome.stdout).toMatch(/^OUs\s+3\s+0\s+0\s+0$/m);
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });

  it('exits 1 and lists the rejected entries when an atomic import fails', async () => {
    const { tenantId, env } = await tenantWithClient('Failing Co');
    const outcome = await arbor(['import', failingFile], env, dir);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toMatch(/^Import imp_\w+ of .*failing\.ldif failed, so nothing was changed; the counts are what it would have done\./);
    expect(outcome.stdout).toContain('rejected: 12.');
    // The first ten, with their line, DN and reason; then how many more.
    expect(outcome.stdout).toContain('Rejected entries (the first 10 of 12):');
    expect(outcome.stdout).toMatch(/^LINE\s+ENTRY\s+REASON$/m);
    expect(outcome.stdout).toMatch(new RegExp(`^${FIRST_ORPHAN_LINE}\\s+ou=Lost0,ou=Nowhere,dc=example,dc=com\\s+.*parent`, 'm'));
    expect(outcome.stdout).toContain('ou=Lost9,ou=Nowhere');
    expect(outcome.stdout).not.toContain('ou=Lost10,');
    expect(outcome.stdout).toContain('… and 2 more (--json lists them all).');
    expect(outcome.stderr).toMatch(/^arbor: import imp_\w+ failed: 12 entries were rejected/);
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });

  it('--json prints the finished job', async () => {
    const { tenantId, env } = await tenantWithClient('Json Co');
    const outcome = await arbor(['--json', 'import', smallFile], env, dir);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stderr).toBe('');
    const job = JSON.parse(outcome.stdout);
    expect(job).toMatchObject({
      tenant_id: tenantId,
      state: 'succeeded',
      phase: 'done',
      format: 'ldif',
      error: null,
      options: { dry_run: false, on_conflict: 'fail', atomic: true, base_dn: 'dc=example,dc=com' },
      progress: { entries_read: 7, ignored: 1, rejected: 0, ous: { created: 3 }, users: { created: 3 } },
      rejected: [],
    });
    const stored = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/imports/${job.id}`, headers: await ctx.headersFor(tenantId) });
    expect(stored.json().data).toEqual(job);
    // A failed one: the job as JSON all the same, and exit 1.
    const failed = await arbor(['--json', 'import', failingFile, '--on-conflict', 'skip'], env, dir);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ state: 'failed', progress: { rejected: 12 }, rejected: expect.arrayContaining([expect.objectContaining({ line: FIRST_ORPHAN_LINE })]) });
  });

  it('refuses a file it cannot read or whose format it cannot tell, with exit code 2, before sending anything', async () => {
    const { env } = await tenantWithClient('Usage Co');
    const missing = await arbor(['import', join(dir, 'nowhere.ldif')], env, dir);
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toContain('no such file');
    const unknown = join(dir, 'small.txt');
    writeFileSync(unknown, SMALL_LDIF);
    const untold = await arbor(['import', unknown], env, dir);
    expect(untold.code).toBe(2);
    expect(untold.stderr).toContain('pass --format');
    expect((await arbor(['import', unknown, '--format', 'ldif', '--dry-run'], env, dir)).code).toBe(0);
  });

  it.skipIf(!hasScript)('draws the progress bar on a terminal, and never without one (needs script(1) of util-linux)', async () => {
    const { env } = await tenantWithClient('Terminal Co');
    const size = Buffer.byteLength(SMALL_LDIF);
    const terminal = await arborOnTerminal(['import', smallFile, '--dry-run'], env, dir);
    expect(terminal.code, terminal.stdout).toBe(0);
    expect(terminal.stdout).toContain(`uploading`);
    expect(terminal.stdout).toContain(`${size} B / ${size} B`);
    expect(terminal.stdout).toMatch(/checking imp_\w+: 7 entries read/);
    expect(terminal.stdout).toContain('nothing was changed');
    // --json on a terminal: the job alone.
    const json = await arborOnTerminal(['--json', 'import', smallFile, '--dry-run'], env, dir);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toContain('uploading');
    // No terminal: nothing but the report.
    const piped = await arbor(['import', smallFile, '--dry-run'], env, dir);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toContain('uploading');
    expect(piped.stdout).not.toContain('\x1b');
  });
});

describe('arbor export', () => {
  it('exports LDIF to stdout that imports back into another tenant as the same tree', async () => {
    const source = await tenantWithClient('Source Co');
    await runImport(ctx, source.tenantId, await ctx.headersFor(source.tenantId), SMALL_LDIF, 'application/ldif');
    expect(await snapshot(source.tenantId)).toEqual(SMALL_SNAPSHOT);
    const exported = await arbor(['export', '--format', 'ldif'], source.env, dir);
    expect(exported.code, exported.stderr).toBe(0);
    // The file alone on stdout; no terminal, so nothing on stderr.
    expect(exported.stderr).toBe('');
    expect(exported.stdout).toContain('dn: ou=Backend,ou=Engineering,o=arbor');
    const file = join(dir, 'exported.ldif');
    writeFileSync(file, exported.stdout);
    const target = await tenantWithClient('Target Co');
    const imported = await arbor(['import', file], target.env, dir);
    expect(imported.code, imported.stderr).toBe(0);
    expect(await snapshot(target.tenantId)).toEqual(SMALL_SNAPSHOT);
  });

  it('export -o writes the file', async () => {
    const { tenantId, env } = await tenantWithClient('File Co');
    await runImport(ctx, tenantId, await ctx.headersFor(tenantId), SMALL_LDIF, 'application/ldif');
    const out = mkdtempSync(join(dir, 'out-'));
    const json = await arbor(['export', '--format', 'json', '-o', join(out, 'tenant.json')], env, dir);
    expect(json, json.stderr).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const text = readFileSync(join(out, 'tenant.json'), 'utf8');
    expect(() => JSON.parse(text)).not.toThrow();
    for (const email of ['ada@example.com', 'bob@example.com', 'carol@example.com']) expect(text).toContain(email);
    const csv = await arbor(['export', '--format', 'csv', '--kind', 'ous', '--output', join(out, 'ous.csv')], env, dir);
    expect(csv.code, csv.stderr).toBe(0);
    expect(readFileSync(join(out, 'ous.csv'), 'utf8')).toContain('/Engineering,Builds things');
    // Written beside and put in place: no partial file left.
    expect(readdirSync(out).sort()).toEqual(['ous.csv', 'tenant.json']);
    // What was written imports back (JSON, the export's shape).
    const target = await tenantWithClient('File Target Co');
    expect((await arbor(['import', join(out, 'tenant.json')], target.env, dir)).code).toBe(0);
    expect(await snapshot(target.tenantId)).toEqual(SMALL_SNAPSHOT);
  });

  it.skipIf(!hasScript)('says on a terminal how much it wrote and the event seq it reflects (needs script(1) of util-linux)', async () => {
    const { tenantId, env } = await tenantWithClient('Seq Co');
    await runImport(ctx, tenantId, await ctx.headersFor(tenantId), SMALL_LDIF, 'application/ldif');
    const file = join(dir, `seq-${tenantId}.ldif`);
    const outcome = await arborOnTerminal(['export', '--format', 'ldif', '-o', file], env, dir);
    expect(outcome.code, outcome.stdout).toBe(0);
    const seq = /at event seq (\d+)/.exec(readFileSync(file, 'utf8'))?.[1];
    expect(outcome.stdout).toMatch(new RegExp(`Wrote [\\d.]+ k?B to ${file} \\(event seq ${seq}\\)\\.`));
  });
});

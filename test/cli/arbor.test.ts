import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, freePort } from '../helpers/server-process.js';
import { type TestContext, createTestContext } from '../helpers/test-app.js';

/**
 * The `arbor` CLI run as a user runs it: a process per command (src/cli/arbor.ts through tsx, as
 * `npm run arbor` runs its build), against an Arbor listening on a socket, its credentials kept
 * in a file of a scratch config folder (ARBOR_CLI_STORE=file: no keyring in a test).
 */

let ctx: TestContext;
let baseUrl: string;
let tenantId: string;
let clientId: string;
let clientSecret: string;
const config = mkdtempSync(join(tmpdir(), 'arbor-cli-'));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function arbor(args: string[], options: { input?: string; env?: Record<string, string>; until?: (stdout: string) => boolean } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/arbor.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: config, XDG_CONFIG_HOME: config, ARBOR_CLI_STORE: 'file', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.until?.(stdout)) child.kill('SIGINT');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  ctx = await createTestContext();
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as { port: number }).port}`;
  tenantId = (await ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: ctx.platformHeaders, payload: { name: 'CLI Co' } })).json().data.id;
  const client = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/clients`,
    headers: await ctx.headersFor(tenantId, ['clients:write', 'ous:read', 'ous:write', 'users:read', 'users:write', 'events:read']),
    payload: { name: 'cli', scopes: ['ous:read', 'ous:write', 'users:read', 'users:write', 'events:read'] },
  });
  clientId = client.json().data.id;
  clientSecret = client.json().data.client_secret;
});
afterAll(async () => {
  ctx.app.server.closeAllConnections();
  await ctx.close();
  rmSync(config, { recursive: true, force: true });
});

describe('arbor, before logging in', () => {
  it('lists its commands in --help, and each command’s options in its own', async () => {
    const top = await arbor(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['login', 'tenants', 'ous', 'users', 'events']) expect(top.stdout).toContain(command);
    const ous = await arbor(['ous', 'create', '--help']);
    expect(ous.code).toBe(0);
    expect(ous.stdout).toContain('--dry-run');
  });

  it('says to log in, with exit code 3', async () => {
    const outcome = await arbor(['ous', 'tree']);
    expect(outcome).toMatchObject({ code: 3, stdout: '' });
    expect(outcome.stderr).toContain('Not logged in: run `arbor login');
  });

  it('refuses a wrong secret at login with exit code 3 and the token endpoint’s reason, keeping nothing', async () => {
    const outcome = await arbor(['login', '--url', baseUrl, '--client-id', clientId], { input: 'not-the-secret\n' });
    expect(outcome.code).toBe(3);
    expect(outcome.stderr).toContain('invalid_client');
    expect(() => statSync(join(config, 'arbor', 'profile.json'))).toThrow();
  });

  it('says it cannot reach a server that is not there, with exit code 4', async () => {
    const port = await freePort();
    const outcome = await arbor(['ous', 'tree'], { env: { ARBOR_URL: `http://127.0.0.1:${port}`, ARBOR_CLIENT_ID: clientId, ARBOR_CLIENT_SECRET: clientSecret } });
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toMatch(/Cannot reach|ECONNREFUSED/);
  });

  it('says it cannot reach the server of a kept login, with exit code 4, from a command and from a listing', async () => {
    const port = await freePort();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(config, 'arbor'), { recursive: true });
    // A login kept earlier, its token still valid, its server gone.
    const profile = { url: `http://127.0.0.1:${port}`, clientId, clientSecret, tenantId, token: { value: 'x.y.z', expiresAt: Date.now() + 600_000 } };
    writeFileSync(join(config, 'arbor', 'profile-gone.json'), JSON.stringify(profile), { mode: 0o600 });
    for (const args of [['ous', 'tree'], ['users', 'list'], ['tenants', 'list']]) {
      const outcome = await arbor(args, { env: { ARBOR_CLI_PROFILE: 'gone' } });
      expect(outcome.code, `${args.join(' ')}: ${outcome.stderr}`).toBe(4);
      expect(outcome.stderr).toMatch(/^arbor: Cannot reach Arbor: ECONNREFUSED/);
    }
  });

  it('refuses an unknown option with exit code 2', async () => {
    expect((await arbor(['ous', 'tree', '--nope'])).code).toBe(2);
  });
});

describe('arbor, logged in', () => {
  beforeAll(async () => {
    const login = await arbor(['login', '--url', baseUrl, '--client-id', clientId], { input: `${clientSecret}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`as ${clientId} (tenant ${tenantId})`);
  });

  it('keeps the credentials in a file only its owner can read', () => {
    const file = join(config, 'arbor', 'profile.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ url: baseUrl, clientId, tenantId });
  });

  it('creates OUs by path and draws the tree', async () => {
    expect((await arbor(['ous', 'create', 'Engineering'])).code).toBe(0);
    const backend = await arbor(['ous', 'create', 'Backend', '--parent', '/Engineering']);
    expect(backend.stdout).toMatch(/^Created \/Engineering\/Backend \(ou_/);
    expect((await arbor(['ous', 'create', 'Sales'])).code).toBe(0);
    const tree = await arbor(['ous', 'tree']);
    expect(tree.stdout).toBe(['├── Engineering', '│   └── Backend', '└── Sales', ''].join('\n'));
  });

  it('lists with a token the server refuses: exit code 3, the API’s code', async () => {
    const { writeFileSync, readFileSync: read } = await import('node:fs');
    const file = join(config, 'arbor', 'profile.json');
    const kept = JSON.parse(read(file, 'utf8'));
    // A kept token signed by nobody, and a secret that no longer works: no way to a valid one.
    writeFileSync(join(config, 'arbor', 'profile-refused.json'), JSON.stringify({ ...kept, clientSecret: 'wrong-secret-0000000', token: { value: 'x.y.z', expiresAt: Date.now() + 600_000 } }), { mode: 0o600 });
    const outcome = await arbor(['users', 'list'], { env: { ARBOR_CLI_PROFILE: 'refused' } });
    expect(outcome.code, outcome.stderr).toBe(3);
    expect(outcome.stderr).toMatch(/invalid_client|auth\.invalid_token/);
  });

  it('says which path does not exist, with exit code 1', async () => {
    const outcome = await arbor(['ous', 'create', 'X', '--parent', '/Nowhere']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('No OU at /Nowhere');
  });

  it('checks a create with --dry-run and creates nothing', async () => {
    const taken = await arbor(['ous', 'create', 'Backend', '--parent', '/Engineering', '--dry-run']);
    expect(taken.code).toBe(1);
    expect(taken.stdout).toContain('Would not create');
    const free = await arbor(['ous', 'create', 'Frontend', '--parent', '/Engineering', '--dry-run', '--json']);
    expect(JSON.parse(free.stdout)).toMatchObject({ dry_run: true, would_create: true });
    expect((await arbor(['ous', 'tree'])).stdout).not.toContain('Frontend');
    // A parent named by an id that is no OU's: the API's 404, exit 1.
    const orphan = await arbor(['ous', 'create', 'X', '--parent', 'ou_nobody', '--dry-run']);
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toContain('404 ou.not_found');
  });

  it('places users and lists those of a subtree as JSON', async () => {
    expect((await arbor(['users', 'create', 'ada@x.io', '--ou', '/Engineering/Backend', '--name', 'Ada'])).code).toBe(0);
    const listed = await arbor(['--json', 'users', 'list', '--ou', '/Engineering', '--nested']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((user: { email: string }) => user.email)).toEqual(['ada@x.io']);
  });

  it('moves an OU: --dry-run changes nothing; then it moves, keeping its id and its users', async () => {
    const before = JSON.parse((await arbor(['--json', 'users', 'list', '--ou', '/Engineering/Backend'])).stdout);
    const dry = await arbor(['ous', 'mv', '/Engineering/Backend', '/', '--dry-run']);
    expect(dry.stdout).toContain('Would move /Engineering/Backend to /Backend');
    expect((await arbor(['ous', 'tree'])).stdout).toContain('│   └── Backend');
    const moved = await arbor(['ous', 'mv', '/Engineering/Backend', '/']);
    expect(moved.code, moved.stderr).toBe(0);
    const after = JSON.parse((await arbor(['--json', 'users', 'list', '--ou', '/Backend'])).stdout);
    expect(after).toEqual(before);
  });

  it('deletes: BLOCK refuses an OU with users (exit 1), --dry-run says what CASCADE would delete, CASCADE deletes', async () => {
    const blocked = await arbor(['ous', 'rm', '/Backend']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain('ou.not_empty');
    const dry = await arbor(['--json', 'ous', 'rm', '/Backend', '--strategy', 'CASCADE', '--dry-run']);
    expect(dry.code).toBe(0);
    // The OU would go; nothing is deleted yet.
    expect(JSON.parse(dry.stdout).data).toMatchObject({ ous_deleted: 1 });
    expect((await arbor(['ous', 'tree'])).stdout).toContain('Backend');
    expect((await arbor(['ous', 'rm', '/Backend', '--strategy', 'CASCADE'])).code).toBe(0);
    expect((await arbor(['ous', 'tree'])).stdout).not.toContain('Backend');
  });

  it('lists the change feed, and follows it until interrupted', async () => {
    const listed = await arbor(['events', '--type', 'ou.created']);
    expect(listed.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(3);
    const headers = await ctx.headersFor(tenantId, ['ous:write', 'events:read']);
    let last = 0;
    for (let page = (await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events`, headers })).json(); page.data.length > 0; ) {
      last = page.next;
      page = (await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events?after=${last}`, headers })).json();
    }
    const following = arbor(['--json', 'events', '--follow', '--type', 'ou.created', '--after', String(last)], { until: (stdout) => stdout.includes('ou.created') });
    // The follower is waiting on a long poll; a write through the API wakes it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const created = await ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/ous`, headers, payload: { name: 'Marketing' } });
    const outcome = await following;
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout.trim().split('\n')[0])).toMatchObject({ type: 'ou.created', resource: { id: created.json().data.id } });
  });

  it('keeps them in the OS keyring where it answers, else (as on this machine, perhaps) in a 0600 file', async () => {
    // A profile of its own: a developer's keyring entry for the default one is never touched.
    const env = { ARBOR_CLI_STORE: '', ARBOR_CLI_PROFILE: `test-${process.pid}` };
    const login = await arbor(['--json', 'login', '--url', baseUrl, '--client-id', clientId], { input: `${clientSecret}\n`, env });
    expect(login.code, login.stderr).toBe(0);
    const where = JSON.parse(login.stdout).kept_in as string;
    if (where !== 'the OS keyring') expect(statSync(where).mode & 0o777).toBe(0o600);
    expect((await arbor(['ous', 'tree'], { env })).code).toBe(0);
    expect((await arbor(['logout'], { env })).code).toBe(0);
    expect((await arbor(['ous', 'tree'], { env })).code).toBe(3);
  });

  it('forgets the credentials at logout', async () => {
    expect((await arbor(['logout'])).code).toBe(0);
    expect((await arbor(['ous', 'tree'])).code).toBe(3);
  });
});

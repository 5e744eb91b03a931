import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ROOT, type ServerProcess, arborEnv, startServer } from '../helpers/server-process.js';
import { execFile } from 'node:child_process';

/**
 * The first start, tried as a new user would (issue 15): with the port taken, Arbor printed the
 * generated admin credentials, then died with a stack trace, and the next start did not print
 * them again. Real server processes on a SQLite file, no ARBOR_ADMIN_CLIENT_* set.
 */
const dir = mkdtempSync(join(tmpdir(), 'arbor-first-start-'));
const NO_ADMIN = { ARBOR_ADMIN_CLIENT_ID: '', ARBOR_ADMIN_CLIENT_SECRET: '' };
let server: ServerProcess | undefined;
let blocker: Server | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
  await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
  blocker = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function occupiedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    blocker = createServer();
    blocker.on('error', reject);
    blocker.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port));
  });
}

const secretsIn = (output: string[]) => output.filter((line) => line.includes('client_secret:'));

/** The admin client is ensured once the server listens, so its lines follow the first answers by a moment. */
async function printedSecret(process: ServerProcess): Promise<string[]> {
  for (let i = 0; i < 200 && secretsIn(process.output).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return secretsIn(process.output);
}

describe('the first start', () => {
  it('says the port is in use and which setting to change, without a stack trace, and shows no secret it then loses', async () => {
    const store = `sqlite:${join(dir, 'taken.sqlite')}`;
    const port = await occupiedPort();
    server = await startServer('taken', store, { port, env: NO_ADMIN });
    const exit = await server.exit;
    expect(exit.code).toBe(1);
    const text = server.output.join('\n');
    expect(text).toContain(`Arbor cannot start: port ${port} on 127.0.0.1 is in use by another process, so the API cannot listen there: stop that process, or set PORT (or HOST).`);
    expect(text).not.toMatch(/\n\S+ err\]\s+at /);
    expect(text).not.toContain('EADDRINUSE');
    expect(secretsIn(server.output)).toEqual([]);

    // The next start, on a free port, generates the client and shows its secret, once.
    server = await startServer('next', store, { env: NO_ADMIN });
    await server.ready();
    expect(await printedSecret(server)).toHaveLength(1);
  });

  it('gives a way back in when the secret is lost: admin:reset-secret prints a new one that gets a token, and the old one stops working', async () => {
    const store = `sqlite:${join(dir, 'reset.sqlite')}`;
    server = await startServer('reset', store, { env: NO_ADMIN });
    await server.ready();
    const [printed] = await printedSecret(server);
    const id = /client_id:\s+(\S+)/.exec(server.output.join('\n'))![1];
    const oldSecret = /client_secret:\s+(\S+)/.exec(printed)![1];
    const token = (secret: string) =>
      fetch(`${server!.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      }).then((response) => response.status);
    expect(await token(oldSecret)).toBe(200);

    const reset = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/admin-reset-secret.ts'], { cwd: ROOT, env: arborEnv(store, NO_ADMIN), timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain(`New secret for platform admin client ${id}`);
    const newSecret = /client_secret:\s+(\S+)/.exec(reset.stdout)![1];
    expect(newSecret).not.toBe(oldSecret);
    expect(await token(newSecret)).toBe(200);
    expect(await token(oldSecret)).toBe(401);

    // The same from the arbor CLI.
    const again = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/arbor.ts', 'admin', 'reset-secret'], { cwd: ROOT, env: arborEnv(store, NO_ADMIN), timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(again.code, again.stderr).toBe(0);
    const newest = /client_secret:\s+(\S+)/.exec(again.stdout)![1];
    expect(await token(newest)).toBe(200);
    expect(await token(newSecret)).toBe(401);
  });
});

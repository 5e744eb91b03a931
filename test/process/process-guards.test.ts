import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ServerProcess, startServer } from '../helpers/server-process.js';

/**
 * Errors that escape every handler are logged with the id of the request whose work raised them
 * and do not take the process down; it exits with status 1 only when it cannot serve at all.
 * These start real server processes (`npm start`'s src/server.ts) on a SQLite file.
 */
const dir = mkdtempSync(join(tmpdir(), 'arbor-guards-'));
let server: ServerProcess | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(name: string, env: Record<string, string> = {}) {
  return startServer(name, `sqlite:${join(dir, `${name}.sqlite`)}`, { env, preload: ['test/process/escaping-errors.ts'] });
}

/** Parsed JSON log lines of the process. */
function logLines(process: ServerProcess): Record<string, unknown>[] {
  return process.output.flatMap((line) => {
    const json = line.slice(line.indexOf('] ') + 2); // after the "[name out] " tag
    try {
      return [JSON.parse(json) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

async function waitFor<T>(find: () => T | undefined, what: string, attempts = 100): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never saw ${what}`);
}

// Each test starts a server process (tsx compiles the code first): seconds on a busy runner.
describe('errors nothing caught', { timeout: 60_000 }, () => {
  it.each([
    ['an exception thrown from a timer', '/test/escape/timer', 'uncaught exception; still serving', 'thrown from a timer a request started'],
    ['a promise rejection nobody handles', '/test/escape/promise', 'unhandled promise rejection; still serving', 'rejected by a promise a request started'],
  ])('logs %s with the request id and keeps serving', async (_label, path, message, errorMessage) => {
    server = await start('guards');
    await server.ready();
    const requestId = `escape-${path.split('/').pop()}`;
    const response = await fetch(`${server.baseUrl}${path}`, { headers: { 'x-request-id': requestId } });
    expect(response.status).toBe(200);

    const line = await waitFor(() => logLines(server!).find((l) => l.msg === message), `the log line "${message}"`);
    expect(line).toMatchObject({ level: 50, request_id: requestId, err: { message: errorMessage } });
    expect(server.exited).toBe(false);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  });

  it('exits with status 1 and a fatal log line when an error escapes after the server stopped listening', async () => {
    server = await start('stopped');
    await server.ready();
    await fetch(`${server.baseUrl}/test/stop-listening`, { headers: { 'x-request-id': 'stop-1' } });
    const { code } = await server.exit;
    expect(code).toBe(1);
    expect(logLines(server).find((l) => l.level === 60)).toMatchObject({
      msg: expect.stringContaining('no longer listens; exiting with status 1'),
      err: { message: 'thrown after the server stopped listening' },
    });
  });

  it('exits with status 1 and says why when it cannot listen on its port', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      server = await start('blocked', { PORT: String(port) });
      const { code } = await server.exit;
      expect(code).toBe(1);
      expect(server.output.join('\n')).toContain(`Arbor cannot start: port ${port} on 127.0.0.1 is in use by another process`);
    } finally {
      blocker.close();
    }
  });
});

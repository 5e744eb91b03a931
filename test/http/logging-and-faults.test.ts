import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { QUIET_ENV } from '../helpers/test-app.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

/** An app on a test store (SQLite, or PostgreSQL on the second pass) whose pino logger writes JSON lines into `lines`. */
async function appWithCapturedLogs() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({ ...QUIET_ENV, DATABASE_URL: 'sqlite::memory:' });
  const store = await openTestStore();
  const built = await buildApp(config, { store, logStream: stream });
  return { ...built, lines };
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('structured logs', () => {
  it('tags every log line of a request with its request id, and never logs the token', async () => {
    const { app, store, tokens, lines } = await appWithCapturedLogs();
    cleanup = async () => {
      await app.close();
      await closeTestStore(store);
    };
    const token = await tokens.sign({ subject: 'log-test', scopes: ['platform:admin'] });
    await app.inject({ method: 'GET', url: '/api/v1/tenants', headers: { authorization: `Bearer ${token}`, 'x-request-id': 'trace-me-1' } });

    const requestLines = lines.filter((l) => l.request_id === 'trace-me-1');
    expect(requestLines.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});

describe('faults', () => {
  it('answers a failure inside the store with 500 and a body that names the request id but no internals', async () => {
    const { app, store, tokens, lines } = await appWithCapturedLogs();
    cleanup = async () => {
      await app.close();
      // Closing again is harmless; this drops the PostgreSQL test schema.
      await closeTestStore(store);
    };
    const token = await tokens.sign({ subject: 'fault-test', scopes: ['platform:admin'] });
    // Break the store under the running app: the next query throws inside a repository.
    await store.close();
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/tenants',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'fault-1' },
    });

    expect(response.statusCode).toBe(500);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['code', 'detail']);
    expect(body.code).toBe('internal_error');
    expect(body.detail).toContain('fault-1');
    expect(response.body).not.toMatch(/sqlite|postgres|pool|kysely|stack|\.ts:|destroy/i);
    // ...while the log keeps the real error for the operator.
    expect(lines.some((l) => l.request_id === 'fault-1' && l.level === 50 && l.err)).toBe(true);
  });
});

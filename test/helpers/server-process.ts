import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from './free-port.js';

/**
 * Real Arbor server processes (`node --import tsx src/server.ts`) for multi-instance tests:
 * free ports, start, readiness, platform token, graceful stop and kill -9, the check CLI, and
 * throw-away stores (a SQLite file in a temp directory, or a fresh PostgreSQL database).
 */

export { freePort };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ADMIN_ID = 'admin';
export const ADMIN_SECRET = 'concurrency-secret-123';
export const ISSUER = 'http://arbor.test';
export const AUDIENCE = 'arbor';

/** The environment of an operator who set only what we pass: nothing of Arbor's leaks in from the test run. */
export function arborEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(ARBOR_|DATABASE_URL$|HOST$|PORT$|LOG_LEVEL$|TEST_DATABASE_URL$|VITEST|NODE_OPTIONS$)/.test(key)) continue;
    env[key] = value;
  }
  return {
    ...env,
    DATABASE_URL: databaseUrl,
    ARBOR_ISSUER: ISSUER,
    ARBOR_AUDIENCE: AUDIENCE,
    ARBOR_ADMIN_CLIENT_ID: ADMIN_ID,
    ARBOR_ADMIN_CLIENT_SECRET: ADMIN_SECRET,
    LOG_LEVEL: 'warn',
    // Off unless a test turns them on, as in createTestContext.
    ARBOR_RATE_LIMIT_PER_MINUTE: '0',
    ARBOR_MAX_EVENT_LOOP_DELAY_MS: '0',
    // No metrics listener unless a test asks for one: several instances would all want port 9464.
    ARBOR_METRICS_PORT: '0',
    ...extra,
  };
}

export interface ServerProcess {
  name: string;
  port: number;
  baseUrl: string;
  child: ChildProcess;
  /** stdout and stderr lines, in arrival order (JSON log lines and the startup line). */
  output: string[];
  /** Set once the process has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
  /** Resolves once GET /healthz answers 200; rejects if the process exits first or `timeoutMs` passes. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL if still alive after `graceMs` (15 s: a busy runner can be slow to close SQLite). */
  stop(graceMs?: number): Promise<void>;
  /** kill -9, now. */
  kill(): void;
  /** Log lines at level >= 50 (error, fatal), and any non-JSON stderr text. */
  errorLines(): string[];
}

export interface StartOptions {
  /** More environment (wins over the defaults). */
  env?: Record<string, string>;
  /** Modules to preload after tsx (`--import`), relative to the project root. */
  preload?: string[];
  /** Listen on this port (default: a free one). */
  port?: number;
  /** Flags for node itself, before tsx (those node refuses in NODE_OPTIONS, e.g. `--trace-gc`). */
  nodeArgs?: string[];
}

export async function startServer(name: string, databaseUrl: string, options: StartOptions = {}): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  const extraEnv = options.env ?? {};
  const preload = (options.preload ?? []).flatMap((module) => ['--import', `./${module}`]);
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', ...preload, 'src/server.ts'], {
    cwd: ROOT,
    env: arborEnv(databaseUrl, { HOST: '127.0.0.1', PORT: String(port), ...extraEnv }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const collect = (stream: NodeJS.ReadableStream, tag: string) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') output.push(`${tag} ${line}`);
    });
    stream.on('end', () => {
      if (rest.trim() !== '') output.push(`${tag} ${rest}`);
    });
  };
  collect(child.stdout!, `[${name} out]`);
  collect(child.stderr!, `[${name} err]`);

  const server: ServerProcess = {
    name,
    port,
    baseUrl,
    child,
    output,
    exited: false,
    exit: new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        server.exited = true;
        resolve({ code, signal });
      });
      // A process that could not be spawned at all (EAGAIN, ENOMEM on a starved runner): without
      // this listener the error would escape the test as an unhandled one, naming no test.
      child.on('error', (error) => {
        output.push(`[${name} err] could not run the server process: ${error.message}`);
        server.exited = true;
        resolve({ code: null, signal: null });
      });
    }),
    async ready(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (server.exited) throw new Error(`${name} exited before it was ready:\n${output.join('\n')}`);
        try {
          const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
          if (response.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${name} not ready after ${timeoutMs} ms:\n${output.join('\n')}`);
    },
    async stop(graceMs = 15_000) {
      if (server.exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!server.exited) child.kill('SIGKILL');
      }, graceMs);
      await server.exit;
      clearTimeout(timer);
    },
    kill() {
      if (!server.exited) child.kill('SIGKILL');
    },
    errorLines() {
      return output.filter((line) => {
        const json = line.replace(/^\[[^\]]*\] /, '');
        try {
          const record = JSON.parse(json) as { level?: number };
          return typeof record.level === 'number' && record.level >= 50;
        } catch {
          return line.includes(' err] ');
        }
      });
    },
  };
  return server;
}

/** A platform token from POST /oauth/token (client_credentials, HTTP Basic). */
export async function platformToken(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${ADMIN_ID}:${ADMIN_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || !body.access_token) throw new Error(`token request failed: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx src/cli/<name>.ts ...args` against `databaseUrl`. */
export function runCli(name: string, databaseUrl: string, args: string[] = [], timeoutMs = 60_000): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `src/cli/${name}.ts`, ...args],
      { cwd: ROOT, env: arborEnv(databaseUrl), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`${name} did not exit normally (${error.signal ?? error.code}): ${stderr}`));
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

export interface ScratchStore {
  databaseUrl: string;
  /** Removes the SQLite directory or drops the PostgreSQL database. */
  dispose(): Promise<void>;
}

/** An empty SQLite file in a new temp directory. */
export function scratchSqlite(prefix = 'arbor-conc-'): ScratchStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    databaseUrl: `sqlite:${join(dir, 'arbor.sqlite')}`,
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new, empty PostgreSQL database `arbor_conc_<random>` on the server `adminUrl` names. */
export async function scratchPostgres(adminUrl: string): Promise<ScratchStore> {
  const name = `arbor_conc_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    async dispose() {
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

export interface Answer {
  label: string;
  server: string;
  status: number | 'network-error' | 'timeout';
  code?: string;
  body?: unknown;
  error?: string;
  ms: number;
}

/** One request with a deadline; never throws: a network error or timeout is an outcome too. */
export async function call(
  baseUrl: string,
  server: string,
  token: string,
  label: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = Date.now();
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    const code = (parsed as { code?: unknown } | undefined)?.code;
    return { label, server, status: response.status, code: typeof code === 'string' ? code : undefined, body: parsed, ms: Date.now() - started };
  } catch (error) {
    const name = (error as Error).name;
    const status = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network-error';
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { label, server, status, error: `${(error as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`, ms: Date.now() - started };
  }
}

/** One JSON request to a server process with a bearer token: its status and parsed body (null for 204). */
export async function jsonRequest(server: Pick<ServerProcess, 'baseUrl'>, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

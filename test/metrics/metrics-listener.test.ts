import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { scrape, valueOf } from '../helpers/prometheus.js';
import { type ScratchStore, type ServerProcess, freePort, platformToken, scratchPostgres, scratchSqlite, startServer } from '../helpers/server-process.js';
import { TEST_DATABASE_URL } from '../helpers/test-store.js';

/*
 * The metrics listener of a real server process (src/server.ts): on ARBOR_METRICS_PORT when set,
 * none at all with 0, and closed with the rest on SIGTERM.
 */

let server: ServerProcess | undefined;
let scratch: ScratchStore | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
  await scratch?.dispose();
  scratch = undefined;
});

async function start(env: Record<string, string>): Promise<ServerProcess> {
  scratch = TEST_DATABASE_URL ? await scratchPostgres(TEST_DATABASE_URL) : scratchSqlite('arbor-metrics-');
  server = await startServer('metrics', scratch.databaseUrl, { env });
  await server.ready();
  return server;
}

const hasProc = existsSync('/proc/self/fd') && existsSync('/proc/net/tcp');

/** The TCP ports process `pid` listens on (Linux: its socket inodes matched against /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return match ? [match[1]] : [];
      } catch {
        return []; // closed meanwhile
      }
    }),
  );
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the inode.
      if (fields[3] === '0A' && inodes.has(fields[9])) ports.push(Number.parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

// Each test starts a server process (tsx compiles the code first): seconds on a busy runner.
describe('the metrics listener of a server process', { timeout: 90_000 }, () => {
  it('serves GET /metrics on ARBOR_METRICS_PORT beside the API, counting the API requests it served, and closes with it on SIGTERM', async () => {
    const metricsPort = await freePort();
    const instance = await start({ ARBOR_METRICS_PORT: String(metricsPort), ARBOR_METRICS_HOST: '127.0.0.1' });
    const token = await platformToken(instance.baseUrl);
    expect((await fetch(`${instance.baseUrl}/api/v1/tenants`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    // The API's own port does not serve the metrics.
    expect((await fetch(`${instance.baseUrl}/metrics`)).status).toBe(404);

    const scraped = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(valueOf(scraped, 'arbor_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/tenants', status_code: '200' })).toBe(1);
    expect(valueOf(scraped, 'arbor_http_request_duration_seconds_count', { method: 'POST', route: '/oauth/token', status_code: '200' })).toBe(1);
    if (hasProc) expect(listeningPorts(instance.child.pid!)).toEqual([instance.port, metricsPort].sort((a, b) => a - b));

    await instance.stop();
    expect(await instance.exit).toEqual({ code: 0, signal: null });
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
  });

  it.runIf(hasProc)('opens no listener but the API with ARBOR_METRICS_PORT=0', async () => {
    const instance = await start({ ARBOR_METRICS_PORT: '0' });
    expect(listeningPorts(instance.child.pid!)).toEqual([instance.port]);
  });
});

import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  /** Where to scrape, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops its connections (a scrape cut short is harmless). */
  close(): Promise<void>;
}

export interface MetricsListen {
  host: string;
  /** 0: any free port (tests); the one taken is in `port`. */
  port: number;
}

/**
 * The metrics listener (ARBOR_METRICS_PORT on ARBOR_METRICS_HOST): `GET /metrics` in the
 * Prometheus text format, 404 for anything else. A listener of its own, apart from the API:
 * it is never rate-limited, shed or authenticated, so it must not be reachable by the API's
 * clients; keep it on loopback or a network only Prometheus reaches.
 */
export async function startMetricsServer(metrics: Pick<Metrics, 'registry'>, { host, port }: MetricsListen): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('Not found: the metrics are at GET /metrics.\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        response.end(`Collecting the metrics failed: ${(error as Error).message}\n`);
      },
    );
  });
  // Scrapers are well behaved; these only keep a stalled connection from being held forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/metrics`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * npm run bench:feed-wake -- [--store sqlite|postgres] [--samples 40]
 *
 * How long a long poll of the change feed (GET …/events?wait=) takes to answer after a write
 * commits, when the write went to another instance than the poll: two server processes on one
 * fresh copy of the seeded store. Each sample: a poll waits on instance A, an OU is created
 * through instance B, and the time from B's answer (the commit is done) to A's answer is the
 * sample. The same with the write on A, for comparison (woken by the commit itself).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fail, freePort, loadManifest, median, percentile, startServer, stopServer, tokenFor } from './harness.js';
import { type BenchStore, RESULTS_DIR, freshRunStore } from './stores.js';

const { values } = parseArgs({ options: { store: { type: 'string', default: 'sqlite' }, samples: { type: 'string', default: '40' } } });

async function main(): Promise<void> {
  const store = values.store as BenchStore;
  if (store !== 'sqlite' && store !== 'postgres') fail(`--store must be sqlite or postgres, got '${values.store}'.`);
  const samples = Number(values.samples);
  if (!Number.isInteger(samples) || samples < 1) fail('--samples must be a positive integer.');
  const manifest = loadManifest(store);
  const databaseUrl = await freshRunStore(store);
  // Both instances must accept each other's tokens: one issuer, as behind a load balancer.
  process.env.ARBOR_ISSUER = 'http://arbor.bench';
  const servers: { base: string; process: ChildProcess }[] = [];
  try {
    for (const name of ['a', 'b']) {
      const port = await freePort();
      const child = await startServer(databaseUrl, manifest, port, join(RESULTS_DIR, `server-feed-wake-${store}-${name}.log`));
      servers.push({ base: `http://127.0.0.1:${port}`, process: child });
    }
    const token = await tokenFor(servers[0].base);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const events = `/api/v1/tenants/${manifest.tenantId}/events`;
    let head = await lastSeq(servers[0].base, events, headers);

    const measure = async (writer: string, label: string) => {
      const latencies: number[] = [];
      for (let i = 0; i < samples; i++) {
        let answeredAt = 0;
        const poll = fetch(`${servers[0].base}${events}?after=${head}&wait=10`, { headers }).then(async (response) => {
          answeredAt = performance.now();
          return (await response.json()) as { data: unknown[]; next: number };
        });
        // The poll is waiting before the write; a random extra delay, so that writes do not keep
        // the same phase to the instance's polling interval.
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 600));
        const created = await fetch(`${writer}/api/v1/tenants/${manifest.tenantId}/ous`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: `Wake ${label} ${i} ${Date.now()}`, parent_id: manifest.ids.createParent }),
        });
        const committedAt = performance.now();
        if (created.status !== 201) throw new Error(`create answered ${created.status}: ${await created.text()}`);
        const page = await poll;
        if (page.data.length === 0) throw new Error('the poll ended without the event');
        latencies.push(answeredAt - committedAt);
        head = page.next;
      }
      const sorted = [...latencies].sort((x, y) => x - y);
      console.log(
        `${store}, write on ${label}: median ${median(sorted).toFixed(1)} ms, p90 ${percentile(sorted, 90).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms (${samples} samples; negative: the poll answered before the writer's response arrived)`,
      );
    };
    await measure(servers[1].base, 'the other instance');
    await measure(servers[0].base, 'the same instance');
  } finally {
    await Promise.all(servers.map((server) => stopServer(server.process)));
  }
}

/** The tenant's newest seq, paging through its feed. */
async function lastSeq(base: string, events: string, headers: Record<string, string>): Promise<number> {
  let after = 0;
  for (;;) {
    const page = (await (await fetch(`${base}${events}?after=${after}&limit=1000`, { headers })).json()) as { data: unknown[]; next: number };
    if (page.data.length === 0) return page.next;
    after = page.next;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

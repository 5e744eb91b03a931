import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, type ScratchStore, type ServerProcess, call, platformToken, scratchPostgres, scratchSqlite, startServer } from '../helpers/server-process.js';
import { TEST_DATABASE_URL, isPostgresPass } from '../helpers/test-store.js';
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.js';

// Issue 13 across processes: real Arbor servers deliver to a real receiver on loopback that
// verifies every signature with the `standardwebhooks` package. On PostgreSQL two dispatching
// instances share the work, and one is killed (kill -9) while it holds a subscription's lease:
// nothing is lost and only the event in flight may arrive twice. On SQLite the one instance is
// killed and started again, with the same promise.

const BURST = 300;

const WEBHOOK_ENV = {
  ARBOR_SECRETS_KEY: randomBytes(32).toString('hex'),
  ARBOR_WEBHOOK_ALLOW_INSECURE: 'true',
  // A dead instance's lease expires within 6 s; an attempt times out after 5 s, long enough for
  // the test to find and kill the instance while the hanging one is in flight.
  ARBOR_WEBHOOK_LEASE_SECONDS: '6',
  ARBOR_WEBHOOK_TIMEOUT_MS: '5000',
  ARBOR_WEBHOOK_POLL_MS: '100',
  ARBOR_WEBHOOK_RETRY_SCHEDULE: '0,100,200,400,800,800,800,800,800,800',
};

/** Arrival order with the re-sends of one event collapsed: strictly increasing seqs if order held. */
function collapse(seqs: number[]): number[] {
  return seqs.filter((seq, i) => i === 0 || seq !== seqs[i - 1]);
}

function scenario(kind: 'sqlite' | 'postgres') {
  let scratch: ScratchStore;
  const servers: ServerProcess[] = [];
  let platform: string;
  let tenantId: string;

  const send = (server: ServerProcess, method: string, path: string, body?: unknown) => call(server.baseUrl, server.name, platform, `${method} ${path}`, method, path, body, 30_000);

  async function must<T>(answer: Promise<Answer>, status: number): Promise<T> {
    const settled = await answer;
    expect(settled.status, `${settled.label} on ${settled.server}: ${JSON.stringify(settled.body ?? settled.error)}`).toBe(status);
    return (settled.body as { data: T } | undefined)?.data as T;
  }

  async function subscribe(server: ServerProcess, receiver: Receiver): Promise<string> {
    const created = await must<{ id: string; secret: string }>(send(server, 'POST', `/api/v1/tenants/${tenantId}/webhooks`, { url: receiver.url, event_types: ['ou.created'] }), 201);
    receiver.setSecrets([created.secret]);
    return created.id;
  }

  /** Creates `count` OUs through `server`, 8 at a time; returns their events' seqs from the feed, in order. */
  async function burst(server: ServerProcess, prefix: string, count: number, during?: (done: number) => Promise<void>): Promise<void> {
    for (let i = 0; i < count; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, count - i) }, (_, j) => must(send(server, 'POST', `/api/v1/tenants/${tenantId}/ous`, { name: `${prefix} ${i + j}` }), 201)));
      await during?.(i + 8);
    }
  }

  async function createdSeqs(server: ServerProcess, prefix: string): Promise<number[]> {
    const events = await must<{ seq: number; data: { after: { name: string } } }[]>(send(server, 'GET', `/api/v1/tenants/${tenantId}/events?type=ou.created&limit=1000`), 200);
    return events.filter((e) => e.data.after.name.startsWith(`${prefix} `)).map((e) => e.seq);
  }

  /** The process that holds the subscription's lease now (owner = host:pid:random), if any. */
  async function leaseHolder(webhookId: string): Promise<number | null> {
    let owner: string | null | undefined;
    if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: scratch.databaseUrl });
      await client.connect();
      try {
        owner = (await client.query<{ lease_owner: string | null }>('select lease_owner from webhooks where id = $1 and lease_until > $2', [webhookId, new Date().toISOString()])).rows[0]?.lease_owner;
      } finally {
        await client.end();
      }
    }
    return owner ? Number(owner.split(':')[1]) : null;
  }

  beforeAll(async () => {
    scratch = kind === 'sqlite' ? scratchSqlite('arbor-webhooks-') : await scratchPostgres(TEST_DATABASE_URL!);
    servers.push(await startServer('a', scratch.databaseUrl, { env: WEBHOOK_ENV }));
    await servers[0].ready();
    if (kind === 'postgres') {
      servers.push(await startServer('b', scratch.databaseUrl, { env: WEBHOOK_ENV }));
      await servers[1].ready();
    }
    platform = await platformToken(servers[0].baseUrl);
    tenantId = (await must<{ id: string }>(send(servers[0], 'POST', '/api/v1/tenants', { name: `Webhooks ${kind}` }), 201)).id;
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await scratch?.dispose();
  }, 30_000);

  if (kind === 'postgres') {
    it('two instances deliver four subscriptions complete and in order, none of it twice', async () => {
      const receivers = await Promise.all(Array.from({ length: 4 }, () => startReceiver()));
      try {
        for (const receiver of receivers) await subscribe(servers[0], receiver);
        // Writes through both instances: either may notice first.
        await Promise.all([burst(servers[0], 'Shared A', BURST / 2), burst(servers[1], 'Shared B', BURST / 2)]);
        const expected = (await createdSeqs(servers[0], 'Shared A')).concat(await createdSeqs(servers[0], 'Shared B')).sort((x, y) => x - y);
        for (const receiver of receivers) {
          await receiver.waitFor((r) => r.length >= BURST, 30_000);
          expect(receiver.received.map((d) => d.body.data.seq as number)).toEqual(expected);
          expect(receiver.distinct().duplicates).toBe(0);
          expect(receiver.rejected).toEqual([]);
        }
      } finally {
        await Promise.all(receivers.map((r) => r.close()));
      }
    }, 120_000);
  }

  it(
    kind === 'postgres'
      ? 'kill -9 of the instance holding the lease mid-burst: the other takes over, nothing is lost, only the event in flight arrives twice'
      : 'kill -9 of the one instance mid-burst and a restart: nothing is lost, only the event in flight arrives twice',
    async () => {
      const receiver = await startReceiver();
      try {
        const webhookId = await subscribe(servers[0], receiver);
        // The 21st delivery is left hanging: the event in flight when its instance dies.
        receiver.setMode({ kind: 'hang' });
        receiver.nextRequests(20, { kind: 'ok' });
        await burst(servers[0], 'Early', BURST / 2);
        await receiver.waitFor((r) => r.length >= 21, 30_000);
        let killed: ServerProcess | undefined;
        if (kind === 'postgres') {
          const holder = await leaseHolder(webhookId);
          killed = servers.find((s) => s.child.pid === holder);
          expect(killed, `lease holder pid ${holder}`).toBeDefined();
        } else {
          killed = servers[0];
        }
        killed!.kill();
        await killed!.exit;
        const inFlight = receiver.received[20].id;
        expect(receiver.received).toHaveLength(21);
        receiver.setMode({ kind: 'ok' });
        if (kind === 'sqlite') {
          servers[0] = await startServer('a2', scratch.databaseUrl, { env: WEBHOOK_ENV });
          await servers[0].ready();
          platform = await platformToken(servers[0].baseUrl);
        }
        const survivor = servers.find((s) => !s.exited)!;
        await burst(survivor, 'Late', BURST / 2);
        const expected = [...(await createdSeqs(survivor, 'Early')), ...(await createdSeqs(survivor, 'Late'))].sort((x, y) => x - y);
        await receiver.waitFor((r) => new Set(r.map((d) => d.id)).size >= BURST, 60_000);
        const arrivals = receiver.received.map((d) => d.body.data.seq as number);
        expect(collapse(arrivals)).toEqual(expected);
        // Exactly one event arrived twice: the one in flight, once before the kill and once after.
        expect(receiver.distinct().duplicates).toBe(1);
        expect(arrivals).toHaveLength(BURST + 1);
        expect(receiver.received.filter((d) => d.id === inFlight)).toHaveLength(2);
        expect(receiver.rejected).toEqual([]);
      } finally {
        await receiver.close();
      }
    },
    180_000,
  );
}

describe.skipIf(isPostgresPass)('webhooks from an Arbor instance on a SQLite file, killed and restarted', () => scenario('sqlite'));
describe.skipIf(!TEST_DATABASE_URL)('webhooks from two Arbor instances on one PostgreSQL database', () => scenario('postgres'));

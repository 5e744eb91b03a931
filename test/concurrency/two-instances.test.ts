import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/db/store.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import {
  type Answer,
  type ScratchStore,
  type ServerProcess,
  call,
  platformToken,
  runCli,
  scratchPostgres,
  scratchSqlite,
  startServer,
} from '../helpers/server-process.js';
import { TEST_DATABASE_URL, isPostgresPass } from '../helpers/test-store.js';

// Issue 4: two Arbor server processes on one store, at least 500 concurrent conflicting requests
// through both (in batches of 50, alternating the server), every answer a clean 2xx or 4xx within
// 30 s, the outcome of every race one that a serial order explains, and the invariant check clean.

const ROUNDS = 12;
const TENANT_ROUNDS = 3;
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_DEPTH = 32;

interface Ou {
  id: string;
}
interface Round {
  r: number;
  A: string;
  B: string;
  a: string[];
  b1: string;
  vBlock: string;
  vMove: string;
  vCasc: string;
  m1: string;
  c1: string;
  /** Users that will try to move into each victim OU, with where they start. */
  into: Record<Strategy, { id: string; start: string }[]>;
  movers: string[];
}
type Strategy = 'BLOCK' | 'MOVE_UP' | 'CASCADE';

interface Planned {
  label: string;
  /** Statuses this request may get: anything else is a failure. */
  allowed: number[];
  method: string;
  path: string;
  body?: unknown;
  /** What it targets, for the post-race checks. */
  ref?: string;
  /** Sent this much later than the others (all still overlap): varies which side of a race runs first. */
  delayMs?: number;
}

class Cluster {
  answers: Answer[] = [];
  private next = 0;
  constructor(
    readonly servers: ServerProcess[],
    readonly token: string,
  ) {}

  /** Next server in turn. */
  private pick(): ServerProcess {
    return this.servers[this.next++ % this.servers.length];
  }

  /** A set-up request that must succeed with `status`; returns `data`. */
  async must<T = Ou>(status: number, method: string, path: string, body?: unknown): Promise<T> {
    const server = this.pick();
    const answer = await call(server.baseUrl, server.name, this.token, 'setup', method, path, body, REQUEST_TIMEOUT_MS);
    if (answer.status !== status) throw new Error(`setup ${method} ${path} ${JSON.stringify(body)} on ${server.name}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body ?? answer.error)}`);
    return (answer.body as { data: T }).data;
  }

  /** Fires every request at once, alternating the servers. */
  async race(planned: Planned[]): Promise<Answer[]> {
    const answers = await Promise.all(
      planned.map(async (p) => {
        const server = this.pick();
        if (p.delayMs) await new Promise((resolve) => setTimeout(resolve, p.delayMs));
        return call(server.baseUrl, server.name, this.token, p.label, p.method, p.path, p.body, REQUEST_TIMEOUT_MS);
      }),
    );
    this.answers.push(...answers);
    return answers;
  }
}

function shuffle<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

function histogram(answers: Answer[], key: (a: Answer) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) counts[key(answer)] = (counts[key(answer)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

const statusOf = (a: Answer) => `${a.status}${a.code ? ` ${a.code}` : ''}`;
const ok = (a: Answer) => typeof a.status === 'number' && a.status >= 200 && a.status < 300;

function scenario(kind: 'sqlite' | 'postgres') {
  let scratch: ScratchStore;
  let servers: ServerProcess[] = [];
  let cluster: Cluster;
  let tenantId: string;
  const failures: string[] = [];
  const timings: Record<string, number> = {};

  const ous = () => `/api/v1/tenants/${tenantId}/ous`;
  const ou = (id: string) => `/api/v1/tenants/${tenantId}/ous/${id}`;
  const users = () => `/api/v1/tenants/${tenantId}/users`;
  const user = (id: string) => `/api/v1/tenants/${tenantId}/users/${id}`;

  beforeAll(async () => {
    const started = Date.now();
    scratch = kind === 'sqlite' ? scratchSqlite() : await scratchPostgres(TEST_DATABASE_URL!);
    // The first instance creates the schema, key and admin client; the second finds them.
    servers.push(await startServer('s1', scratch.databaseUrl));
    await servers[0].ready();
    servers.push(await startServer('s2', scratch.databaseUrl));
    await servers[1].ready();
    const token = await platformToken(servers[0].baseUrl);
    cluster = new Cluster(servers, token);
    tenantId = (await cluster.must<{ id: string }>(201, 'POST', '/api/v1/tenants', { name: `Concurrency ${kind}` })).id;
    // The token from s1 works on s2 (same keys, same issuer).
    await cluster.must(200, 'GET', `/api/v1/tenants/${tenantId}`);
    await cluster.must(200, 'GET', `/api/v1/tenants/${tenantId}`);
    timings.startup_ms = Date.now() - started;
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await scratch?.dispose();
  }, 30_000);

  async function setUpRound(r: number): Promise<Round> {
    const c = cluster;
    const root = (name: string) => c.must(201, 'POST', ous(), { name });
    const child = (name: string, parent: string) => c.must(201, 'POST', ous(), { name, parent_id: parent });
    let n = 0;
    const newUser = async (ouId: string) => (await c.must(201, 'POST', users(), { email: `u${r}-${n++}@conc.test`, ou_id: ouId })).id;

    const A = (await root(`A${r}`)).id;
    const B = (await root(`B${r}`)).id;
    const a = [(await child('a1', A)).id, (await child('a2', A)).id, (await child('a3', A)).id];
    const b1 = (await child('b1', B)).id;
    const vBlock = (await child('vblock', A)).id;
    const vMove = (await child('vmove', B)).id;
    const m1 = (await child('m1', vMove)).id;
    const m2 = (await child('m2', vMove)).id;
    const vCasc = (await child('vcasc', A)).id;
    const c1 = (await child('c1', vCasc)).id;
    const c2 = (await child('c2', vCasc)).id;
    const c2x = (await child('c2x', c2)).id;
    await newUser(vMove);
    await newUser(vMove);
    await newUser(m2);
    await newUser(vCasc);
    await newUser(c2x);
    await newUser(c1);
    const into: Round['into'] = { BLOCK: [], MOVE_UP: [], CASCADE: [] };
    for (const s of ['BLOCK', 'MOVE_UP', 'CASCADE'] as const) {
      for (const start of [a[0], b1]) into[s].push({ id: await newUser(start), start });
    }
    const movers: string[] = [];
    for (let i = 0; i < 8; i++) movers.push(await newUser(i % 2 === 0 ? a[1] : b1));
    return { r, A, B, a, b1, vBlock, vMove, vCasc, m1, c1, into, movers };
  }

  function plan(round: Round): Planned[] {
    const { A, B, a, b1 } = round;
    const p: Planned[] = [];
    // A under B and B under A at once: only one direction can win.
    for (let i = 0; i < 2; i++) {
      p.push({ label: 'A-under-B', allowed: [200, 409], method: 'PATCH', path: ou(A), body: { parent_id: B } });
      p.push({ label: 'B-under-A', allowed: [200, 409], method: 'PATCH', path: ou(B), body: { parent_id: A } });
    }
    // Three siblings renamed to one name: one wins.
    for (const id of a) p.push({ label: 'rename-same', allowed: [200, 409], method: 'PATCH', path: ou(id), body: { name: 'Same' }, ref: id });
    // Four creates of one name under one parent: one wins.
    for (let i = 0; i < 4; i++) p.push({ label: 'create-dup', allowed: [201, 409], method: 'POST', path: ous(), body: { name: i % 2 ? 'Dup' : 'dup', parent_id: B } });
    // Deletes with each strategy (twice) racing with creates under the deleted OU and user moves into it.
    const victims: [Strategy, string][] = [
      ['BLOCK', round.vBlock],
      ['MOVE_UP', round.vMove],
      ['CASCADE', round.vCasc],
    ];
    for (const [strategy, victim] of victims) {
      for (let i = 0; i < 2; i++) {
        p.push({ label: `delete-${strategy}`, allowed: [204, 404, ...(strategy === 'CASCADE' ? [] : [409])], method: 'DELETE', path: `${ou(victim)}?strategy=${strategy}` });
      }
      for (let i = 0; i < 4; i++) {
        p.push({ label: `create-under-${strategy}`, allowed: [201, 404], method: 'POST', path: ous(), body: { name: `n${i}`, parent_id: victim } });
      }
      for (const u of round.into[strategy]) {
        p.push({ label: `user-into-${strategy}`, allowed: [200, 404], method: 'PATCH', path: user(u.id), body: { ou_id: victim }, ref: u.id });
      }
      for (let i = 0; i < 2; i++) {
        p.push({ label: `user-create-in-${strategy}`, allowed: [201, 404], method: 'POST', path: users(), body: { email: `new-${round.r}-${strategy}-${i}@conc.test`, ou_id: victim } });
      }
    }
    // A sibling for the MOVE_UP victim's parent named like one of the victim's children: either the
    // create wins (and MOVE_UP is refused for the clash) or MOVE_UP wins (and the create is refused).
    p.push({ label: 'create-clash-MOVE_UP', allowed: [201, 409], method: 'POST', path: ous(), body: { name: 'M2', parent_id: B } });
    // Three users created with one email (differing in case): one wins.
    for (let i = 0; i < 3; i++) {
      p.push({ label: 'user-email-dup', allowed: [201, 409], method: 'POST', path: users(), body: { email: i === 1 ? `SAME-${round.r}@conc.test` : `same-${round.r}@conc.test` } });
    }
    // Moving an OU out of a subtree being deleted (cascade: before or after), and a child of the MOVE_UP victim elsewhere.
    p.push({ label: 'rescue-from-CASCADE', allowed: [200, 404], method: 'PATCH', path: ou(round.c1), body: { parent_id: b1 } });
    p.push({ label: 'move-child-of-MOVE_UP', allowed: [200], method: 'PATCH', path: ou(round.m1), body: { parent_id: a[2] } });
    // Users moving between OUs that all survive.
    const targets = [a[0], a[1], a[2], b1, A, B, null];
    for (const [i, id] of round.movers.entries()) {
      p.push({ label: 'user-move', allowed: [200], method: 'PATCH', path: user(id), body: { ou_id: targets[(i + round.r) % targets.length] } });
    }
    // Reads while all of this goes on.
    p.push({ label: 'read-tree', allowed: [200], method: 'GET', path: `${ous()}/tree` });
    p.push({ label: 'read-ou', allowed: [200], method: 'GET', path: ou(A) });
    p.push({ label: 'read-users-nested', allowed: [200], method: 'GET', path: `${ou(A)}/users?include_nested=true` });
    // Left alone, one kind of request tends to reach the store first (bodiless DELETEs skip body
    // parsing): rotate a lag of the deletes behind the others (negative: the others lag) so that
    // each side of every race wins in some rounds.
    const lag = [-10, 0, 4, 10, 20][round.r % 5];
    for (const item of p) {
      item.delayMs = Math.floor(Math.random() * 3) + (item.method === 'DELETE' ? Math.max(lag, 0) : Math.max(-lag, 0));
    }
    return p;
  }

  async function checkRound(round: Round, planned: Planned[], answers: Answer[]): Promise<void> {
    const fail = (message: string) => failures.push(`round ${round.r}: ${message}`);
    const byLabel = (label: string) => answers.filter((_, i) => planned[i].label === label);
    const wins = (label: string) => byLabel(label).filter(ok).length;

    planned.forEach((p, i) => {
      const a = answers[i];
      if (typeof a.status !== 'number' || !p.allowed.includes(a.status)) {
        fail(`${p.label} ${p.method} ${p.path} ${JSON.stringify(p.body ?? null)} via ${a.server}: expected one of ${p.allowed.join('/')}, got ${a.status} ${JSON.stringify(a.body ?? a.error)} after ${a.ms} ms`);
      }
    });

    // A/B: exactly one direction wins (the first to run sees two roots; the other then sees a cycle).
    const aUnderB = wins('A-under-B');
    const bUnderA = wins('B-under-A');
    if ((aUnderB > 0) === (bUnderA > 0)) fail(`A-under-B won ${aUnderB}x and B-under-A won ${bUnderA}x: exactly one direction must win`);
    const finalA = await cluster.must<{ parent_id: string | null }>(200, 'GET', ou(round.A));
    const finalB = await cluster.must<{ parent_id: string | null }>(200, 'GET', ou(round.B));
    if (aUnderB > 0 && (finalA.parent_id !== round.B || finalB.parent_id !== null)) fail(`A-under-B won but A.parent=${finalA.parent_id}, B.parent=${finalB.parent_id}`);
    if (bUnderA > 0 && (finalB.parent_id !== round.A || finalA.parent_id !== null)) fail(`B-under-A won but A.parent=${finalA.parent_id}, B.parent=${finalB.parent_id}`);

    if (wins('rename-same') !== 1) fail(`rename-same: ${wins('rename-same')} of 3 renames won, expected exactly 1`);
    if (wins('create-dup') !== 1) fail(`create-dup: ${wins('create-dup')} of 4 creates won, expected exactly 1`);

    if (wins('user-email-dup') !== 1) fail(`user-email-dup: ${wins('user-email-dup')} of 3 creates won, expected exactly 1`);

    const clashCreated = wins('create-clash-MOVE_UP');
    for (const strategy of ['BLOCK', 'MOVE_UP', 'CASCADE'] as const) {
      const victim = { BLOCK: round.vBlock, MOVE_UP: round.vMove, CASCADE: round.vCasc }[strategy];
      const deleted = wins(`delete-${strategy}`);
      const pairs = planned.map((p, i) => ({ p, a: answers[i] }));
      const created = pairs.filter(({ p, a }) => p.label === `create-under-${strategy}` && ok(a)).map(({ a }) => (a.body as { data: Ou }).data.id);
      const movedIn = pairs.filter(({ p }) => p.label === `user-into-${strategy}`);
      const usersCreated = pairs.filter(({ p, a }) => p.label === `user-create-in-${strategy}` && ok(a)).map(({ a }) => (a.body as { data: Ou }).data.id);
      const usersIn = movedIn.filter(({ a }) => ok(a)).length + usersCreated.length;
      if (deleted > 1) fail(`delete-${strategy} succeeded ${deleted}x`);
      if (strategy === 'CASCADE' && deleted !== 1) fail(`delete-CASCADE succeeded ${deleted}x, expected exactly once`);
      if (strategy === 'MOVE_UP' && deleted + clashCreated !== 1) {
        fail(`delete-MOVE_UP succeeded ${deleted}x and the clashing create ${clashCreated}x: exactly one of them must win`);
      }
      const victimNow = await call(cluster.servers[0].baseUrl, 's1', cluster.token, 'check', 'GET', ou(victim));
      if (deleted === 1 && victimNow.status !== 404) fail(`delete-${strategy} answered 204 but the OU is still there (${victimNow.status})`);
      if (deleted === 0 && victimNow.status !== 200) fail(`no delete-${strategy} succeeded but GET says ${victimNow.status}`);
      if (strategy === 'BLOCK') {
        if (deleted === 1 && (created.length > 0 || usersIn > 0)) {
          fail(`BLOCK delete succeeded although ${created.length} OU create(s) under it and ${usersIn} user move(s)/create(s) into it succeeded`);
        }
        if (deleted === 0) {
          const data = (victimNow.body as { data: { child_ou_count: number; user_count: number } }).data;
          if (data.child_ou_count !== created.length) fail(`BLOCK victim has ${data.child_ou_count} children, ${created.length} creates succeeded`);
          if (data.user_count !== usersIn) fail(`BLOCK victim has ${data.user_count} users, ${usersIn} moves/creates into it succeeded`);
        }
        continue;
      }
      // Where the victim's content is now: its parent (B for MOVE_UP, A for CASCADE) once deleted, else the victim.
      const home = deleted === 1 ? (strategy === 'MOVE_UP' ? round.B : round.A) : victim;
      for (const id of created) {
        const now = await call(cluster.servers[1].baseUrl, 's2', cluster.token, 'check', 'GET', ou(id));
        if (strategy === 'CASCADE' && now.status !== 404) fail(`OU ${id} created under the CASCADE victim survived (${now.status})`);
        if (strategy === 'MOVE_UP' && (now.status !== 200 || (now.body as { data: { parent_id: string } }).data.parent_id !== home)) {
          fail(`OU ${id} created under the MOVE_UP victim should now be under ${home}: ${now.status} ${JSON.stringify(now.body)}`);
        }
      }
      for (const { p, a } of movedIn) {
        const start = round.into[strategy].find((u) => u.id === p.ref)!.start;
        const now = await cluster.must<{ ou_id: string | null }>(200, 'GET', user(p.ref!));
        const expected = ok(a) ? home : start;
        if (now.ou_id !== expected) fail(`user ${p.ref} (move into ${strategy} victim answered ${a.status}) is in ${now.ou_id}, expected ${expected}`);
      }
      for (const id of usersCreated) {
        const now = await cluster.must<{ ou_id: string | null }>(200, 'GET', user(id));
        if (now.ou_id !== home) fail(`user ${id} created in the ${strategy} victim is in ${now.ou_id}, expected ${home}`);
      }
    }
  }

  it(
    `${ROUNDS} rounds of ~55 conflicting requests through two instances: clean answers, serializable outcomes`,
    async () => {
      const started = Date.now();
      let setupMs = 0;
      let raceMs = 0;
      let slowest = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = Date.now();
        const round = await setUpRound(r);
        const planned = shuffle(plan(round));
        const t1 = Date.now();
        const answers = await cluster.race(planned);
        const t2 = Date.now();
        setupMs += t1 - t0;
        raceMs += t2 - t1;
        slowest = Math.max(slowest, ...answers.map((a) => a.ms));
        await checkRound(round, planned, answers);
      }
      timings.setup_ms = setupMs;
      timings.races_ms = raceMs;
      timings.slowest_request_ms = slowest;
      timings.total_ms = Date.now() - started;

      const answers = cluster.answers;
      console.log(
        `[two-instances ${kind}] ${answers.length} concurrent requests, timings ${JSON.stringify(timings)}\n` +
          `  by status: ${JSON.stringify(histogram(answers, statusOf))}\n` +
          `  by server: ${JSON.stringify(histogram(answers, (a) => `${a.server} ${typeof a.status === 'number' ? `${Math.floor(a.status / 100)}xx` : a.status}`))}\n` +
          `  by request: ${JSON.stringify(histogram(answers, (a) => `${a.label} -> ${a.status}`), null, 1)}`,
      );
      const errorLines = servers.flatMap((s) => s.errorLines());
      if (errorLines.length > 0) console.log(`[two-instances ${kind}] ${errorLines.length} server error log line(s), first 3:\n${errorLines.slice(0, 3).map((l) => l.slice(0, 900)).join('\n')}`);

      expect(answers.length).toBeGreaterThanOrEqual(500);
      // Every answer a clean 2xx or 4xx, in time.
      const unclean = answers.filter((a) => typeof a.status !== 'number' || a.status >= 500 || a.status < 200 || a.ms > REQUEST_TIMEOUT_MS);
      expect(unclean.map((a) => `${a.label} via ${a.server}: ${a.status} ${JSON.stringify(a.body ?? a.error)}`)).toEqual([]);
      expect(failures).toEqual([]);
      expect(errorLines).toEqual([]);
    },
    120_000,
  );

  it(
    `${TENANT_ROUNDS} rounds: a tenant deleted while 50 requests create, move and rename in it through both instances`,
    async () => {
      const started = Date.now();
      const answers: Answer[] = [];
      for (let r = 0; r < TENANT_ROUNDS; r++) {
        const t = (await cluster.must<{ id: string }>(201, 'POST', '/api/v1/tenants', { name: `Doomed ${kind} ${r}` })).id;
        const base = `/api/v1/tenants/${t}`;
        const root = (await cluster.must(201, 'POST', `${base}/ous`, { name: 'Root' })).id;
        const child = (await cluster.must(201, 'POST', `${base}/ous`, { name: 'Child', parent_id: root })).id;
        const someone = (await cluster.must(201, 'POST', `${base}/users`, { email: `someone-${r}@doomed.test`, ou_id: child })).id;
        const p: Planned[] = [];
        for (let i = 0; i < 2; i++) p.push({ label: 'tenant-delete', allowed: [204, 404], method: 'DELETE', path: base });
        for (let i = 0; i < 8; i++) p.push({ label: 'in-doomed: create OU', allowed: [201, 404], method: 'POST', path: `${base}/ous`, body: { name: `o${i}`, parent_id: i % 2 ? root : null } });
        for (let i = 0; i < 8; i++) p.push({ label: 'in-doomed: create user', allowed: [201, 404], method: 'POST', path: `${base}/users`, body: { email: `n${i}-${r}@doomed.test`, ou_id: i % 2 ? root : null } });
        for (let i = 0; i < 6; i++) p.push({ label: 'in-doomed: create client', allowed: [201, 404], method: 'POST', path: `${base}/clients`, body: { name: `c${i}`, scopes: ['ous:read'] } });
        for (let i = 0; i < 4; i++) p.push({ label: 'in-doomed: move user', allowed: [200, 404], method: 'PATCH', path: `${base}/users/${someone}`, body: { ou_id: i % 2 ? root : child } });
        for (let i = 0; i < 4; i++) p.push({ label: 'in-doomed: rename tenant', allowed: [200, 404], method: 'PATCH', path: base, body: { name: `Renamed ${i}` } });
        for (let i = 0; i < 4; i++) p.push({ label: 'in-doomed: move/rename OU', allowed: [200, 404, 409], method: 'PATCH', path: `${base}/ous/${child}`, body: i % 2 ? { parent_id: null } : { name: `Child ${i}` } });
        for (let i = 0; i < 2; i++) p.push({ label: 'in-doomed: delete OU CASCADE', allowed: [204, 404], method: 'DELETE', path: `${base}/ous/${root}?strategy=CASCADE` });
        for (let i = 0; i < 4; i++) p.push({ label: 'in-doomed: read tree', allowed: [200, 404], method: 'GET', path: `${base}/ous/tree` });
        for (let i = 0; i < 4; i++) p.push({ label: 'in-doomed: list users', allowed: [200, 404], method: 'GET', path: `${base}/users` });
        for (let i = 0; i < 4; i++) p.push({ label: 'in-doomed: list clients', allowed: [200, 404], method: 'GET', path: `${base}/clients` });
        const lag = [0, 5, 15][r % 3];
        for (const item of p) item.delayMs = Math.floor(Math.random() * 3) + (item.label === 'tenant-delete' ? lag : 0);
        const planned = shuffle(p);
        const got = await cluster.race(planned);
        answers.push(...got);
        planned.forEach((item, i) => {
          const a = got[i];
          if (typeof a.status !== 'number' || !item.allowed.includes(a.status)) {
            failures.push(`tenant round ${r}: ${item.label} ${item.method} ${item.path} ${JSON.stringify(item.body ?? null)} via ${a.server}: expected one of ${item.allowed.join('/')}, got ${a.status} ${JSON.stringify(a.body ?? a.error)} after ${a.ms} ms`);
          }
        });
        const deletes = got.filter((a, i) => planned[i].label === 'tenant-delete' && a.status === 204).length;
        if (deletes !== 1) failures.push(`tenant round ${r}: tenant DELETE succeeded ${deletes}x, expected once`);
        // Nothing of the tenant survives it.
        const store = openStore(scratch.databaseUrl, { poolSize: 1 });
        try {
          for (const table of ['org_units', 'users', 'api_clients'] as const) {
            const left = await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', t).executeTakeFirstOrThrow();
            if (Number(left.n) !== 0) failures.push(`tenant round ${r}: ${left.n} row(s) of the deleted tenant left in ${table}`);
          }
        } finally {
          await store.close();
        }
      }
      console.log(
        `[two-instances ${kind}] tenant-delete races: ${answers.length} concurrent requests in ${Date.now() - started} ms\n` +
          `  by status: ${JSON.stringify(histogram(answers, statusOf))}\n` +
          `  by request: ${JSON.stringify(histogram(answers, (a) => `${a.label} -> ${a.status}`), null, 1)}`,
      );
      const errorLines = servers.flatMap((s) => s.errorLines());
      if (errorLines.length > 0) console.log(`[two-instances ${kind}] ${errorLines.length} server error log line(s), first 3:\n${errorLines.slice(0, 3).map((l) => l.slice(0, 900)).join('\n')}`);
      const unclean = answers.filter((a) => typeof a.status !== 'number' || a.status >= 500 || a.status < 200 || a.ms > REQUEST_TIMEOUT_MS);
      expect(unclean.map((a) => `${a.label} via ${a.server}: ${a.status} ${JSON.stringify(a.body ?? a.error)}`)).toEqual([]);
      expect(failures).toEqual([]);
      expect(errorLines).toEqual([]);
    },
    90_000,
  );

  it(
    'the invariant check passes afterwards (CLI and findInvariantViolations)',
    async () => {
      const cli = await runCli('check', scratch.databaseUrl, ['--tenant', tenantId]);
      expect(cli.stdout + cli.stderr).toContain('1 tenant(s) checked, 0 violation(s).');
      expect(cli.code).toBe(0);
      const all = await runCli('check', scratch.databaseUrl);
      expect(all.code, all.stdout + all.stderr).toBe(0);

      const store = openStore(scratch.databaseUrl, { poolSize: 1 });
      try {
        expect(await findInvariantViolations(store.db, tenantId, MAX_DEPTH)).toEqual([]);
        const counts = await store.db
          .selectFrom('org_units')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('tenant_id', '=', tenantId)
          .executeTakeFirstOrThrow();
        console.log(`[two-instances ${kind}] tenant holds ${counts.n} OUs after the races; check: ${cli.stdout.trim().split('\n').pop()}`);
      } finally {
        await store.close();
      }
    },
    60_000,
  );
}

describe.skipIf(isPostgresPass)('two Arbor instances on one SQLite file', () => scenario('sqlite'));
describe.skipIf(!TEST_DATABASE_URL)('two Arbor instances on one PostgreSQL database', () => scenario('postgres'));

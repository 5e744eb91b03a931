/**
 * The scenarios `npm run bench` measures. A throughput scenario is driven by autocannon for
 * `duration` seconds at `connections`; a timed scenario sends requests one at a time (the write
 * scenarios change the store: every run starts from a fresh copy of the seeded one).
 */
import type { SeedManifest } from './seed-data.js';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  /** Sent without the bearer token. */
  anonymous?: boolean;
  /**
   * Who sends it (default: the platform admin): a tenant client with a tenant-wide tenant_admin,
   * or one with ou_admin at the tree's one root, which sees the same OUs through the scope filters.
   */
  as?: 'tenant-wide' | 'scoped';
}

export type Scenario =
  | {
      name: string;
      kind: 'throughput';
      /** Requests each connection sends in turn; `[<id>]` in a body becomes a fresh suffix per request. */
      requests: HttpRequest[];
      /** Overrides the run's --duration (the mixed load runs 60 s to show memory is flat). */
      durationSeconds?: number;
      /** Measured on a freshly started server: its memory figures are then its own. */
      freshServer?: boolean;
      /** Settings of the fresh server it runs on (implies freshServer). */
      env?: Record<string, string>;
      /**
       * One side of an A/B pair: the scenarios naming the same pair swap places from one run to
       * the next, so that neither side always runs first (on a fresh server, in a cooler machine).
       */
      pair?: string;
    }
  | {
      name: string;
      /**
       * One client walks a whole listing, page after page (by `next_cursor`, or by page number),
       * as a provisioning job does; each walk is a sample, its time from the first request to
       * the last answer. `requests` holds the first page's request.
       */
      kind: 'walk';
      requests: [HttpRequest];
      by: 'cursor' | 'page';
      walks: number;
      freshServer?: boolean;
    }
  | {
      name: string;
      kind: 'timed';
      /** The requests, sent one at a time; each one's latency is a sample. */
      requests: HttpRequest[];
      /** The write scenarios: the invariant check runs after them. */
      writes?: boolean;
      /** Measured on a freshly started server: its memory figures are then its own. */
      freshServer?: boolean;
    };

/**
 * Placeholders a path may hold, resolved by run.ts once the run's server is up: `{busiest}`, the
 * OU with the most direct users; `{middle}` / `{last}` in `page=`, the middle and last page of
 * the same listing (from its first page's total_pages).
 */
export const PLACEHOLDERS = ['{busiest}', '{middle}', '{last}'] as const;

export function scenarios(m: SeedManifest): Scenario[] {
  const t = `/api/v1/tenants/${m.tenantId}`;
  const ou = (id: string) => `${t}/ous/${id}`;
  const lastPage = (total: number, perPage: number) => Math.max(1, Math.ceil(total / perPage));
  const get = (path: string): HttpRequest => ({ method: 'GET', path });
  const throughput = (name: string, ...requests: HttpRequest[]): Scenario => ({ name, kind: 'throughput', requests });

  // Four reads to one write, the writes of a directory's working day: a new OU, an OU edited.
  const mixed: HttpRequest[] = [
    get(ou(m.ids.single)),
    get(`${t}/ous`),
    get(`${ou(m.ids.midLevel)}/users?include_nested=true`),
    get(`${ou(m.ids.single)}/users`),
    { method: 'POST', path: `${t}/ous`, body: { name: 'Mixed [<id>]', parent_id: m.ids.createParent } },
    get(ou(m.ids.wide)),
    get(`${t}/ous?search=${m.searchTerm}`),
    get(`${ou(m.ids.root)}/users?include_nested=true`),
    get(ou(m.ids.single)),
    { method: 'PATCH', path: ou(m.ids.single), body: { description: 'Edited [<id>]' } },
  ];

  return [
    throughput('ceiling', { method: 'GET', path: '/bench/ceiling', anonymous: true }),
    throughput('ceiling-auth', get('/bench/ceiling-auth')),
    throughput('get-ou', get(ou(m.ids.single))),
    // What metrics cost (target: at most 5 %): the same read on two fresh servers, with the
    // metrics listener (and so every collector) off, then on, as deployed.
    { name: 'get-ou-metrics-off', kind: 'throughput', requests: [get(ou(m.ids.single))], env: { ARBOR_METRICS_PORT: '0' }, pair: 'metrics' },
    { name: 'get-ou-metrics-on', kind: 'throughput', requests: [get(ou(m.ids.single))], freshServer: true, pair: 'metrics' },
    // Latency of one request at a time: 10,000 children in one answer.
    { name: 'get-ou-wide', kind: 'timed', requests: Array(20).fill(get(ou(m.ids.wide))) },
    throughput('get-ou-wide-16-connections', get(ou(m.ids.wide))),
    // The same size of answer as a constant from a bare route: what moving 1.1 MB answers costs here.
    throughput('ceiling-wide-16-connections', { method: 'GET', path: '/bench/ceiling-wide', anonymous: true }),
    throughput('list-ous-page-1', get(`${t}/ous`)),
    throughput('list-ous-deep-page', get(`${t}/ous?page=${lastPage(m.options.ous, 100) - 10}&per_page=100`)),
    // The costliest page without a rank index: deep pages past the middle are read backwards from the end.
    throughput('list-ous-middle-page', get(`${t}/ous?page=${Math.ceil(lastPage(m.options.ous, 100) / 2)}&per_page=100`)),
    throughput('list-ous-last-page', get(`${t}/ous?page=${lastPage(m.options.ous, 100)}&per_page=100`)),
    throughput('list-ous-search', get(`${t}/ous?search=${m.searchTerm}`)),
    throughput('list-ous-search-deep-page', get(`${t}/ous?search=${m.searchTerm}&page=20`)),
    throughput('list-ous-search-middle-page', get(`${t}/ous?search=${m.searchTerm}&page={middle}`)),
    throughput('list-ous-search-last-page', get(`${t}/ous?search=${m.searchTerm}&page={last}`)),
    throughput('list-ous-children-of-wide', get(`${t}/ous?parent_id=${m.ids.wide}`)),
    throughput('list-ous-children-of-wide-deep-page', get(`${t}/ous?parent_id=${m.ids.wide}&page=${lastPage(m.shape.wideChildren, 20)}`)),
    throughput('users-direct', get(`${ou(m.ids.single)}/users`)),
    throughput('users-direct-busiest-page-1', get(`${ou('{busiest}')}/users?per_page=100`)),
    throughput('users-direct-busiest-middle-page', get(`${ou('{busiest}')}/users?per_page=100&page={middle}`)),
    throughput('users-direct-busiest-last-page', get(`${ou('{busiest}')}/users?per_page=100&page={last}`)),
    throughput('users-nested-root-page-1', get(`${ou(m.ids.root)}/users?include_nested=true`)),
    throughput('users-nested-root-middle-page-16-connections', get(`${ou(m.ids.root)}/users?include_nested=true&per_page=100&page={middle}`)),
    // A deep page number of the root's 1,000,000 users after every write, among reads of one OU:
    // each write leaves the users' rank index of an older version, and the next deep page needs
    // a new one (0.5–1.3 s of reading on SQLite: stopping the event loop, or on a reader aside).
    throughput(
      'deep-pages-after-writes',
      { method: 'PATCH', path: ou(m.ids.single), body: { description: 'Edited [<id>]' } },
      get(`${ou(m.ids.root)}/users?include_nested=true&per_page=100&page={middle}`),
      ...Array<HttpRequest>(8).fill(get(ou(m.ids.single))),
    ),
    throughput('users-nested-root-last-page-16-connections', get(`${ou(m.ids.root)}/users?include_nested=true&per_page=100&page={last}`)),
    throughput('users-nested-mid-level-page-1', get(`${ou(m.ids.midLevel)}/users?include_nested=true`)),
    throughput('users-nested-mid-level-middle-page', get(`${ou(m.ids.midLevel)}/users?include_nested=true&page={middle}`)),
    throughput('users-nested-mid-level-last-page', get(`${ou(m.ids.midLevel)}/users?include_nested=true&page={last}`)),
    // A provisioning job reading every user of a branch (the 10,000-OU subtree the CASCADE
    // scenario deletes, about 20,000 users), 100 per page, one page after another.
    ...(['cursor', 'page'] as const).map(
      (by): Scenario => ({ name: `walk-branch-nested-users-by-${by}`, kind: 'walk', by, walks: 3, requests: [get(`${ou(m.ids.cascade)}/users?include_nested=true&per_page=100`)] }),
    ),
    { name: 'users-nested-root-deep-page', kind: 'timed', requests: Array(15).fill(get(`${ou(m.ids.root)}/users?include_nested=true&page=${lastPage(m.options.users, 100)}&per_page=100`)) },
    { name: 'users-nested-root-middle-page', kind: 'timed', requests: Array(15).fill(get(`${ou(m.ids.root)}/users?include_nested=true&page=${Math.ceil(lastPage(m.options.users, 100) / 2)}&per_page=100`)) },
    // A fresh server: V8 keeps the heap a 15 MB answer grew (docs/benchmarks.md), which would
    // otherwise be charged to the scenarios after it.
    { name: 'tree', kind: 'timed', freshServer: true, requests: Array(5).fill(get(`${t}/ous/tree`)) },
    {
      name: 'create-ou',
      kind: 'throughput',
      // [<id>] becomes a fresh suffix per request: every name is new.
      requests: [{ method: 'POST', path: `${t}/ous`, body: { name: 'New OU [<id>]', parent_id: m.ids.createParent } }],
    },
    {
      name: 'rename-1000-descendants',
      kind: 'timed',
      writes: true,
      requests: [1, 2, 3, 4, 5].map((i) => ({ method: 'PATCH', path: ou(m.ids.rename), body: { name: `Renamed ${i}` } })),
    },
    {
      name: 'move-10000-ous-100000-users',
      kind: 'timed',
      writes: true,
      // There and back, three times: six moves of the same subtree.
      requests: [1, 2, 3].flatMap(() => [
        { method: 'PATCH' as const, path: ou(m.ids.moveSource), body: { parent_id: m.ids.moveTarget } },
        { method: 'PATCH' as const, path: ou(m.ids.moveSource), body: { parent_id: m.ids.root } },
      ]),
    },
    { name: 'delete-move-up-1000-children', kind: 'timed', writes: true, requests: [{ method: 'DELETE', path: `${ou(m.ids.moveUp)}?strategy=MOVE_UP` }] },
    { name: 'delete-cascade-10000-ous', kind: 'timed', writes: true, requests: [{ method: 'DELETE', path: `${ou(m.ids.cascade)}?strategy=CASCADE` }] },
    // Delegated administration (docs/delegated-admin.md): the same reads by a tenant-wide client
    // and by one scoped to the root's subtree. Same answers; the difference is what the scope
    // filters cost. Target: scoped within 1.5x of tenant-wide, same run.
    // Each pair back to back, so that both meet the same server state.
    ...[
      ['list-ous-page-1', `${t}/ous`],
      ['list-ous-search', `${t}/ous?search=${m.searchTerm}`],
      ['users-nested-mid-level-page-1', `${ou(m.ids.midLevel)}/users?include_nested=true`],
    ].flatMap(([name, path]) => (['tenant-wide', 'scoped'] as const).map((as) => throughput(`${as}-${name}`, { method: 'GET', path, as }))),
    ...(['tenant-wide', 'scoped'] as const).map(
      (as): Scenario => ({ name: `${as}-tree`, kind: 'timed', freshServer: true, requests: Array(5).fill({ method: 'GET', path: `${t}/ous/tree`, as }) }),
    ),
    { name: 'mixed', kind: 'throughput', durationSeconds: 60, freshServer: true, requests: mixed },
    // The same with V8's old generation capped (a setting, not code): what the heap's growth adds to the RSS.
    { name: 'mixed-heap-128', kind: 'throughput', durationSeconds: 60, env: { NODE_OPTIONS: '--max-old-space-size=128' }, requests: mixed },
  ];
}

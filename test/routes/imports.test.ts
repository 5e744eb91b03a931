import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { ousByPath, postImport, runImport, usersByEmail, waitForImport } from '../helpers/imports.js';
import { heapPolicy } from '../../src/lib/heap-policy.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { type TestContext, createTestContext, grantRole } from '../helpers/test-app.js';

/**
 * POST /imports and GET /imports/{id} (docs/import-export.md): what lands, what a dry run says,
 * conflicts, prune, atomicity, events, delegated scope, and bad input never changing anything.
 */

const LDIF = 'application/ldif';
const CSV = 'text/csv';
const JSON_TYPE = 'application/json';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx.close();
});

async function tenantWithHeaders() {
  const tenant = await createTenant(ctx);
  return { tenantId: tenant.id, headers: await ctx.headersFor(tenant.id) };
}

/** What the tenant holds: OU paths and user email → OU path, sorted, for comparing before and after. */
async function snapshot(tenantId: string) {
  const ous = await ousByPath(ctx, tenantId);
  const byId = new Map([...ous.values()].map((ou) => [ou.id, ou.path]));
  const users = await usersByEmail(ctx, tenantId);
  return {
    ous: [...ous.keys()].sort(),
    users: [...users.values()].map((u) => `${u.email} ${u.ou_id ? byId.get(u.ou_id) : '-'}`).sort(),
  };
}

async function eventsOf(tenantId: string, headers: Record<string, string>) {
  const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events?per_page=1000`, headers: ctx.platformHeaders });
  void headers;
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data as any[];
}

const SMALL_LDIF = [
  'version: 1',
  '',
  'dn: dc=example,dc=com',
  'objectClass: top',
  'objectClass: dcObject',
  'objectClass: organization',
  'dc: example',
  'o: Example',
  '',
  'dn: ou=Engineering,dc=example,dc=com',
  'objectClass: organizationalUnit',
  'ou: Engineering',
  'description: Builds things',
  'entryUUID: 0b5c7a8e-1111-4c1a-9a0e-000000000001',
  '',
  'dn: ou=Backend,ou=Engineering,dc=example,dc=com',
  'objectClass: organizationalUnit',
  'ou: Backend',
  'entryUUID: 0b5c7a8e-1111-4c1a-9a0e-000000000002',
  '',
  'dn: uid=ada,ou=Backend,ou=Engineering,dc=example,dc=com',
  'objectClass: inetOrgPerson',
  'uid: ada',
  'cn: Ada Lovelace',
  'sn: Lovelace',
  'mail: ada@example.com',
  'entryUUID: 0b5c7a8e-1111-4c1a-9a0e-000000000003',
  '',
  'dn: uid=root,dc=example,dc=com',
  'objectClass: inetOrgPerson',
  'uid: root',
  'cn: Root User',
  'sn: User',
  'mail: root@example.com',
  '',
].join('\n');

describe('POST /api/v1/tenants/{tenant_id}/imports', () => {
  it('imports an LDIF directory: OUs by DN, users in their parent OU, the suffix entry ignored, counts kept', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const job = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    expect(job).toMatchObject({
      state: 'succeeded',
      format: 'ldif',
      error: null,
      options: { base_dn: 'dc=example,dc=com', on_conflict: 'fail', dry_run: false, atomic: true },
      progress: { entries_read: 5, ignored: 1, rejected: 0, ous: { created: 2, updated: 0, skipped: 0, deleted: 0 }, users: { created: 2, updated: 0, skipped: 0, deleted: 0 } },
      rejected: [],
    });
    const ous = await ousByPath(ctx, tenantId);
    expect([...ous.keys()].sort()).toEqual(['/Engineering', '/Engineering/Backend']);
    const engineering = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ous.get('/Engineering').id}`, headers });
    expect(engineering.json().data).toMatchObject({ description: 'Builds things', external_id: '0b5c7a8e-1111-4c1a-9a0e-000000000001', child_ou_count: 1, user_count: 0 });
    const users = await usersByEmail(ctx, tenantId);
    expect(users.get('ada@example.com')).toMatchObject({ ou_id: ous.get('/Engineering/Backend').id, display_name: 'Ada Lovelace', external_id: '0b5c7a8e-1111-4c1a-9a0e-000000000003' });
    expect(users.get('ada@example.com').custom_attributes).toEqual({ ldap: { rdn: 'uid=ada', uid: 'ada', sn: 'Lovelace' } });
    expect(users.get('root@example.com').ou_id).toBeNull();
    const nested = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ous.get('/Engineering').id}/users?include_nested=true`, headers });
    expect(nested.json().data.map((u: any) => u.email)).toEqual(['ada@example.com']);
    expect(await findInvariantViolations(ctx.store.db, tenantId, ctx.config.maxOuDepth)).toEqual([]);
  });

  it('writes one event per resource, every one with the job id as correlation_id', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const job = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const events = (await eventsOf(tenantId, headers)).filter((e) => e.correlation_id === job.id);
    expect(events.map((e) => e.type).sort()).toEqual(['ou.created', 'ou.created', 'user.created', 'user.created']);
    expect(job.correlation_id).toBe(job.id);
  });

  it('answers 202 with a Location and the job, which GET shows', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const response = await ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/imports`, headers: { ...headers, 'content-type': LDIF }, payload: SMALL_LDIF });
    expect(response.statusCode, response.body).toBe(202);
    const { id } = response.json().data;
    expect(id).toMatch(/^imp_/);
    expect(response.headers.location).toBe(`/api/v1/tenants/${tenantId}/imports/${id}`);
    const done = await waitForImport(ctx, tenantId, headers, id);
    expect(done.state).toBe('succeeded');
  });

  it('changes nothing in a dry run, and reports what it would do', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const job = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { dry_run: true });
    expect(job).toMatchObject({ state: 'succeeded', options: { dry_run: true }, progress: { ous: { created: 2 }, users: { created: 2 } } });
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
    expect((await eventsOf(tenantId, headers)).filter((e) => e.correlation_id === job.id)).toEqual([]);
  });

  it('imports a Google Workspace user CSV and a path,description OU list', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const ous = await runImport(ctx, tenantId, headers, 'path,description\n/Sales,Sellers\n/Sales/West,\n"/Sales/West/Bay Area, CA",Quoted\n', CSV);
    expect(ous).toMatchObject({ state: 'succeeded', progress: { ous: { created: 3 } } });
    const users = [
      'First Name [Required],Last Name [Required],Email Address [Required],Password [Required],Org Unit Path [Required],Status [READ ONLY]',
      'Grace,Hopper,grace@example.com,****,/Sales/West,Active',
      'Alan,Turing,alan@example.com,****,/,Suspended',
    ].join('\r\n');
    const job = await runImport(ctx, tenantId, headers, users, CSV);
    expect(job).toMatchObject({ state: 'succeeded', progress: { users: { created: 2 } } });
    expect(await snapshot(tenantId)).toEqual({
      ous: ['/Sales', '/Sales/West', '/Sales/West/Bay Area, CA'],
      users: ['alan@example.com -', 'grace@example.com /Sales/West'],
    });
    const byEmail = await usersByEmail(ctx, tenantId);
    expect(byEmail.get('alan@example.com')).toMatchObject({ display_name: 'Alan Turing', status: 'disabled' });
  });

  it('imports JSON in the shape of the export', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const body = JSON.stringify({
      tenant: { id: 'ignored' },
      ous: [
        { path: '/HQ', description: 'Head office', external_id: 'hq-1', custom_attributes: { cost_center: 7 } },
        { path: '/HQ/IT', description: null, external_id: null },
      ],
      users: [{ email: 'it@example.com', display_name: 'IT', ou_path: '/HQ/IT', status: 'active', external_id: 'u-1', custom_attributes: null }],
    });
    const job = await runImport(ctx, tenantId, headers, body, JSON_TYPE);
    expect(job).toMatchObject({ state: 'succeeded', progress: { ous: { created: 2 }, users: { created: 1 } } });
    const ous = await ousByPath(ctx, tenantId);
    const hq = (await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ous.get('/HQ').id}`, headers })).json().data;
    expect(hq).toMatchObject({ external_id: 'hq-1', custom_attributes: { cost_center: 7 }, description: 'Head office' });
  });

  it('rejects an entry whose parent is missing, with its line and DN, and an atomic import changes nothing', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const orphan = `${SMALL_LDIF}\ndn: ou=Lost,ou=Nowhere,dc=example,dc=com\nobjectClass: organizationalUnit\nou: Lost\n`;
    const job = await runImport(ctx, tenantId, headers, orphan, LDIF);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/1 entries were rejected/);
    expect(job.rejected).toEqual([{ line: SMALL_LDIF.split('\n').length + 1, ref: 'ou=Lost,ou=Nowhere,dc=example,dc=com', reason: 'its parent OU /Nowhere is neither in the file nor in the tenant' }]);
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });

  it('lands the rest with atomic=false and lists what it left out', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const orphan = `${SMALL_LDIF}\ndn: ou=Lost,ou=Nowhere,dc=example,dc=com\nobjectClass: organizationalUnit\nou: Lost\n`;
    const job = await runImport(ctx, tenantId, headers, orphan, LDIF, { atomic: false });
    expect(job).toMatchObject({ state: 'succeeded', progress: { rejected: 1, ous: { created: 2 }, users: { created: 2 } } });
    expect((await snapshot(tenantId)).ous).toEqual(['/Engineering', '/Engineering/Backend']);
  });

  it('reports a malformed line and a duplicate, never a 5xx, and changes nothing', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const bad = `${SMALL_LDIF}\ndn: ou=Engineering,dc=example,dc=com\nobjectClass: organizationalUnit\nou: Engineering\n\ndn: ou=Broken,dc=example,dc=com\nthis line has no colon\n`;
    const job = await runImport(ctx, tenantId, headers, bad, LDIF);
    expect(job.state).toBe('failed');
    expect(job.rejected.map((r: any) => r.ref)).toEqual(['ou=Engineering,dc=example,dc=com', 'ou=Broken,dc=example,dc=com']);
    expect(job.rejected[0].reason).toMatch(/already in the file \(line 10\)/);
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });

  it('rejects an OU path the file repeats, in any case, whether the first was still waiting for its parent or already placed', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const list = ['path,description', '/Sales/West,first', '/sales/west,while the first waits', '/Sales,parent', '/SALES/WEST,once the first is placed', ''].join('\n');
    const job = await runImport(ctx, tenantId, headers, list, CSV, { atomic: false });
    expect(job).toMatchObject({ state: 'succeeded', progress: { rejected: 2, ous: { created: 2 } } });
    expect(job.rejected.map((r: any) => [r.line, r.reason])).toEqual([
      [3, 'the OU /sales/west is already in the file (line 2)'],
      [5, 'the OU /SALES/WEST is already in the file (line 2)'],
    ]);
    const ous = await ousByPath(ctx, tenantId);
    expect([...ous.keys()].sort()).toEqual(['/Sales', '/Sales/West']);
    const west = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ous.get('/Sales/West')?.id}`, headers });
    expect(west.json().data.description).toBe('first');
  });

  it('reads binary junk as a report of rejected entries, never a 5xx, changing nothing', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const junk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) % 256;
    for (const [type, format] of [[LDIF, 'ldif'], [CSV, 'csv'], [JSON_TYPE, 'json']] as const) {
      const answer = await postImport(ctx, tenantId, headers, junk, type);
      expect(answer.status, `${format}: ${JSON.stringify(answer.body)}`).toBe(202);
      const job = await waitForImport(ctx, tenantId, headers, answer.body.data.id);
      expect(job.state, format).toBe('failed');
      expect(job.error, format).toBeTruthy();
    }
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });

  it('answers 413 before reading a file whose Content-Length is over ARBOR_IMPORT_MAX_BYTES', async () => {
    const small = await createTestContext({ importMaxBytes: 4096 });
    try {
      const tenant = await createTenant(small);
      const headers = await small.headersFor(tenant.id);
      const answer = await postImport(small, tenant.id, headers, 'x'.repeat(10_000), LDIF);
      expect(answer.status).toBe(413);
      expect(answer.body).toMatchObject({ code: 'request.body_too_large' });
      expect(answer.body.detail).toMatch(/ARBOR_IMPORT_MAX_BYTES/);
    } finally {
      await small.close();
    }
  });

  it('answers an empty body, and a request without one, with the job failed as an empty file, and nothing imported', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    for (const payload of ['', undefined]) {
      const response = await ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/imports?format=csv`, headers, ...(payload === undefined ? {} : { payload }) });
      expect(response.statusCode, response.body).toBe(202);
      expect(response.json().data).toMatchObject({ state: 'failed', error: 'the file is empty', progress: { bytes_read: 0 } });
    }
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });

  it('answers 415 for a body of another media type, naming the ones it reads', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const answer = await postImport(ctx, tenantId, headers, 'hello', 'text/plain');
    expect(answer.status).toBe(415);
    expect(answer.body).toMatchObject({ code: 'import.unsupported_format' });
  });

  it('needs users:write as well as ous:write', async () => {
    const { tenantId } = await tenantWithHeaders();
    const headers = await ctx.headersFor(tenantId, ['ous:write', 'ous:read']);
    const answer = await postImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'auth.insufficient_scope' });
  });

  it('returns 404 for an import of another tenant', async () => {
    const a = await tenantWithHeaders();
    const b = await tenantWithHeaders();
    const job = await runImport(ctx, a.tenantId, a.headers, SMALL_LDIF, LDIF);
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${b.tenantId}/imports/${job.id}`, headers: b.headers });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'import.not_found' });
  });
});

describe('conflicts and prune', () => {
  it('fails on an existing OU by default, skips it with skip, and updates it with overwrite', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const failed = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    expect(failed.state).toBe('failed');
    expect(failed.rejected[0].reason).toMatch(/an OU exists at \/Engineering/);
    const skipped = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { on_conflict: 'skip' });
    expect(skipped).toMatchObject({ state: 'succeeded', progress: { ous: { skipped: 2, created: 0 }, users: { skipped: 2, created: 0 } } });
    const changed = SMALL_LDIF.replace('description: Builds things', 'description: Builds more').replace('cn: Ada Lovelace', 'cn: Ada King');
    const overwritten = await runImport(ctx, tenantId, headers, changed, LDIF, { on_conflict: 'overwrite' });
    expect(overwritten).toMatchObject({ state: 'succeeded', progress: { ous: { updated: 1, skipped: 1 }, users: { updated: 1, skipped: 1 } } });
    const users = await usersByEmail(ctx, tenantId);
    expect(users.get('ada@example.com').display_name).toBe('Ada King');
    const events = (await eventsOf(tenantId, headers)).filter((e) => e.correlation_id === overwritten.id);
    expect(events.map((e) => e.type).sort()).toEqual(['ou.updated', 'user.updated']);
  });

  it('places a new OU under an existing one that the file names in another case, at the path the parent has', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const child = ['dn: ou=Frontend,ou=ENGINEERING,dc=example,dc=com', 'objectClass: organizationalUnit', 'ou: Frontend', ''].join('\n');
    const job = await runImport(ctx, tenantId, headers, child, LDIF, { base_dn: 'dc=example,dc=com' });
    expect(job).toMatchObject({ state: 'succeeded', progress: { ous: { created: 1 } } });
    const ous = await ousByPath(ctx, tenantId);
    expect([...ous.keys()].sort()).toEqual(['/Engineering', '/Engineering/Backend', '/Engineering/Frontend']);
    expect(ous.get('/Engineering/Frontend')?.parent_id).toBe(ous.get('/Engineering')?.id);
    expect(await findInvariantViolations(ctx.store.db, tenantId, ctx.config.maxOuDepth)).toEqual([]);
  });

  it('matches a user by external_id before email, so a changed email updates the same user', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const before = (await usersByEmail(ctx, tenantId)).get('ada@example.com');
    const renamed = SMALL_LDIF.replace('mail: ada@example.com', 'mail: ada.king@example.com');
    const job = await runImport(ctx, tenantId, headers, renamed, LDIF, { on_conflict: 'overwrite' });
    expect(job.state).toBe('succeeded');
    const after = await usersByEmail(ctx, tenantId);
    expect(after.get('ada.king@example.com')?.id).toBe(before.id);
    expect(after.has('ada@example.com')).toBe(false);
  });

  it('moves a matched user to the OU the file names, keeping the counts right', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const moved = SMALL_LDIF.replace('dn: uid=ada,ou=Backend,ou=Engineering,dc=example,dc=com', 'dn: uid=ada,ou=Engineering,dc=example,dc=com');
    const job = await runImport(ctx, tenantId, headers, moved, LDIF, { on_conflict: 'overwrite' });
    expect(job).toMatchObject({ state: 'succeeded', progress: { users: { updated: 1 } } });
    const ous = await ousByPath(ctx, tenantId);
    expect(ous.get('/Engineering').user_count).toBe(1);
    expect(ous.get('/Engineering/Backend').user_count).toBe(0);
    expect(await findInvariantViolations(ctx.store.db, tenantId, ctx.config.maxOuDepth)).toEqual([]);
  });

  it('never deletes without prune, and with prune deletes what the file lacks, up to max_deletes', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const extra = await createOu(ctx, tenantId, { name: 'Extra' });
    await createUser(ctx, tenantId, { email: 'extra@example.com', ou_id: extra.id });
    const kept = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { on_conflict: 'skip' });
    expect(kept.progress.ous.deleted + kept.progress.users.deleted).toBe(0);
    expect((await snapshot(tenantId)).ous).toContain('/Extra');
    const tooMany = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { on_conflict: 'skip', prune: true, max_deletes: 1 });
    expect(tooMany.state).toBe('failed');
    expect(tooMany.error).toMatch(/prune would delete 2 entries \(1 users, 1 OUs\), more than max_deletes=1/);
    expect((await snapshot(tenantId)).ous).toContain('/Extra');
    const pruned = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { on_conflict: 'skip', prune: true, max_deletes: 2 });
    expect(pruned).toMatchObject({ state: 'succeeded', progress: { ous: { deleted: 1 }, users: { deleted: 1 } } });
    expect(await snapshot(tenantId)).toEqual({
      ous: ['/Engineering', '/Engineering/Backend'],
      users: ['ada@example.com /Engineering/Backend', 'root@example.com -'],
    });
    expect(await findInvariantViolations(ctx.store.db, tenantId, ctx.config.maxOuDepth)).toEqual([]);
  });
});

describe('a file of several MiB (on SQLite, users_ou_ix built after its rows)', () => {
  // 4.35 MB: past the 4 MiB from which an import into a smaller store defers the indexes.
  const big = (prefix: string) => {
    const ous = Array.from({ length: 20 }, (_, i) => `dn: ou=Unit ${i},dc=example,dc=com\nobjectClass: organizationalUnit\nou: Unit ${i}\n\n`).join('');
    const users = Array.from(
      { length: 16_000 },
      (_, i) =>
        `dn: uid=${prefix}${i},ou=Unit ${i % 20},dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: ${prefix}${i}\ncn: User Number ${i}\nsn: Number ${i}\n` +
        `mail: ${prefix}${i}@example.com\nentryUUID: 7a1c0000-0000-4000-8000-${String(i).padStart(12, '0')}\ndescription: padding to a realistic entry size, as a directory export has\n\n`,
    ).join('');
    return `dn: dc=example,dc=com\nobjectClass: dcObject\ndc: example\n\n${ous}${users}`;
  };
  // A store of its own: whether an import defers depends on how many users the store holds
  // (fewer than the ~22,800 entries 4.35 MB may hold), so other tests' users must not count.
  // Ordered so that each import here meets fewer: the rolled-back ones first, then 16,000 each.
  let own: TestContext;
  beforeAll(async () => {
    own = await createTestContext();
  });
  afterAll(async () => {
    await own.close();
  });
  const tenant = async () => {
    const created = await createTenant(own);
    return { tenantId: created.id, headers: await own.headersFor(created.id) };
  };
  const indexes = async () =>
    own.store.dialect === 'sqlite'
      ? (await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'index' order by name`.execute(own.store.db)).rows
      : (await sql<{ name: string; sql: string }>`select indexname as name, indexdef as sql from pg_indexes where schemaname = current_schema() order by indexname`.execute(own.store.db)).rows;
  const usersIn = async (tenantId: string, ouId: string) => {
    const response = await own.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous/${ouId}/users?per_page=1`, headers: own.platformHeaders });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().pagination.total_items;
  };
  /** Spies on the deferral (SQLite) and the heap policy; `check` asserts each happened once, or never. */
  const watch = () => {
    const deferred = own.store.deferIndexes ? vi.spyOn(own.store, 'deferIndexes') : null;
    const releases = vi.fn();
    const hold = vi.spyOn(heapPolicy, 'hold').mockImplementation(() => releases);
    return (times: 0 | 1) => {
      if (deferred) expect(deferred.mock.calls.map((call) => call[1])).toEqual(times ? [['users_ou_ix']] : []);
      // The heap was held tighter while it applied, and let go once.
      expect([hold.mock.calls.length, releases.mock.calls.length]).toEqual([times, times]);
    };
  };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('changes nothing in a dry run or a failed atomic import, indexes included', async () => {
    const before = await indexes();
    const { tenantId, headers } = await tenant();
    let check = watch();
    const dry = await runImport(own, tenantId, headers, big('dry'), LDIF, { dry_run: true });
    expect(dry).toMatchObject({ state: 'succeeded', progress: { users: { created: 16_000 } } });
    check(1);
    vi.restoreAllMocks();
    check = watch();
    const broken = `${big('broken')}dn: uid=orphan,ou=Nowhere,dc=example,dc=com\nobjectClass: inetOrgPerson\nmail: orphan@example.com\n\n`;
    const failed = await runImport(own, tenantId, headers, broken, LDIF);
    expect(failed.state).toBe('failed');
    check(1);
    expect(await indexes()).toEqual(before);
    expect((await ousByPath(own, tenantId)).size).toBe(0);
    expect((await usersByEmail(own, tenantId)).size).toBe(0);
  });

  it('keeps the indexes and the heap as they are for a small file', async () => {
    const check = watch();
    const { tenantId, headers } = await tenant();
    expect(await runImport(own, tenantId, headers, SMALL_LDIF, LDIF)).toMatchObject({ state: 'succeeded' });
    check(0);
  });

  it('lands every row and builds the deferred index again before it commits', async () => {
    const before = await indexes();
    const check = watch();
    const { tenantId, headers } = await tenant();
    const job = await runImport(own, tenantId, headers, big('plain'), LDIF);
    expect(job).toMatchObject({ state: 'succeeded', progress: { ous: { created: 20 }, users: { created: 16_000 } } });
    check(1);
    expect(await indexes()).toEqual(before);
    const unit3 = (await ousByPath(own, tenantId)).get('/Unit 3');
    expect(await usersIn(tenantId, unit3.id)).toBe(800);
  });

  it('prunes with the index built, keeping counts, events and every index as they were', async () => {
    const file = big('big');
    expect(file.length).toBeGreaterThan(4 * 1024 * 1024);
    const before = await indexes();
    const { tenantId, headers } = await tenant();
    const stale = await createOu(own, tenantId, { name: 'Stale' });
    await createUser(own, tenantId, { email: 'stale@example.com', ou_id: stale.id });
    const check = watch();
    const job = await runImport(own, tenantId, headers, file, LDIF, { prune: true, max_deletes: 2 });
    expect(job).toMatchObject({ state: 'succeeded', progress: { ous: { created: 20, deleted: 1 }, users: { created: 16_000, deleted: 1 } } });
    check(1);
    expect(await indexes()).toEqual(before);
    const unit7 = (await ousByPath(own, tenantId)).get('/Unit 7');
    expect(unit7).toMatchObject({ user_count: 800 });
    expect(await usersIn(tenantId, unit7.id)).toBe(800);
    const { n } = (await own.store.db.selectFrom('events').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', tenantId).where('correlation_id', '=', job.id).executeTakeFirstOrThrow()) as { n: number | string };
    expect(Number(n)).toBe(16_000 + 20 + 2);
    expect(await findInvariantViolations(own.store.db, tenantId, own.config.maxOuDepth)).toEqual([]);
  });
});

describe('users the file names twice', () => {
  // One test freezes Date; a failure inside it must not leave the clock frozen for the next.
  afterEach(() => {
    vi.useRealTimers();
  });

  const user = (uid: string, mail: string, uuid: string) =>
    `\ndn: uid=${uid},ou=Engineering,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\nmail: ${mail}\nentryUUID: ${uuid}\n`;

  it('rejects a second entry with the email or the external_id of an earlier one', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const twice = `${SMALL_LDIF}${user('ada2', 'ADA@example.com', '0b5c7a8e-1111-4c1a-9a0e-0000000000aa')}${user('bob', 'bob@example.com', '0b5c7a8e-1111-4c1a-9a0e-000000000003')}`;
    const job = await runImport(ctx, tenantId, headers, twice, LDIF, { atomic: false });
    expect(job.rejected.map((r: any) => [r.ref, r.reason])).toEqual([
      ['uid=ada2,ou=Engineering,dc=example,dc=com', "the email 'ADA@example.com' is already in the file"],
      ['uid=bob,ou=Engineering,dc=example,dc=com', "the external_id '0b5c7a8e-1111-4c1a-9a0e-000000000003' is already in the file"],
    ]);
    expect((await snapshot(tenantId)).users).toEqual(['ada@example.com /Engineering/Backend', 'root@example.com -']);
  });

  it('rejects a repeat read back from the store, a batch after the first, and a prune keeps what the import created', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const many = Array.from({ length: 600 }, (_, i) => user(`u${i}`, `u${i}@example.com`, `0b5c7a8e-2222-4c1a-9a0e-${String(i).padStart(12, '0')}`)).join('');
    const file = `${SMALL_LDIF}${many}${user('again', 'u1@example.com', '0b5c7a8e-2222-4c1a-9a0e-999999999999')}`;
    const job = await runImport(ctx, tenantId, headers, file, LDIF, { atomic: false, prune: true, max_deletes: 0 });
    expect(job.rejected.map((r: any) => r.reason)).toEqual(["the email 'u1@example.com' is already in the file"]);
    expect(job).toMatchObject({ state: 'succeeded', progress: { users: { created: 602, deleted: 0 } } });
    expect((await usersByEmail(ctx, tenantId)).size).toBe(602);
  });

  it('takes a user created before the import, in the same millisecond, as existing and not as one of the file', async () => {
    // A user written just before the import, with the very timestamp the import writes, is not
    // one of the import's own.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const { tenantId, headers } = await tenantWithHeaders();
    const early = await createUser(ctx, tenantId, { email: 'ada@example.com' });
    expect(early.created_at).toBe(new Date().toISOString());
    const job = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { atomic: false });
    expect(job.rejected.map((r: any) => r.reason)).toEqual([`a user with this email exists (${early.id}; on_conflict=fail; use skip or overwrite)`]);
    // And a prune at the same millisecond deletes it when the file lacks it.
    const without = SMALL_LDIF.replace(/dn: uid=ada,[^]*?\n\n/, '');
    const pruned = await runImport(ctx, tenantId, headers, without, LDIF, { on_conflict: 'skip', prune: true });
    expect(pruned).toMatchObject({ state: 'succeeded', progress: { users: { deleted: 1 } } });
    expect((await usersByEmail(ctx, tenantId)).has('ada@example.com')).toBe(false);
  });
});

describe('a delegated administrator', () => {
  it('imports within its subtree, and an entry outside it is rejected, changing nothing', async () => {
    const { tenantId } = await tenantWithHeaders();
    const sales = await createOu(ctx, tenantId, { name: 'Sales' });
    const other = await createOu(ctx, tenantId, { name: 'Other' });
    await grantRole(ctx.store, tenantId, 'delegate', 'ou_admin', sales.id);
    const token = await ctx.tokens.sign({ subject: 'delegate', tenantId, scopes: ['ous:read', 'ous:write', 'users:read', 'users:write'] });
    const headers = { authorization: `Bearer ${token}` };
    const inside = await runImport(ctx, tenantId, headers, 'path,description\n/Sales/East,\n', CSV);
    expect(inside).toMatchObject({ state: 'succeeded', progress: { ous: { created: 1 } } });
    const outside = await runImport(ctx, tenantId, headers, 'path,description\n/Sales/North,\n/Other/South,\n/Top,\n', CSV);
    expect(outside.state).toBe('failed');
    expect(outside.rejected.map((r: any) => r.ref).sort()).toEqual(['/Other/South', '/Top']);
    const paths = [...(await ousByPath(ctx, tenantId)).keys()].sort();
    expect(paths).toEqual(['/Other', '/Sales', '/Sales/East']);
    void other;
  });
});

describe('real files', () => {
  it('imports an Active Directory ldifde file: CRLF, changetype add, base64 values, objectGUID, folded lines', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const file = readFileSync(new URL('../fixtures/ldap/ad-ldifde.ldif', import.meta.url));
    const job = await runImport(ctx, tenantId, headers, file, LDIF);
    expect(job.rejected).toEqual([]);
    expect(job.state).toBe('succeeded');
    expect(job.options.base_dn?.toLowerCase()).toBe('dc=corp,dc=example,dc=com');
    const users = await usersByEmail(ctx, tenantId);
    for (const user of users.values()) expect(user.external_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect([...users.values()].some((u) => u.display_name === 'José Müller')).toBe(true);
  });
});

describe('GET /api/v1/tenants/{tenant_id}/export', () => {
  async function exported(tenantId: string, headers: Record<string, string>, query: string) {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/export?${query}`, headers });
    expect(response.statusCode, response.body).toBe(200);
    return response;
  }

  it('exports JSON that imports back into another tenant as the same tree', async () => {
    const a = await tenantWithHeaders();
    await runImport(ctx, a.tenantId, a.headers, SMALL_LDIF, LDIF);
    const response = await exported(a.tenantId, a.headers, 'format=json');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json();
    expect(body.seq).toBe(Number(response.headers['x-arbor-event-seq']));
    expect(body.ous.map((o: any) => o.path)).toEqual(['/Engineering', '/Engineering/Backend']);
    const b = await tenantWithHeaders();
    const job = await runImport(ctx, b.tenantId, b.headers, response.body, JSON_TYPE);
    expect(job.state).toBe('succeeded');
    expect(await snapshot(b.tenantId)).toEqual(await snapshot(a.tenantId));
  });

  it('exports LDIF under base_dn with the base entry, users named as they were imported', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const response = await exported(tenantId, headers, 'format=ldif&base_dn=dc%3Dexample%2Cdc%3Dcom');
    const text = response.body;
    expect(text).toMatch(/^# Arbor export of tenant .* at event seq \d+\n\ndn: dc=example,dc=com\n/);
    expect(text).toContain('dn: ou=Backend,ou=Engineering,dc=example,dc=com\n');
    expect(text).toContain('dn: uid=ada,ou=Backend,ou=Engineering,dc=example,dc=com\n');
    expect(text).toContain('dn: uid=root,dc=example,dc=com\n');
    const reimported = await tenantWithHeaders();
    const job = await runImport(ctx, reimported.tenantId, reimported.headers, text, LDIF);
    expect(job.state).toBe('succeeded');
    expect(await snapshot(reimported.tenantId)).toEqual(await snapshot(tenantId));
  });

  it('exports users as Google Workspace CSV and OUs as path,description', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const users = (await exported(tenantId, headers, 'format=csv')).body.split('\r\n');
    expect(users[0]).toBe('First Name [Required],Last Name [Required],Email Address [Required],Org Unit Path [Required],Status [READ ONLY],external_id');
    expect(users).toContain(',Lovelace,ada@example.com,/Engineering/Backend,Active,0b5c7a8e-1111-4c1a-9a0e-000000000003');
    const ous = (await exported(tenantId, headers, 'format=csv&kind=ous')).body;
    expect(ous).toBe('path,description,external_id\r\n/Engineering,Builds things,0b5c7a8e-1111-4c1a-9a0e-000000000001\r\n/Engineering/Backend,,0b5c7a8e-1111-4c1a-9a0e-000000000002\r\n');
  });

  it('gives a delegated administrator its subtrees only', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF);
    const backend = (await ousByPath(ctx, tenantId)).get('/Engineering/Backend');
    await grantRole(ctx.store, tenantId, 'backend-admin', 'ou_admin', backend.id);
    const token = await ctx.tokens.sign({ subject: 'backend-admin', tenantId, scopes: ['ous:read', 'users:read'] });
    const body = (await exported(tenantId, { authorization: `Bearer ${token}` }, 'format=json')).json();
    expect(body.ous.map((o: any) => o.path)).toEqual(['/Engineering/Backend']);
    expect(body.users.map((u: any) => u.email)).toEqual(['ada@example.com']);
  });

  it('needs users:read as well as ous:read, and returns 404 for an unknown tenant', async () => {
    const { tenantId } = await tenantWithHeaders();
    const headers = await ctx.headersFor(tenantId, ['ous:read']);
    const refused = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/export`, headers });
    expect(refused.statusCode).toBe(403);
    const missing = await ctx.app.inject({ method: 'GET', url: '/api/v1/tenants/tnt_missing/export', headers: ctx.platformHeaders });
    expect(missing.statusCode).toBe(404);
  });
});

describe('base_dn', () => {
  it('answers 422 for a base_dn that is not a DN, on import and on export, changing nothing', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const imported = await postImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { base_dn: '0' });
    expect(imported.status).toBe(422);
    expect(imported.body.detail[0]).toMatchObject({ loc: ['query', 'base_dn'], type: 'value_error' });
    for (const query of ['base_dn=0', 'format=ldif&base_dn=0', 'format=ldif&base_dn=%3D%3D']) {
      const exported = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/export?${query}`, headers });
      expect(exported.statusCode, `${query}: ${exported.body}`).toBe(422);
      expect(exported.json().detail[0].loc).toEqual(['query', 'base_dn']);
    }
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });
});

describe('max_deletes', () => {
  it('answers 422 for a max_deletes too large to be a number (1e309, found by the fuzz), changing nothing', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    for (const value of ['1e309', '2147483648']) {
      const answer = await postImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { max_deletes: value });
      expect(answer.status, JSON.stringify(answer.body)).toBe(422);
      expect(answer.body.detail[0].loc).toEqual(['query', 'max_deletes']);
    }
    expect(await ctx.store.db.selectFrom('import_jobs').select('id').where('tenant_id', '=', tenantId).execute()).toEqual([]);
    expect(await snapshot(tenantId)).toEqual({ ous: [], users: [] });
  });
});

describe('Idempotency-Key', () => {
  it('answers a retried upload with the same key with the same job, and starts no second import', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const send = () =>
      ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/imports`, headers: { ...headers, 'content-type': LDIF, 'idempotency-key': 'upload-1' }, payload: SMALL_LDIF });
    const first = await send();
    expect(first.statusCode, first.body).toBe(202);
    const done = await waitForImport(ctx, tenantId, headers, first.json().data.id);
    expect(done.state).toBe('succeeded');
    const again = await send();
    expect(again.statusCode, again.body).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().data.id).toBe(first.json().data.id);
    expect(again.headers.location).toBe(first.headers.location);
    const jobs = await ctx.store.db.selectFrom('import_jobs').select('id').where('tenant_id', '=', tenantId).execute();
    expect(jobs).toHaveLength(1);
  });
});

describe('a file over ARBOR_IMPORT_MAX_BYTES sent without a Content-Length', () => {
  it('gets its 413 over a real socket, with the job failed and nothing changed', async () => {
    const small = await createTestContext({ importMaxBytes: 64 * 1024 });
    try {
      const tenant = await createTenant(small);
      const headers = await small.headersFor(tenant.id);
      await small.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = small.app.server.address() as { port: number };
      // 1 MB of valid OUs, sent chunked: the limit is found while reading, not from a header.
      const entry = (i: number) => `dn: ou=Unit ${i},dc=example,dc=com\nobjectClass: organizationalUnit\nou: Unit ${i}\n\n`;
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: `/api/v1/tenants/${tenant.id}/imports`, headers: { ...headers, 'content-type': LDIF, 'transfer-encoding': 'chunked' } },
          (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          },
        );
        request.on('error', reject);
        let i = 0;
        const pump = () => {
          while (i < 20_000) {
            if (!request.write(entry(i++))) return void request.once('drain', pump);
          }
          request.end();
        };
        pump();
      });
      expect(answer.status, answer.body).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'request.body_too_large' });
      const jobs = await small.store.db.selectFrom('import_jobs').selectAll().where('tenant_id', '=', tenant.id).execute();
      expect(jobs.map((j) => [j.state, j.error])).toEqual([['failed', 'the file is larger than ARBOR_IMPORT_MAX_BYTES (65536 bytes)']]);
      const ous = await small.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous`, headers });
      expect(ous.json().data).toEqual([]);
    } finally {
      await small.close();
    }
  });
});

describe('a job whose instance stopped', () => {
  it('is shown as failed once its heartbeat is 2 minutes old, and stays so', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const job = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { dry_run: true });
    // As a stopped instance leaves it: running, its heartbeat 3 minutes old, not this instance's.
    const stale = new Date(Date.now() - 180_000).toISOString();
    await ctx.store.db.updateTable('import_jobs').set({ state: 'running', phase: 'applying', finished_at: null, heartbeat_at: stale, owner: 'gone:1:x' }).where('id', '=', job.id).execute();
    const shown = (await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/imports/${job.id}`, headers })).json().data;
    expect(shown).toMatchObject({ state: 'failed', phase: 'done', error: 'the server running the import stopped before it finished; nothing was changed' });
    const row = await ctx.store.db.selectFrom('import_jobs').select(['state', 'heartbeat_at']).where('id', '=', job.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'failed', heartbeat_at: null });
  });

  it('is left running while its heartbeat is recent', async () => {
    const { tenantId, headers } = await tenantWithHeaders();
    const job = await runImport(ctx, tenantId, headers, SMALL_LDIF, LDIF, { dry_run: true });
    await ctx.store.db.updateTable('import_jobs').set({ state: 'running', phase: 'applying', finished_at: null, heartbeat_at: new Date().toISOString(), owner: 'other:1:x' }).where('id', '=', job.id).execute();
    const shown = (await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/imports/${job.id}`, headers })).json().data;
    expect(shown.state).toBe('running');
  });
});

import type { JWTPayload } from 'jose';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, grantRole } from '../helpers/test-app.js';
import { accessClaims, forge, signWithArborKey } from '../helpers/tokens.js';
import type { IdKind, IdRef, Owner } from './arbitraries.js';
import type { AuthPlan, WorldView } from './plans.js';
import type { Resolver } from './wire.js';

/**
 * The data the fuzzer aims at: two seeded tenants (A, the caller's own most of the time, and B,
 * another tenant), each with a small OU tree, users and an API client, plus whatever the generated
 * requests create. Symbolic ids (IdRef) resolve against the store as it is when a request is sent;
 * a tenant the fuzzer deleted is seeded again, so later requests still have something to hit.
 */

const PREFIX: Record<IdKind, string> = { tenant: 'tnt', ou: 'ou', user: 'usr', client: 'cli' };
const OTHER_KIND: Record<IdKind, IdKind> = { tenant: 'ou', ou: 'user', user: 'client', client: 'tenant' };
const ULID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

type Ids = Record<IdKind, Record<Owner, string[]>>;

export interface Credentials {
  id: string;
  secret: string;
}

export class FuzzWorld implements Resolver, WorldView {
  tenantA = '';
  tenantB = '';
  readonly tenantScopes: readonly string[];
  private ids: Ids = emptyIds();
  private dirty = true;
  private readonly tokenCache = new Map<string, string>();
  private readonly creds: Record<'A' | 'B', Credentials | null> = { A: null, B: null };
  private badAuthorizations: string[] = [];
  /** OU trees seeded so far, the two first tenants' included (shown in the run's summary). */
  seedings = 0;
  /**
   * Whether refresh() keeps working client credentials ready (the token endpoint's generators
   * need them). Off elsewhere: a new client costs a deliberately slow secret hash.
   */
  private needsCredentials = false;

  private constructor(
    private readonly ctx: TestContext,
    tenantScopes: readonly string[],
  ) {
    this.tenantScopes = tenantScopes;
  }

  get badAuthorizationCount(): number {
    return this.badAuthorizations.length;
  }

  /** Seeds both tenants and prepares the malformed and forged Authorization headers. */
  static async create(ctx: TestContext): Promise<FuzzWorld> {
    // The scopes a tenant client may hold, as the server advertises them.
    const metadata = (await ctx.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json() as { scopes_supported: string[] };
    const world = new FuzzWorld(ctx, metadata.scopes_supported.filter((s) => s !== 'platform:admin'));
    world.tenantA = await world.seedTenant('A', true);
    world.tenantB = await world.seedTenant('B', true);
    await world.prepareBadAuthorizations();
    await world.refresh();
    return world;
  }

  /** Marks the ids as stale: a request may have created or deleted something. */
  invalidate(): void {
    this.dirty = true;
  }

  /** Turns keeping client credentials ready on or off (see needsCredentials). */
  wantCredentials(wanted: boolean): void {
    this.needsCredentials = wanted;
    this.dirty = true;
  }

  /** Re-reads the ids when stale, seeding again what the fuzzer destroyed. Returns true if it wrote to the store. */
  async refresh(): Promise<boolean> {
    if (!this.dirty) return false;
    let wrote = false;
    const db = this.ctx.store.db;
    const tenants = (await db.selectFrom('tenants').select('id').orderBy('id').execute()).map((r) => r.id);
    for (const owner of ['A', 'B'] as const) {
      const key = owner === 'A' ? 'tenantA' : 'tenantB';
      if (!tenants.includes(this[key])) {
        this[key] = await this.seedTenant(owner, this.needsCredentials);
        tenants.push(this[key]);
        wrote = true;
      }
    }
    const owned = [this.tenantA, this.tenantB];
    const ownerOf = (tenantId: string | null): Owner => (tenantId === this.tenantA ? 'A' : 'B');
    const ids = emptyIds();
    ids.tenant.A = [this.tenantA];
    ids.tenant.B = [this.tenantB];
    ids.tenant.X = tenants.filter((id) => !owned.includes(id));
    for (const row of await db.selectFrom('org_units').select(['tenant_id', 'id']).where('tenant_id', 'in', owned).orderBy('id').execute()) ids.ou[ownerOf(row.tenant_id)].push(row.id);
    for (const row of await db.selectFrom('users').select(['tenant_id', 'id']).where('tenant_id', 'in', owned).orderBy('id').execute()) ids.user[ownerOf(row.tenant_id)].push(row.id);
    for (const row of await db.selectFrom('api_clients').select(['tenant_id', 'id']).where('tenant_id', 'in', owned).orderBy('id').execute()) ids.client[ownerOf(row.tenant_id)].push(row.id);
    for (const owner of ['A', 'B'] as const) {
      const tenantId = owner === 'A' ? this.tenantA : this.tenantB;
      // A tree to aim at: generated deletes (CASCADE, MOVE_UP) may have emptied it.
      if (ids.ou[owner].length < 3) {
        const made = await this.seedTree(tenantId);
        ids.ou[owner].push(...made.ous);
        ids.user[owner].push(...made.users);
        wrote = true;
      }
      const creds = this.creds[owner];
      if (this.needsCredentials && (!creds || !ids.client[owner].includes(creds.id))) {
        this.creds[owner] = await this.createClient(tenantId);
        ids.client[owner].push(this.creds[owner]!.id);
        wrote = true;
      }
    }
    this.ids = ids;
    this.dirty = false;
    return wrote;
  }

  resolveId(ref: IdRef): string {
    const exact = (kind: IdKind) => {
      const list = this.ids[kind][ref.owner];
      return list.length > 0 ? list[ref.n % list.length] : missingId(kind, ref.n);
    };
    switch (ref.twist) {
      case 'exact':
        return exact(ref.kind);
      case 'missing':
        return missingId(ref.kind, ref.n);
      case 'other-kind':
        return exact(OTHER_KIND[ref.kind]);
      case 'upper':
        return exact(ref.kind).toUpperCase();
      case 'padded':
        return ` ${exact(ref.kind)} `;
      case 'truncated':
        return exact(ref.kind).slice(0, -1);
      case 'suffixed':
        return `${exact(ref.kind)}0`;
    }
  }

  async authorization(auth: AuthPlan): Promise<string | undefined> {
    switch (auth.kind) {
      case 'none':
        return undefined;
      case 'platform':
        return `Bearer ${this.ctx.platformToken}`;
      case 'bad':
        return this.badAuthorizations[auth.n % this.badAuthorizations.length];
      case 'tenant': {
        const tenantId = auth.owner === 'A' ? this.tenantA : auth.owner === 'B' ? this.tenantB : 'tnt_00000000000000000000000000';
        const scopes = auth.scopes === 'all' ? [...this.tenantScopes] : auth.scopes;
        const key = `${tenantId} ${scopes.join(' ')}`;
        let token = this.tokenCache.get(key);
        if (!token) {
          token = await this.ctx.tokens.sign({ subject: `fuzz-${auth.owner}`, tenantId, scopes });
          this.tokenCache.set(key, token);
        }
        return `Bearer ${token}`;
      }
    }
  }

  credentials(owner: 'A' | 'B'): Credentials {
    const creds = this.creds[owner];
    if (!creds) throw new Error('no credentials: set needsCredentials before refresh()');
    return creds;
  }

  /** A tenant with a tree, users and (when `withClient`) an API client whose credentials are kept. */
  private async seedTenant(owner: 'A' | 'B', withClient: boolean): Promise<string> {
    const tenant = await createTenant(this.ctx, { name: `Fuzz tenant ${owner} ${this.seedings + 1}` });
    await this.seedTree(tenant.id);
    // Rights come from role assignments: each tenant's fuzz principal is its administrator.
    await grantRole(this.ctx.store, tenant.id, `fuzz-${owner}`, 'tenant_admin', null);
    this.creds[owner] = withClient ? await this.createClient(tenant.id) : null;
    return tenant.id;
  }

  /**
   * /Root ├ /Root/Child │ └ /Root/Child/Leaf └ /Root/Other, and /Second; users in most of them,
   * one in no OU, one disabled. Names carry a counter: a tree seeded again never collides.
   */
  private async seedTree(tenantId: string): Promise<{ ous: string[]; users: string[] }> {
    const n = ++this.seedings;
    const root = await createOu(this.ctx, tenantId, { name: `Root ${n}`, description: 'seeded', custom_attributes: { cost_center: n } });
    const child = await createOu(this.ctx, tenantId, { name: `Child ${n}`, parent_id: root.id });
    const leaf = await createOu(this.ctx, tenantId, { name: `Leaf ${n} \u{1F333}`, parent_id: child.id });
    const other = await createOu(this.ctx, tenantId, { name: `Other ${n}`, parent_id: root.id });
    const second = await createOu(this.ctx, tenantId, { name: `Second ${n}` });
    const users = [
      await createUser(this.ctx, tenantId, { ou_id: root.id, display_name: 'R\u00f6ot User' }),
      await createUser(this.ctx, tenantId, { ou_id: child.id }),
      await createUser(this.ctx, tenantId, { ou_id: leaf.id }),
      await createUser(this.ctx, tenantId, { ou_id: second.id, status: 'disabled' }),
      await createUser(this.ctx, tenantId),
    ];
    return { ous: [root.id, child.id, leaf.id, other.id, second.id], users: users.map((u) => u.id) };
  }

  private async createClient(tenantId: string): Promise<Credentials> {
    const response = await this.ctx.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenantId}/clients`,
      headers: this.ctx.platformHeaders,
      payload: { name: 'fuzz client', scopes: [...this.tenantScopes] },
    });
    if (response.statusCode !== 201) throw new Error(`seeding a client: ${response.statusCode} ${response.body}`);
    const data = response.json().data as { id: string; client_secret: string };
    return { id: data.id, secret: data.client_secret };
  }

  /** Authorization headers that must never let a request through, and a few odd spellings of good ones. */
  private async prepareBadAuthorizations(): Promise<void> {
    const ctx = this.ctx;
    const good = await ctx.tokens.sign({ subject: 'fuzz-A', tenantId: this.tenantA, scopes: [...this.tenantScopes] });
    const claims = accessClaims(ctx, { tenantId: this.tenantA, scopes: [...this.tenantScopes] });
    const { tenant_id: _tenant, ...claimsWithoutTenant } = claims as JWTPayload & { tenant_id?: string };
    this.badAuthorizations = [
      'Bearer',
      'Bearer ',
      'Bearer  ',
      'bearer',
      'Basic dXNlcjpwYXNz',
      'Token abc',
      'Bearer a.b.c',
      'Bearer abc',
      'Bearer eyJhbGciOiJub25lIn0.e30.',
      `Bearer ${'a'.repeat(10_000)}`,
      `Bearer ${good} `,
      `Bearer ${good}x`,
      `Bearer ${good.slice(0, -1)}`,
      `Bearer ${good},${good}`,
      `Bearer\t${good}`,
      `bearer ${good}`,
      `BEARER   ${good}`,
      'Bearer \u0000',
      'Bearer \u00e9',
      `Bearer ${await forge.expired(ctx, claims)}`,
      `Bearer ${await forge.notYetValid(ctx, claims)}`,
      `Bearer ${await forge.alteredSignature(ctx, claims)}`,
      `Bearer ${await forge.foreignKeySameKid(ctx, claims)}`,
      `Bearer ${await forge.algNone(ctx, claims)}`,
      `Bearer ${await forge.strippedSignature(ctx, claims)}`,
      `Bearer ${await forge.hs256WithPublicKey(ctx, claims, 'jwk-json')}`,
      `Bearer ${await forge.wrongIssuer(ctx, claims)}`,
      `Bearer ${await forge.wrongAudience(ctx, claims)}`,
      `Bearer ${await signWithArborKey(ctx, claimsWithoutTenant)}`,
      `Bearer ${await signWithArborKey(ctx, { ...claims, tenant_id: '' })}`,
      `Bearer ${await signWithArborKey(ctx, { ...claims, tenant_id: 42 })}`,
      `Bearer ${await signWithArborKey(ctx, { ...claims, scope: ['ous:read', 7, null] })}`,
      `Bearer ${await signWithArborKey(ctx, { ...claims, scope: 'platform:admin', tenant_id: undefined })}`,
      `Bearer ${await signWithArborKey(ctx, { ...claims, sub: undefined })}`,
      `Bearer ${await signWithArborKey(ctx, claims, { kid: 'unknown-kid' })}`,
      `Bearer ${await signWithArborKey(ctx, claims, { typ: 'JWT' })}`,
    ];
  }
}

function emptyIds(): Ids {
  const owners = (): Record<Owner, string[]> => ({ A: [], B: [], X: [] });
  return { tenant: owners(), ou: owners(), user: owners(), client: owners() };
}

/** A well-formed id of `kind` that no row has (ids are random: all-zero time and randomness never occur). */
function missingId(kind: IdKind, n: number): string {
  let tail = '';
  for (let i = 0, v = n; i < 6; i++, v = Math.floor(v / 32)) tail = ULID_ALPHABET[v % 32] + tail;
  return `${PREFIX[kind]}_${'0'.repeat(20)}${tail}`;
}

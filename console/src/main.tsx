import { listTenants } from '@arbor/sdk';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Alert, SearchField, useSearch } from './common';
import { type ProviderSettings, type Session, SignInError, finishProviderSignIn, isProviderAnswer, problemOf, readProviderSettings } from './session';
import { ExpiryBanner, SignIn } from './sign-in';
import { Workspace } from './workspace';
import './styles.css';

interface Tenant {
  id: string;
  name: string;
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  /** undefined while /console/config.json is read; null: no identity provider to offer. */
  const [provider, setProvider] = useState<ProviderSettings | null | undefined>(undefined);
  const [problem, setProblem] = useState<string | null>(null);
  const [finishing, setFinishing] = useState(false);

  useEffect(() => {
    void (async () => {
      const settings = await readProviderSettings();
      // Back from the identity provider with a code: exchange it before showing anything.
      if (settings !== null && isProviderAnswer()) {
        setFinishing(true);
        try {
          setSession(await finishProviderSignIn(settings));
        } catch (caught) {
          setProblem(caught instanceof SignInError ? caught.message : 'Signing in through the identity provider failed.');
        } finally {
          setFinishing(false);
        }
      }
      setProvider(settings);
    })();
  }, []);

  if (provider === undefined || finishing) return <p aria-busy="true">{finishing ? 'Signing in…' : 'Loading…'}</p>;
  if (session === null) return <SignIn onSignedIn={setSession} provider={provider} problem={problem} />;
  return (
    <>
      <ExpiryBanner session={session} provider={provider} onRenew={setSession} />
      <TenantChoice session={session} onSignOut={() => setSession(null)} />
    </>
  );
}

/** Tenants read at once; a platform with more is searched instead (the API's `search`). */
const LISTED = 100;
/** Matches a tenant search shows; the rest are counted, and typing more narrows them. */
const MATCHES = 20;

/**
 * A platform token sees every tenant and picks one: from a list when there are up to LISTED,
 * else by searching their names and slugs. A tenant's token sees its own only.
 */
function TenantChoice({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  const [tenants, setTenants] = useState<Tenant[] | null>(null);
  /** More tenants than the list holds: they are searched. */
  const [many, setMany] = useState(false);
  const [tenant, setTenant] = useState<Tenant | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    void (async () => {
      const { data, error: problem, response } = await listTenants({ client: session.arbor.client, query: { per_page: LISTED } });
      // A tenant's client without tenants:read (a delegated administrator's, typically) still
      // knows its tenant: the one its token names.
      if (data === undefined && response?.status === 403 && session.tenantId !== undefined) {
        const own = { id: session.tenantId, name: session.tenantId };
        setTenants([own]);
        setTenant(own);
        return;
      }
      if (data === undefined) return setError(problemOf(problem, response));
      setTenants(data.data);
      setMany(data.pagination.total_items > data.data.length);
      if (data.pagination.total_items === 1) setTenant(data.data[0]);
    })();
  }, [session.clientId]);

  const choosing = tenants !== null && (many || tenants.length > 1);
  return (
    <div class="app">
      <header class="top">
        <span class="brand">Arbor</span>
        {choosing && !many && (
          <label class="tenant-picker">
            Tenant
            <select
              value={tenant?.id ?? ''}
              onChange={(event) => setTenant(tenants.find((candidate) => candidate.id === (event.currentTarget as HTMLSelectElement).value) ?? null)}
            >
              <option value="">Choose a tenant…</option>
              {tenants.map((candidate) => (
                <option key={candidate.id} value={candidate.id}>
                  {candidate.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {choosing && many && <FindTenant session={session} chosen={tenant} onChoose={setTenant} />}
        {tenant !== null && !choosing && <span class="tenant-name">{tenant.name}</span>}
        <span class="who">{session.clientId}</span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <Alert message={error} />
      {tenants !== null && tenants.length === 0 && <p class="empty">This client sees no tenant. A platform admin creates one with POST /api/v1/tenants.</p>}
      {tenant === null && choosing && <p class="empty">{many ? 'Find a tenant above by its name or slug.' : 'Choose a tenant above.'}</p>}
      {tenant !== null && <Workspace key={tenant.id} session={session} tenantId={tenant.id} tenantName={tenant.name} />}
    </div>
  );
}

/** The tenant picker of a platform with more than LISTED tenants: their names and slugs searched on the server. */
function FindTenant({ session, chosen, onChoose }: { session: Session; chosen: Tenant | null; onChoose(tenant: Tenant): void }) {
  const [query, setQuery] = useState('');
  const [total, setTotal] = useState(0);
  const search = useSearch<Tenant & { slug: string }>(query, async (text) => {
    const { data, error: problem, response } = await listTenants({ client: session.arbor.client, query: { search: text, per_page: MATCHES } });
    if (data === undefined) return { problem: problemOf(problem, response) };
    setTotal(data.pagination.total_items);
    return { matches: data.data };
  });
  const more = total - search.matches.length;
  return (
    <SearchField<Tenant & { slug: string }>
      label="Tenant"
      name="find_tenant"
      className="tenant-picker find-tenant"
      placeholder={chosen?.name ?? 'Name or slug'}
      listLabel="Matching tenants"
      none="No tenant's name or slug contains this."
      search={search}
      query={query}
      onQuery={setQuery}
      show={(match) => (
        <>
          {match.name} <span class="slug">{match.slug}</span>
        </>
      )}
      onChoose={onChoose}
      footer={more > 0 && <li class="empty">{more} more tenants match: type more of the name or slug.</li>}
    >
      {chosen !== null && <span class="tenant-name">{chosen.name}</span>}
    </SearchField>
  );
}

render(<App />, document.getElementById('app')!);

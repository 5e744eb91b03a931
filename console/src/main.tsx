import { listTenants } from '@arbor/sdk';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Alert } from './common';
import { type Session, problemOf } from './session';
import { ExpiryBanner, SignIn } from './sign-in';
import { Workspace } from './workspace';
import './styles.css';

interface Tenant {
  id: string;
  name: string;
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  if (session === null) return <SignIn onSignedIn={setSession} />;
  return (
    <>
      <ExpiryBanner session={session} onRenew={setSession} />
      <TenantChoice session={session} onSignOut={() => setSession(null)} />
    </>
  );
}

/** A platform token sees every tenant and picks one; a tenant's token sees its own only. */
function TenantChoice({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  const [tenants, setTenants] = useState<Tenant[] | null>(null);
  const [tenantId, setTenantId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    void (async () => {
      const { data, error: problem, response } = await listTenants({ client: session.arbor.client, query: { per_page: 100 } });
      // A tenant's client without tenants:read (a delegated administrator's, typically) still
      // knows its tenant: the one its token names.
      if (data === undefined && response?.status === 403 && session.tenantId !== undefined) {
        setTenants([{ id: session.tenantId, name: session.tenantId }]);
        setTenantId(session.tenantId);
        return;
      }
      if (data === undefined) return setError(problemOf(problem, response));
      setTenants(data.data);
      if (data.data.length === 1) setTenantId(data.data[0].id);
    })();
  }, [session.clientId]);

  const tenant = tenants?.find((candidate) => candidate.id === tenantId);
  return (
    <div class="app">
      <header class="top">
        <span class="brand">Arbor</span>
        {tenants !== null && tenants.length > 1 && (
          <label class="tenant-picker">
            Tenant
            <select value={tenantId ?? ''} onChange={(event) => setTenantId((event.currentTarget as HTMLSelectElement).value || null)}>
              <option value="">Choose a tenant…</option>
              {tenants.map((candidate) => (
                <option key={candidate.id} value={candidate.id}>
                  {candidate.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {tenant !== undefined && tenants?.length === 1 && <span class="tenant-name">{tenant.name}</span>}
        <span class="who">{session.clientId}</span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <Alert message={error} />
      {tenants !== null && tenants.length === 0 && <p class="empty">This client sees no tenant. A platform admin creates one with POST /api/v1/tenants.</p>}
      {tenant === undefined && tenants !== null && tenants.length > 1 && <p class="empty">Choose a tenant above.</p>}
      {tenant !== undefined && <Workspace key={tenant.id} session={session} tenantId={tenant.id} tenantName={tenant.name} />}
    </div>
  );
}

render(<App />, document.getElementById('app')!);

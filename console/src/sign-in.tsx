import { useEffect, useState } from 'preact/hooks';
import { Alert } from './common';
import { type Session, SignInError, signIn } from './session';

/** The sign-in form: a client's id and secret, exchanged once for a token kept in memory. */
export function SignIn({ onSignedIn, clientId: knownClientId, note }: { onSignedIn(session: Session): void; clientId?: string; note?: string }) {
  const [clientId, setClientId] = useState(knownClientId ?? '');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(clientId.trim(), secret));
    } catch (caught) {
      setError(caught instanceof SignInError ? caught.message : 'Sign-in failed.');
    } finally {
      setBusy(false);
      setSecret('');
    }
  };

  return (
    <main class="sign-in">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Arbor console</h1>
        <p class="hint">{note ?? 'Sign in with an API client: the admin client (ARBOR_ADMIN_CLIENT_ID) or a client of a tenant.'}</p>
        <label>
          Client id
          {/* Signing in again is as the same client: another principal would see this one's tree. */}
          <input name="client_id" autoComplete="username" required readOnly={knownClientId !== undefined} value={clientId} onInput={(e) => setClientId((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <label>
          Client secret
          <input name="client_secret" type="password" autoComplete="current-password" required value={secret} onInput={(e) => setSecret((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <Alert message={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">The token stays in this page's memory only: reloading the page signs you out.</p>
      </form>
    </main>
  );
}

/** Minutes and seconds left, for the expiry warning. */
function left(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** Warns WARN_MS before the token lapses, and says so once it has: the console never renews it silently. */
export const WARN_MS = 120_000;

export function ExpiryBanner({ session, onRenew }: { session: Session; onRenew(session: Session): void }) {
  const [now, setNow] = useState(Date.now());
  const [renewing, setRenewing] = useState(false);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const remaining = session.expiresAt - now;
  if (remaining > WARN_MS) return null;
  if (renewing) {
    return (
      <div class="banner warning" role="dialog" aria-label="Sign in again">
        <SignIn
          clientId={session.clientId}
          note="Enter the secret again for a new token; the tree and what you selected stay as they are."
          onSignedIn={(renewed) => {
            setRenewing(false);
            onRenew(renewed);
          }}
        />
      </div>
    );
  }
  return (
    <div class="banner warning" role="alert">
      {remaining > 0 ? `Your session ends in ${left(remaining)}.` : 'Your session has ended: Arbor will refuse requests until you sign in again.'}{' '}
      <button type="button" onClick={() => setRenewing(true)}>
        Sign in again
      </button>
    </div>
  );
}

import { useEffect, useState } from 'preact/hooks';
import { Alert } from './common';
import { type ProviderSettings, type Session, SignInError, signIn, startProviderSignIn } from './session';

interface SignInProps {
  onSignedIn(session: Session): void;
  /** Signing in again: as this client only (another principal would see this one's tree). */
  clientId?: string;
  note?: string;
  /** The identity provider to offer, when the server names one. */
  provider?: ProviderSettings | null;
  /** A problem to show from the start (a provider's sign-in that came back refused). */
  problem?: string | null;
  /** Inside the "Sign in again" dialog: no page landmark or top-level heading of its own. */
  inDialog?: boolean;
}

/**
 * The sign-in form: a client's id and secret, exchanged once for a token kept in memory; and,
 * when the server names an identity provider, a button that signs in through it instead.
 */
export function SignIn({ onSignedIn, clientId: knownClientId, note, provider = null, problem = null, inDialog = false }: SignInProps) {
  const [clientId, setClientId] = useState(knownClientId ?? '');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | null>(problem);
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

  const Title = inDialog ? 'h2' : 'h1';
  const form = (
    <form onSubmit={submit} aria-labelledby="sign-in-title">
      <Title id="sign-in-title">{inDialog ? 'Sign in again' : 'Arbor console'}</Title>
      {provider !== null && knownClientId === undefined && <ProviderButton provider={provider} onProblem={setError} />}
      <p class="hint">{note ?? 'Sign in with an API client: the admin client (ARBOR_ADMIN_CLIENT_ID) or a client of a tenant.'}</p>
      <label>
        Client id
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
  );
  return inDialog ? <div class="sign-in">{form}</div> : <main class="sign-in">{form}</main>;
}

/** "Sign in with <provider>": leaves for the provider's page, which sends the browser back here with a code. */
function ProviderButton({ provider, onProblem }: { provider: ProviderSettings; onProblem(message: string): void }) {
  const [leaving, setLeaving] = useState(false);
  const go = async () => {
    setLeaving(true);
    try {
      await startProviderSignIn(provider);
    } catch (caught) {
      setLeaving(false);
      onProblem(caught instanceof SignInError ? caught.message : 'The identity provider could not be reached.');
    }
  };
  return (
    <>
      <button type="button" class="provider" disabled={leaving} onClick={() => void go()}>
        {leaving ? 'Going to the sign-in page…' : `Sign in with ${new URL(provider.issuer).host}`}
      </button>
      <p class="or">or with an API client</p>
    </>
  );
}

/** Minutes and seconds left, for the expiry warning. */
function left(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** Warns WARN_MS before the token lapses, and says so once it has: the console never renews it silently. */
export const WARN_MS = 120_000;

export function ExpiryBanner({ session, provider, onRenew }: { session: Session; provider: ProviderSettings | null; onRenew(session: Session): void }) {
  const [now, setNow] = useState(Date.now());
  const [renewing, setRenewing] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const remaining = session.expiresAt - now;
  if (remaining > WARN_MS) return null;
  if (renewing) {
    return (
      <div class="banner warning" role="dialog" aria-labelledby="sign-in-title">
        <SignIn
          inDialog
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
  // A provider's sign-in leaves the page: the console starts again once it comes back.
  const again = async () => {
    if (session.via === 'client') return setRenewing(true);
    if (provider === null) return setProblem('The server no longer names an identity provider: reload the page.');
    try {
      await startProviderSignIn(provider);
    } catch (caught) {
      setProblem(caught instanceof SignInError ? caught.message : 'The identity provider could not be reached.');
    }
  };
  return (
    <div class="banner warning" role="alert">
      {remaining > 0 ? `Your session ends in ${left(remaining)}.` : 'Your session has ended: Arbor will refuse requests until you sign in again.'}{' '}
      {session.via === 'provider' && 'Signing in again goes through the identity provider and reloads the console. '}
      <button type="button" onClick={() => void again()}>
        Sign in again
      </button>
      {problem !== null && <span class="error"> {problem}</span>}
    </div>
  );
}

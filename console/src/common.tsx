import { type OuListItem, listOus } from '@arbor/sdk';
import { useEffect, useState } from 'preact/hooks';
import { type Session, problemOf } from './session';

/** An error message, announced to screen readers when it appears; nothing when there is none. */
export function Alert({ message }: { message: string | null }) {
  if (message === null) return null;
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}

/** OUs whose names contain `query` (the API's `search`), 20 at most, read 200 ms after the typing stops. */
export function useOuSearch(session: Session, tenantId: string, query: string): { matches: OuListItem[]; error: string | null; searched: string } {
  const [matches, setMatches] = useState<OuListItem[]>([]);
  /** The query `matches` answer (they lag the typing by the delay and a request). */
  const [searched, setSearched] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (query.trim() === '') {
      setMatches([]);
      return;
    }
    let current = true;
    const timer = setTimeout(async () => {
      const { data, error: problem, response } = await listOus({ client: session.arbor.client, path: { tenant_id: tenantId }, query: { search: query.trim(), per_page: 20 } });
      if (!current) return;
      if (data === undefined) return setError(problemOf(problem, response));
      setError(null);
      setMatches(data.data);
      setSearched(query);
    }, 200);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [query]);
  return { matches, error, searched };
}

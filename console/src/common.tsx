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

/** What a search read: its matches, or the problem to show. */
export type SearchAnswer<T> = { matches: T[] } | { problem: string };

/**
 * Matches for `query`, read by `read` 200 ms after the typing stops (an answer to an older query
 * is dropped); none for a blank query.
 */
export function useSearch<T>(query: string, read: (text: string) => Promise<SearchAnswer<T>>): { matches: T[]; error: string | null; searched: string } {
  const [matches, setMatches] = useState<T[]>([]);
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
      const answer = await read(query.trim());
      if (!current) return;
      if ('problem' in answer) return setError(answer.problem);
      setError(null);
      setMatches(answer.matches);
      setSearched(query);
    }, 200);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [query]);
  return { matches, error, searched };
}

/** OUs whose names contain `query` (the API's `search`), 20 at most. */
export function useOuSearch(session: Session, tenantId: string, query: string): { matches: OuListItem[]; error: string | null; searched: string } {
  return useSearch(query, async (text) => {
    const { data, error, response } = await listOus({ client: session.arbor.client, path: { tenant_id: tenantId }, query: { search: text, per_page: 20 } });
    return data === undefined ? { problem: problemOf(error, response) } : { matches: data.data };
  });
}

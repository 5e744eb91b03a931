import { type OuListItem, listOus } from '@arbor/sdk';
import type { ComponentChildren } from 'preact';
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

interface SearchFieldProps<T extends { id: string }> {
  /** The field's label, and the search landmark's class. */
  label: string;
  name: string;
  className: string;
  placeholder: string;
  /** The list of matches' accessible name, e.g. "Matching OUs". */
  listLabel: string;
  /** What the list says when nothing matches. */
  none: string;
  search: { matches: T[]; error: string | null; searched: string };
  query: string;
  onQuery(query: string): void;
  /** A match as its button shows it. */
  show(match: T): ComponentChildren;
  onChoose(match: T): void;
  /** A last line under the matches (e.g. how many more there are), once they answer the query. */
  footer?: ComponentChildren;
  /** Beside the field (e.g. what is chosen). */
  children?: ComponentChildren;
}

/** A search field and its matches, each a button that chooses it and clears the field. */
export function SearchField<T extends { id: string }>({ label, name, className, placeholder, listLabel, none, search, query, onQuery, show, onChoose, footer, children }: SearchFieldProps<T>) {
  const { matches, error, searched } = search;
  return (
    <div class={className} role="search">
      <label>
        {label}
        <input name={name} type="search" autoComplete="off" placeholder={placeholder} value={query} onInput={(e) => onQuery((e.currentTarget as HTMLInputElement).value)} />
      </label>
      {children}
      <Alert message={error} />
      {query.trim() !== '' && (
        <ul class="picker matches" aria-label={listLabel}>
          {matches.length === 0 && searched === query && <li class="empty">{none}</li>}
          {matches.map((match) => (
            <li key={match.id}>
              <button
                type="button"
                onClick={() => {
                  onQuery('');
                  onChoose(match);
                }}
              >
                {show(match)}
              </button>
            </li>
          ))}
          {searched === query && footer}
        </ul>
      )}
    </div>
  );
}

import { useState } from 'preact/hooks';
import { Alert, useOuSearch } from './common';
import type { Session } from './session';

/**
 * Search above the tree: OUs whose names contain what is typed, each shown with its full path
 * (Keycloak showed the parent instead of the match, #9435); choosing one opens the tree down to
 * it and selects it.
 */
export function FindOu({ session, tenantId, onChoose }: { session: Session; tenantId: string; onChoose(id: string): void }) {
  const [query, setQuery] = useState('');
  const { matches, error, searched } = useOuSearch(session, tenantId, query);
  return (
    <div class="find-ou" role="search">
      <label>
        Find an OU
        <input name="find_ou" type="search" autoComplete="off" placeholder="Part of a name" value={query} onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <Alert message={error} />
      {query.trim() !== '' && (
        <ul class="picker matches" aria-label="Matching OUs">
          {matches.length === 0 && searched === query && <li class="empty">No OU's name contains this.</li>}
          {matches.map((match) => (
            <li key={match.id}>
              <button
                type="button"
                onClick={() => {
                  setQuery('');
                  onChoose(match.id);
                }}
              >
                {match.path}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

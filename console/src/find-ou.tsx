import { useState } from 'preact/hooks';
import { SearchField, useOuSearch } from './common';
import type { Session } from './session';

/**
 * Search above the tree: OUs whose names contain what is typed, each shown with its full path
 * (Keycloak showed the parent instead of the match, #9435); choosing one opens the tree down to
 * it and selects it.
 */
export function FindOu({ session, tenantId, onChoose }: { session: Session; tenantId: string; onChoose(id: string): void }) {
  const [query, setQuery] = useState('');
  const search = useOuSearch(session, tenantId, query);
  return (
    <SearchField
      label="Find an OU"
      name="find_ou"
      className="find-ou"
      placeholder="Part of a name"
      listLabel="Matching OUs"
      none="No OU's name contains this."
      search={search}
      query={query}
      onQuery={setQuery}
      show={(match) => match.path}
      onChoose={(match) => onChoose(match.id)}
    />
  );
}

import { type OuListItem, deleteOu, updateOu } from '@arbor/sdk';
import { useState } from 'preact/hooks';
import { Alert, useOuSearch } from './common';
import { type Session, problemOf } from './session';

interface Target {
  id: string;
  name: string;
  path: string;
  parent_id?: string | null;
}

interface ActionProps {
  session: Session;
  tenantId: string;
  ou: Target;
  etag: string | null;
}

/**
 * "Move to…": a searchable picker of OUs by name, each shown with its full path, and the top
 * level. The move is a PATCH of parent_id with If-Match: the OU keeps its id, its users and its
 * subtree (Keycloak once recreated a group moved to the top and lost its members, #20615).
 */
export function MoveTo({ session, tenantId, ou, etag, onMoved }: ActionProps & { onMoved(newParent: string | null): void }) {
  const [query, setQuery] = useState('');
  const { matches: found, error: searchError } = useOuSearch(session, tenantId, query);
  // Not itself, nor anything below it: the API would refuse those (ou.cycle).
  const matches = found.filter((match) => match.id !== ou.id && !match.path.startsWith(`${ou.path}/`));
  const [moveError, setError] = useState<string | null>(null);
  const error = moveError ?? searchError;

  const move = async (parent: OuListItem | null) => {
    const { data, error: problem, response } = await updateOu({
      client: session.arbor.client,
      path: { tenant_id: tenantId, ou_id: ou.id },
      body: { parent_id: parent === null ? null : parent.id },
      headers: etag === null ? {} : { 'if-match': etag },
    });
    if (data === undefined) {
      setError(response?.status === 412 ? 'Someone else changed this OU after you opened it: reload it, then move it again.' : problemOf(problem, response));
      return;
    }
    setError(null);
    onMoved(parent === null ? null : parent.id);
  };

  return (
    <section class="action" aria-labelledby="move-title">
      <h3 id="move-title">Move to…</h3>
      <label>
        Find the new parent by name
        <input name="move_search" type="search" autoComplete="off" value={query} onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <ul class="picker" aria-label="New parent">
        {ou.parent_id !== null && ou.parent_id !== undefined && (
          <li>
            <button type="button" onClick={() => void move(null)}>
              The top level
            </button>
          </li>
        )}
        {matches.map((match) => (
          <li key={match.id}>
            <button type="button" disabled={match.id === ou.parent_id} onClick={() => void move(match)}>
              {match.path}
            </button>
          </li>
        ))}
      </ul>
      <Alert message={error} />
    </section>
  );
}

const STRATEGIES = {
  BLOCK: 'Only if it is empty (no users, no child OUs)',
  MOVE_UP: 'Move its users and child OUs to its parent',
  CASCADE: 'Delete its child OUs too (their users move to its parent)',
} as const;
type Strategy = keyof typeof STRATEGIES;

interface Outcome {
  ous_deleted: number;
  ous_moved: number;
  users_moved: number;
}

/** What a dry run says a delete would do, in a sentence: "moves 120 users and 14 OUs to /Acme/Sales". */
export function describeOutcome(outcome: Outcome, parentPath: string | null): string {
  const where = parentPath === null ? 'the top level (users are left in no OU)' : parentPath;
  const parts: string[] = [];
  parts.push(`deletes ${outcome.ous_deleted} OU${outcome.ous_deleted === 1 ? '' : 's'}`);
  if (outcome.users_moved > 0 || outcome.ous_moved > 0) {
    const moved = [outcome.users_moved > 0 ? `${outcome.users_moved} user${outcome.users_moved === 1 ? '' : 's'}` : '', outcome.ous_moved > 0 ? `${outcome.ous_moved} OU${outcome.ous_moved === 1 ? '' : 's'}` : '']
      .filter((part) => part !== '')
      .join(' and ');
    parts.push(`moves ${moved} to ${where}`);
  }
  return parts.join(', ');
}

/**
 * Delete: the strategy chosen, then a dry run's numbers shown before the confirm button appears;
 * a CASCADE also asks for the OU's name to be typed. The delete itself sends If-Match, so it
 * deletes the OU as previewed or nothing.
 */
export function DeleteOu({ session, tenantId, ou, etag, onDeleted }: ActionProps & { onDeleted(): void }) {
  const [strategy, setStrategy] = useState<Strategy>('BLOCK');
  const [preview, setPreview] = useState<{ strategy: Strategy; text: string } | null>(null);
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<string | null>(null);
  const parentPath = ou.parent_id === null || ou.parent_id === undefined ? null : ou.path.slice(0, ou.path.lastIndexOf('/'));

  const run = async (dryRun: boolean) => {
    const { data, error: problem, response } = await deleteOu({
      client: session.arbor.client,
      path: { tenant_id: tenantId, ou_id: ou.id },
      query: { strategy, dry_run: dryRun },
      headers: etag === null ? {} : { 'if-match': etag },
    });
    if (response?.ok !== true) {
      setPreview(null);
      setError(response?.status === 412 ? 'Someone else changed this OU after you opened it: reload it, then try again.' : problemOf(problem, response));
      return;
    }
    setError(null);
    if (dryRun) setPreview({ strategy, text: `Deleting ${ou.path} ${describeOutcome((data as unknown as { data: Outcome }).data, parentPath)}.` });
    else onDeleted();
  };

  const confirmable = preview !== null && preview.strategy === strategy && (strategy !== 'CASCADE' || typed === ou.name);
  return (
    <section class="action danger" aria-labelledby="delete-title">
      <h3 id="delete-title">Delete</h3>
      <fieldset>
        <legend>What happens to what it holds</legend>
        {(Object.keys(STRATEGIES) as Strategy[]).map((key) => (
          <label key={key} class="choice">
            <input
              type="radio"
              name="strategy"
              value={key}
              checked={strategy === key}
              onChange={() => {
                setStrategy(key);
                setPreview(null);
              }}
            />{' '}
            {STRATEGIES[key]}
          </label>
        ))}
      </fieldset>
      <button type="button" onClick={() => void run(true)}>
        Preview
      </button>
      {preview !== null && (
        <div class="preview">
          <p role="status">{preview.text}</p>
          {strategy === 'CASCADE' && (
            <label>
              Type <strong>{ou.name}</strong> to confirm
              <input name="confirm_name" autoComplete="off" value={typed} onInput={(e) => setTyped((e.currentTarget as HTMLInputElement).value)} />
            </label>
          )}
          <button type="button" class="destructive" disabled={!confirmable} onClick={() => void run(false)}>
            Delete {ou.name}
          </button>
        </div>
      )}
      <Alert message={error} />
    </section>
  );
}

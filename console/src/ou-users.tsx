import { type OuListItem, type UserResponse, createUser, listOuUsers, listUsers, updateUser } from '@arbor/sdk';
import { useEffect, useState } from 'preact/hooks';
import { Alert, useOuSearch } from './common';
import { type Session, problemOf } from './session';

const PER_PAGE = 25;

interface UsersProps {
  session: Session;
  tenantId: string;
  ou: { id: string; path: string };
  /** Told after users were created or moved: the tree's counts changed. */
  onChanged(): void;
}

/**
 * The users of an OU, paged on the server: its own, or with those of every OU below it
 * (`include_nested`). A search by email looks among the OU's own users (the tenant's user list
 * filtered by `ou_id`; the OU's users listing has no search). Create a user here; edit one; move
 * the selected users to another OU.
 */
export function OuUsers({ session, tenantId, ou, onChanged }: UsersProps) {
  const [nested, setNested] = useState(false);
  const [search, setSearch] = useState('');
  const [page, setPage] = useState(1);
  const [users, setUsers] = useState<UserResponse[]>([]);
  const [total, setTotal] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reads, setReads] = useState(0);
  const client = session.arbor.client;
  const searching = search.trim() !== '';

  useEffect(() => {
    let current = true;
    const timer = setTimeout(async () => {
      const answer = searching
        ? await listUsers({ client, path: { tenant_id: tenantId }, query: { ou_id: ou.id, search: search.trim(), page, per_page: PER_PAGE } })
        : await listOuUsers({ client, path: { tenant_id: tenantId, ou_id: ou.id }, query: { include_nested: nested, page, per_page: PER_PAGE } });
      if (!current) return;
      if (answer.data === undefined) return setError(problemOf(answer.error, answer.response));
      setError(null);
      setUsers(answer.data.data as UserResponse[]);
      setTotal(answer.data.pagination.total_items);
    }, searching ? 200 : 0);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [nested, search, page, reads]);

  const pages = Math.max(1, Math.ceil(total / PER_PAGE));
  const changed = () => {
    setSelected(new Set());
    setEditing(null);
    setReads((n) => n + 1);
    onChanged();
  };

  return (
    <section class="users" aria-labelledby="users-title">
      <h3 id="users-title">Users</h3>
      <div class="users-filters">
        <label class="choice">
          <input type="checkbox" checked={nested} disabled={searching} onChange={(e) => (setNested((e.currentTarget as HTMLInputElement).checked), setPage(1))} /> With the users of every OU below
        </label>
        <label>
          Search this OU's users by email or name
          <input name="user_search" type="search" autoComplete="off" value={search} onInput={(e) => (setSearch((e.currentTarget as HTMLInputElement).value), setPage(1))} />
        </label>
      </div>
      <Alert message={error} />
      <table class="user-table">
        <caption class="visually-hidden">Users of {ou.path}</caption>
        <thead>
          <tr>
            <th scope="col">
              <span class="visually-hidden">Selected</span>
            </th>
            <th scope="col">Email</th>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            {nested && !searching && <th scope="col">OU</th>}
            <th scope="col">
              <span class="visually-hidden">Edit</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) =>
            editing === user.id ? (
              <EditUserRow key={user.id} session={session} tenantId={tenantId} user={user} columns={nested && !searching ? 6 : 5} onDone={changed} onCancel={() => setEditing(null)} />
            ) : (
              <tr key={user.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${user.email}`}
                    checked={selected.has(user.id)}
                    onChange={(e) => {
                      const next = new Set(selected);
                      if ((e.currentTarget as HTMLInputElement).checked) next.add(user.id);
                      else next.delete(user.id);
                      setSelected(next);
                    }}
                  />
                </td>
                <td>{user.email}</td>
                <td>{user.display_name ?? ''}</td>
                <td>{user.status}</td>
                {nested && !searching && <td>{user.ou_id === ou.id ? 'here' : 'below'}</td>}
                <td>
                  <button type="button" class="link" onClick={() => setEditing(user.id)} aria-label={`Edit ${user.email}`}>
                    Edit
                  </button>
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages of users">
        <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
          Previous
        </button>
        <span>
          Page {page} of {pages} · {total} user{total === 1 ? '' : 's'}
        </span>
        <button type="button" disabled={page >= pages} onClick={() => setPage(page + 1)}>
          Next
        </button>
      </nav>
      {selected.size > 0 && <MoveUsers session={session} tenantId={tenantId} userIds={[...selected]} onMoved={changed} />}
      <CreateUser session={session} tenantId={tenantId} ouId={ou.id} onCreated={changed} />
    </section>
  );
}

function EditUserRow({ session, tenantId, user, columns, onDone, onCancel }: { session: Session; tenantId: string; user: UserResponse; columns: number; onDone(): void; onCancel(): void }) {
  const [displayName, setDisplayName] = useState(user.display_name ?? '');
  const [status, setStatus] = useState(user.status ?? 'active');
  const [error, setError] = useState<string | null>(null);
  const save = async (event: Event) => {
    event.preventDefault();
    const { data, error: problem, response } = await updateUser({
      client: session.arbor.client,
      path: { tenant_id: tenantId, user_id: user.id },
      body: { display_name: displayName === '' ? null : displayName, status: status as 'active' | 'disabled' },
    });
    if (data === undefined) return setError(problemOf(problem, response));
    onDone();
  };
  return (
    <tr>
      <td colSpan={columns + 1}>
        <form class="edit-user" onSubmit={save} aria-label={`Edit ${user.email}`}>
          <strong>{user.email}</strong>
          <label>
            Display name
            <input name="display_name" maxLength={255} value={displayName} onInput={(e) => setDisplayName((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <label>
            Status
            <select name="status" value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value as 'active' | 'disabled')}>
              <option value="active">active</option>
              <option value="disabled">disabled</option>
            </select>
          </label>
          <Alert message={error} />
          <button type="submit">Save user</button>{' '}
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </form>
      </td>
    </tr>
  );
}

/** Moves the selected users to an OU found by name: one PATCH of `ou_id` each, with their count shown as it goes. */
function MoveUsers({ session, tenantId, userIds, onMoved }: { session: Session; tenantId: string; userIds: string[]; onMoved(): void }) {
  const [query, setQuery] = useState('');
  const { matches, error: searchError } = useOuSearch(session, tenantId, query);
  const [progress, setProgress] = useState<string | null>(null);
  const [moveError, setError] = useState<string | null>(null);
  const error = moveError ?? searchError;
  const move = async (target: OuListItem) => {
    for (let i = 0; i < userIds.length; i++) {
      setProgress(`Moving ${i + 1} of ${userIds.length} to ${target.path}…`);
      const { data, error: problem, response } = await updateUser({ client: session.arbor.client, path: { tenant_id: tenantId, user_id: userIds[i] }, body: { ou_id: target.id } });
      if (data === undefined) {
        setProgress(null);
        setError(`Moved ${i} of ${userIds.length}; then: ${problemOf(problem, response)}`);
        return;
      }
    }
    setProgress(null);
    onMoved();
  };
  return (
    <section class="action" aria-labelledby="move-users-title">
      <h4 id="move-users-title">
        Move {userIds.length} selected user{userIds.length === 1 ? '' : 's'} to…
      </h4>
      <label>
        Find the OU by name
        <input name="move_users_search" type="search" autoComplete="off" value={query} onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <ul class="picker" aria-label="Move the selected users to">
        {matches.map((match) => (
          <li key={match.id}>
            <button type="button" onClick={() => void move(match)}>
              {match.path}
            </button>
          </li>
        ))}
      </ul>
      {progress !== null && <p role="status">{progress}</p>}
      <Alert message={error} />
    </section>
  );
}

function CreateUser({ session, tenantId, ouId, onCreated }: { session: Session; tenantId: string; ouId: string; onCreated(): void }) {
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const create = async (event: Event) => {
    event.preventDefault();
    const { data, error: problem, response } = await createUser({
      client: session.arbor.client,
      path: { tenant_id: tenantId },
      body: { email, ou_id: ouId, ...(displayName === '' ? {} : { display_name: displayName }) },
    });
    if (data === undefined) return setError(problemOf(problem, response));
    setEmail('');
    setDisplayName('');
    setError(null);
    onCreated();
  };
  return (
    <form class="create-user" onSubmit={create} aria-label="New user in this OU">
      <h4>New user in this OU</h4>
      <label>
        Email
        <input name="email" type="email" required maxLength={320} value={email} onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <label>
        Display name
        <input name="new_display_name" maxLength={255} value={displayName} onInput={(e) => setDisplayName((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <Alert message={error} />
      <button type="submit">Create user</button>
    </form>
  );
}

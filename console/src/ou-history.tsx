import { type EventResponse, listEvents } from '@arbor/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type Session, problemOf } from './session';

/** Events a page: an OU's history is read newest first, a page at a time, by the server. */
const PAGE = 20;

/**
 * An OU's history from the change feed, newest first (`order=desc`, narrowed by `resource_id` on
 * an index), PAGE events at a time; "Older" reads the next page from `next_cursor`. The feed
 * keeps what retention kept, so an old OU's first events may be gone. Users' events are the
 * users' own (resource user), so an OU's history is its edits, renames and moves, not every
 * placement.
 */
export function OuHistory({ session, tenantId, ouId, version }: { session: Session; tenantId: string; ouId: string; version: string }) {
  const [events, setEvents] = useState<EventResponse[] | null>(null);
  /** The cursor of the next (older) page; null once a short page said there is none. */
  const [older, setOlder] = useState<string | null>(null);
  const [reading, setReading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const asked = useRef(0);

  async function read(cursor: string | undefined): Promise<void> {
    const ask = ++asked.current;
    setReading(true);
    const query = { resource_id: ouId, order: 'desc' as const, limit: PAGE, ...(cursor === undefined ? {} : { cursor }) };
    const answer = await listEvents({ client: session.arbor.client, path: { tenant_id: tenantId }, query });
    // An answer for another OU or version (the panel moved on meanwhile) is dropped.
    if (ask !== asked.current) return;
    setReading(false);
    if (answer.data === undefined) return setError(problemOf(answer.error, answer.response));
    const page = answer.data;
    setEvents((shown) => [...(cursor === undefined ? [] : (shown ?? [])), ...page.data]);
    setOlder(page.data.length === PAGE ? page.next_cursor : null);
  }

  useEffect(() => {
    setEvents(null);
    setError(null);
    void read(undefined);
    return () => {
      asked.current++;
    };
  }, [ouId, version]);

  if (error !== null) return <p class="error">{error}</p>;
  if (events === null) return <p aria-busy="true">Reading the history…</p>;
  if (events.length === 0) return <p class="empty">No event: this OU was created before the change feed kept events, or they have expired.</p>;
  return (
    <>
      <ol class="history" aria-label="History, newest first">
        {events.map((event) => (
          <li key={event.id}>
            <time dateTime={event.occurred_at}>{new Date(event.occurred_at).toLocaleString()}</time> <strong>{describe(event)}</strong>{' '}
            <span class="who">by {actorOf(event)}</span>
            <Changes event={event} />
          </li>
        ))}
      </ol>
      {older !== null && (
        <button type="button" disabled={reading} onClick={() => void read(older)}>
          {reading ? 'Reading…' : 'Older'}
        </button>
      )}
    </>
  );
}

function describe(event: EventResponse): string {
  switch (event.type) {
    case 'ou.created':
      return 'Created';
    case 'ou.updated':
      return 'Edited';
    case 'ou.moved':
      return 'Moved or renamed';
    case 'ou.deleted':
      return 'Deleted';
    default:
      return event.type;
  }
}

function actorOf(event: EventResponse): string {
  const { actor } = event;
  if (actor.type === 'system') return 'Arbor';
  return actor.client_id ?? `${actor.type} ${actor.id}`;
}

/** The fields an event changed, before → after. */
function Changes({ event }: { event: EventResponse }) {
  const before = (event.data.before ?? {}) as Record<string, unknown>;
  const after = (event.data.after ?? {}) as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]));
  if (event.type === 'ou.created' || event.type === 'ou.deleted' || fields.length === 0) return null;
  return (
    <ul class="changes">
      {fields.map((field) => (
        <li key={field}>
          {field}: <code>{show(before[field])}</code> → <code>{show(after[field])}</code>
        </li>
      ))}
    </ul>
  );
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

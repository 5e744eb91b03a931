import { type EventResponse, listEvents } from '@arbor/sdk';
import { useEffect, useState } from 'preact/hooks';
import { type Session, problemOf } from './session';

const SHOWN = 20;
/** An OU's own events (created, updated, moved, deleted) are few; the newest this many are kept. */
const MOST_KEPT = 5_000;
/** Requests of a thousand events at most: a history longer than that shows its newest part read. */
const MOST_REQUESTS = 50;

/** The seq a 410 says the kept events start after ("Events up to seq N are past retention"), if it says. */
function expiredUpTo(detail: unknown): number | undefined {
  const match = typeof detail === 'string' ? /up to seq (\d+)/.exec(detail) : null;
  return match === null ? undefined : Number(match[1]);
}

/**
 * An OU's history from the change feed, newest first, SHOWN at a time. The feed is read in seq
 * order (`resource_id` narrows it on an index), so the console reads the OU's events to the head,
 * a thousand a request, and shows them newest first. Users' events are the users' own
 * (resource user), so an OU's history is its renames, edits and moves, not every placement.
 */
export function OuHistory({ session, tenantId, ouId, version }: { session: Session; tenantId: string; ouId: string; version: string }) {
  const [events, setEvents] = useState<EventResponse[] | null>(null);
  const [shown, setShown] = useState(SHOWN);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    void (async () => {
      let read: EventResponse[] = [];
      let cursor: string | undefined;
      let after = 0;
      for (let request = 0; request < MOST_REQUESTS; request++) {
        const query = cursor === undefined ? { resource_id: ouId, limit: 1000, after } : { resource_id: ouId, limit: 1000, cursor };
        const answer = await listEvents({ client: session.arbor.client, path: { tenant_id: tenantId }, query });
        if (!current) return;
        // Events past retention are gone: read from the first one kept.
        const expired: number | undefined = answer.response?.status === 410 && cursor === undefined ? expiredUpTo((answer.error as { detail?: unknown } | undefined)?.detail) : undefined;
        if (expired !== undefined && expired > after) {
          after = expired;
          continue;
        }
        if (answer.data === undefined) return setError(problemOf(answer.error, answer.response));
        read = [...read, ...answer.data.data].slice(-MOST_KEPT);
        if (answer.data.data.length < 1000) break;
        cursor = answer.data.next_cursor;
      }
      setEvents(read.reverse());
    })();
    return () => {
      current = false;
    };
  }, [ouId, version]);

  if (error !== null) return <p class="error">{error}</p>;
  if (events === null) return <p aria-busy="true">Reading the history…</p>;
  if (events.length === 0) return <p class="empty">No event: this OU was created before the change feed kept events, or they have expired.</p>;
  return (
    <>
      <ol class="history" aria-label="History, newest first">
        {events.slice(0, shown).map((event) => (
          <li key={event.id}>
            <time dateTime={event.occurred_at}>{new Date(event.occurred_at).toLocaleString()}</time> <strong>{describe(event)}</strong>{' '}
            <span class="who">by {actorOf(event)}</span>
            <Changes event={event} />
          </li>
        ))}
      </ol>
      {shown < events.length && (
        <button type="button" onClick={() => setShown((n) => n + SHOWN)}>
          Older ({events.length - shown} more)
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

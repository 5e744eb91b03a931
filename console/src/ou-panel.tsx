import { createOu, getOu, updateOu } from '@arbor/sdk';
import { useEffect, useState } from 'preact/hooks';
import { DeleteOu, MoveTo } from './ou-actions';
import { OuHistory } from './ou-history';
import { OuUsers } from './ou-users';
import { Alert } from './common';
import { type Session, problemOf } from './session';
import { Tabs } from './tabs';
import type { TreeModel, TreeOu } from './tree-model';

interface OuDetail extends TreeOu {
  description: string | null;
  custom_attributes: Record<string, unknown> | null;
  external_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface WriteChange {
  reveal?: string;
  open?: string;
  forget?: string;
  select?: string | null;
}

/** The panel's tabs; the one shown stays chosen from one OU to the next. */
export type PanelTab = 'details' | 'users' | 'history' | 'move';

interface PanelProps {
  session: Session;
  tenantId: string;
  ouId: string | null;
  tab: PanelTab;
  onTab(tab: PanelTab): void;
  model: TreeModel;
  afterWrite(change: WriteChange): void;
  /** Told when the panel read the OU and updated the tree's row with it. */
  onRead(): void;
}

/** Parses the attributes editor's text: an object, or null for none; a message when it is neither. */
export function parseAttributes(text: string): { value: Record<string, unknown> | null } | { error: string } {
  if (text.trim() === '') return { value: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { error: `Not JSON: ${(error as Error).message}` };
  }
  if (parsed === null) return { value: null };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) return { error: 'Custom attributes are a JSON object, e.g. {"cost_center": "4100"}.' };
  return { value: parsed as Record<string, unknown> };
}

/** The selected OU: what it is, its counts, and the forms that change it. */
export function OuPanel({ session, tenantId, ouId, tab, onTab, model, afterWrite, onRead }: PanelProps) {
  const [ou, setOu] = useState<OuDetail | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  // Bumped by each read, not by a save: the edit form starts again from what was read.
  const [reads, setReads] = useState(0);
  const client = session.arbor.client;

  useEffect(() => {
    if (ouId === null) return;
    let current = true;
    void getOu({ client, path: { tenant_id: tenantId, ou_id: ouId } }).then(({ data, error: problem, response }) => {
      if (!current) return;
      if (data === undefined) {
        setError(problemOf(problem, response));
        return;
      }
      const detail = data.data as unknown as OuDetail;
      setOu(detail);
      setEtag(response.headers.get('etag'));
      setError(null);
      setReads((n) => n + 1);
      model.updateOu({ id: detail.id, name: detail.name, path: detail.path, parent_id: detail.parent_id, user_count: detail.user_count, child_ou_count: detail.child_ou_count });
      onRead();
    });
    return () => {
      current = false;
    };
  }, [ouId, reloads]);

  if (ouId === null) {
    return (
      <section class="panel" aria-label="OU">
        <p class="empty">Choose an OU in the tree, or create a top-level one.</p>
        <CreateChild session={session} tenantId={tenantId} parent={null} afterWrite={afterWrite} />
      </section>
    );
  }
  if (ou === null) {
    return (
      <section class="panel" aria-label="OU" aria-busy={error === null}>
        {error === null ? <p>Loading…</p> : <p class="error" role="alert">{error}</p>}
      </section>
    );
  }
  // Only list items carry it (an OU's own answer does not: its ETag would change with every user below).
  const nested = model.ous.get(ou.id)?.nested_user_count;
  return (
    <section class="panel" aria-labelledby="ou-title">
      <h2 id="ou-title">{ou.name}</h2>
      <p class="path">{ou.path}</p>
      <dl class="counts-list">
        <div>
          <dt>Users here</dt>
          <dd>{ou.user_count}</dd>
        </div>
        {nested !== undefined && (
          <div>
            <dt>Users here and below</dt>
            <dd>{nested}</dd>
          </div>
        )}
        <div>
          <dt>Child OUs</dt>
          <dd>{ou.child_ou_count}</dd>
        </div>
      </dl>
      <Tabs<PanelTab>
        id="ou"
        label={`${ou.name}: what to see or change`}
        chosen={tab}
        onChoose={onTab}
        tabs={[
          {
            key: 'details',
            label: 'Details',
            content: (
              <>
                <EditOu
                  key={reads}
                  session={session}
                  tenantId={tenantId}
                  ou={ou}
                  etag={etag}
                  onSaved={(saved, savedEtag) => {
                    setOu(saved);
                    setEtag(savedEtag);
                    afterWrite({ reveal: saved.id });
                  }}
                  onReload={() => setReloads((n) => n + 1)}
                />
                <CreateChild session={session} tenantId={tenantId} parent={ou} afterWrite={afterWrite} />
              </>
            ),
          },
          {
            key: 'users',
            label: 'Users',
            content: (
              <OuUsers
                session={session}
                tenantId={tenantId}
                ou={ou}
                // The tree's counts are read again; the panel is not, so an edit being typed is kept.
                onChanged={() => afterWrite({})}
              />
            ),
          },
          {
            key: 'history',
            label: 'History',
            content: (
              <section aria-labelledby="history-title">
                <h3 id="history-title">History</h3>
                <OuHistory session={session} tenantId={tenantId} ouId={ou.id} version={ou.updated_at} />
              </section>
            ),
          },
          {
            key: 'move',
            label: 'Move or delete',
            content: (
              <>
                <MoveTo
                  key={`move-${reads}`}
                  session={session}
                  tenantId={tenantId}
                  ou={ou}
                  etag={etag}
                  onMoved={(newParent) => {
                    model.updateOu({ ...ou, parent_id: newParent });
                    afterWrite({ ...(newParent === null ? {} : { open: newParent }), reveal: ou.id });
                    setReloads((n) => n + 1);
                  }}
                />
                <DeleteOu
                  key={`delete-${reads}`}
                  session={session}
                  tenantId={tenantId}
                  ou={ou}
                  etag={etag}
                  onDeleted={() => afterWrite({ forget: ou.id, select: ou.parent_id ?? null, ...(ou.parent_id ? { reveal: ou.parent_id } : {}) })}
                />
              </>
            ),
          },
        ]}
      />
    </section>
  );
}

function EditOu({ session, tenantId, ou, etag, onSaved, onReload }: { session: Session; tenantId: string; ou: OuDetail; etag: string | null; onSaved(ou: OuDetail, etag: string | null): void; onReload(): void }) {
  const [name, setName] = useState(ou.name);
  const [description, setDescription] = useState(ou.description ?? '');
  const [attributes, setAttributes] = useState(ou.custom_attributes === null ? '' : JSON.stringify(ou.custom_attributes, null, 2));
  const [message, setMessage] = useState<{ kind: 'error' | 'conflict' | 'saved'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const parsed = parseAttributes(attributes);

  const save = async (event: Event) => {
    event.preventDefault();
    if ('error' in parsed) return;
    setBusy(true);
    const body: { name?: string; description: string | null; custom_attributes: Record<string, unknown> | null } = { description: description === '' ? null : description, custom_attributes: parsed.value };
    if (name !== ou.name) body.name = name;
    const { data, error, response } = await updateOu({
      client: session.arbor.client,
      path: { tenant_id: tenantId, ou_id: ou.id },
      body,
      headers: etag === null ? {} : { 'if-match': etag },
    });
    setBusy(false);
    if (data !== undefined) {
      setMessage({ kind: 'saved', text: 'Saved.' });
      onSaved(data.data as unknown as OuDetail, response.headers.get('etag'));
      return;
    }
    if (response?.status === 412) {
      setMessage({ kind: 'conflict', text: 'Someone else changed this OU after you opened it, so nothing was saved. Reload it to see their change, then make yours again.' });
      return;
    }
    setMessage({ kind: 'error', text: problemOf(error, response) });
  };

  return (
    <form class="edit" onSubmit={save} aria-label="Edit OU">
      <h3>Edit</h3>
      <label>
        Name
        <input name="name" required maxLength={255} value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <label>
        Description
        <textarea name="description" rows={2} maxLength={4096} value={description} onInput={(e) => setDescription((e.currentTarget as HTMLTextAreaElement).value)} />
      </label>
      <label>
        Custom attributes (JSON object)
        <textarea
          name="custom_attributes"
          class="code"
          rows={5}
          spellcheck={false}
          aria-invalid={'error' in parsed}
          aria-describedby={'error' in parsed ? 'attributes-error' : undefined}
          value={attributes}
          onInput={(e) => setAttributes((e.currentTarget as HTMLTextAreaElement).value)}
        />
      </label>
      {'error' in parsed && (
        <p id="attributes-error" class="error">
          {parsed.error}
        </p>
      )}
      {message !== null && (
        <p class={message.kind === 'saved' ? 'ok' : 'error'} role={message.kind === 'saved' ? 'status' : 'alert'}>
          {message.text}
          {message.kind === 'conflict' && (
            <>
              {' '}
              <button type="button" onClick={onReload}>
                Reload
              </button>
            </>
          )}
        </p>
      )}
      <button type="submit" disabled={busy || 'error' in parsed}>
        Save
      </button>
    </form>
  );
}

function CreateChild({ session, tenantId, parent, afterWrite }: { session: Session; tenantId: string; parent: OuDetail | null; afterWrite(change: WriteChange): void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const create = async (event: Event) => {
    event.preventDefault();
    const { data, error: problem, response } = await createOu({
      client: session.arbor.client,
      path: { tenant_id: tenantId },
      body: { name, ...(parent === null ? {} : { parent_id: parent.id }) },
    });
    if (data === undefined) {
      setError(problemOf(problem, response));
      return;
    }
    setName('');
    setError(null);
    afterWrite({ ...(parent === null ? {} : { open: parent.id }), reveal: data.data.id, select: data.data.id });
  };
  return (
    <form class="create" onSubmit={create} aria-label={parent === null ? 'Create a top-level OU' : `Create a child of ${parent.name}`}>
      <h3>{parent === null ? 'New top-level OU' : 'New child OU'}</h3>
      <label>
        Name
        <input name="child_name" required maxLength={255} value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <Alert message={error} />
      <button type="submit">Create</button>
    </form>
  );
}

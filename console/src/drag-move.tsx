import { getOu, getOuAncestry, updateOu } from '@arbor/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Alert } from './common';
import { type Session, problemOf } from './session';
import type { TreeOu } from './tree-model';

/** An OU dropped on another in the tree: what to confirm. */
export interface DroppedMove {
  ou: TreeOu;
  parent: TreeOu;
}

/**
 * Confirms a move made by dragging an OU onto another: a modal dialog naming both paths, read
 * again from the API (the OU's ETag with them, so the move is refused with 412 if the OU changed
 * since). The move is the same PATCH of parent_id as "Move to…": the OU keeps its id, its users
 * and its subtree.
 */
export function MoveDialog({ session, tenantId, move, onMoved, onClose }: { session: Session; tenantId: string; move: DroppedMove; onMoved(): void; onClose(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [path, setPath] = useState(move.ou.path);
  const [parentPath, setParentPath] = useState(move.parent.path);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    dialog.current?.showModal();
    const client = session.arbor.client;
    void (async () => {
      // The new parent's path as it is now (its ancestry: a light read, however many children it has).
      const [ou, parent] = await Promise.all([
        getOu({ client, path: { tenant_id: tenantId, ou_id: move.ou.id } }),
        getOuAncestry({ client, path: { tenant_id: tenantId, ou_id: move.parent.id } }),
      ]);
      if (ou.data === undefined) return setError(problemOf(ou.error, ou.response));
      if (parent.data === undefined) return setError(problemOf(parent.error, parent.response));
      setPath(ou.data.data.path);
      setParentPath(parent.data.data[parent.data.data.length - 1].path);
      setEtag(ou.response.headers.get('etag'));
    })();
  }, [move.ou.id, move.parent.id]);

  const confirm = async () => {
    setBusy(true);
    const { data, error: problem, response } = await updateOu({
      client: session.arbor.client,
      path: { tenant_id: tenantId, ou_id: move.ou.id },
      body: { parent_id: move.parent.id },
      headers: etag === null ? {} : { 'if-match': etag },
    });
    setBusy(false);
    if (data === undefined) {
      return setError(response?.status === 412 ? 'Someone else changed this OU meanwhile: cancel, look at it again, then move it.' : problemOf(problem, response));
    }
    // Closed first, as Cancel does: the browser then gives focus back before the dialog goes.
    dialog.current?.close();
    onMoved();
  };

  return (
    <dialog ref={dialog} class="confirm" aria-labelledby="drop-title" onClose={onClose}>
      <h2 id="drop-title">Move {move.ou.name}?</h2>
      <p>
        Move <strong>{path}</strong> under <strong>{parentPath}</strong>. It keeps its id, its users and everything below it.
      </p>
      <Alert message={error} />
      <div class="buttons">
        <button type="submit" disabled={busy || etag === null} onClick={() => void confirm()}>
          {busy ? 'Moving…' : 'Move'}
        </button>
        <button type="button" onClick={() => dialog.current?.close()}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

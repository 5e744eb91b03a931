import { getOuAncestry, listOus } from '@arbor/sdk';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type DroppedMove, MoveDialog } from './drag-move';
import { FindOu } from './find-ou';
import { OuPanel, type PanelTab } from './ou-panel';
import { Alert } from './common';
import { type Session, problemOf } from './session';
import { PAGE_SIZE, type PageRequest, TOP, TreeModel, type TreeOu, pageKey } from './tree-model';
import { type Reveal, TreeView } from './tree-view';

/** One tenant's tree and the selected OU's panel. */
export function Workspace({ session, tenantId, tenantName }: { session: Session; tenantId: string; tenantName: string }) {
  const model = useRef(new TreeModel()).current;
  const [version, setVersion] = useState(0);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [reveal, setReveal] = useState<Reveal | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dropped, setDropped] = useState<DroppedMove | null>(null);
  /** Bumped after a move by dragging: the panel reads its OU again. */
  const [moves, setMoves] = useState(0);
  const [tab, setTab] = useState<PanelTab>('details');
  const inFlight = useRef(new Set<string>());
  const sessionRef = useRef(session);
  sessionRef.current = session;

  const changed = useCallback(() => setVersion(model.version), [model]);

  const loadPages = useCallback(
    (requests: PageRequest[]) => {
      for (const request of requests) {
        // A read sent before the last write does not stand in for one sent after it.
        const generation = model.generation;
        const key = `${pageKey(request)}\u0000${generation}`;
        if (inFlight.current.has(key)) continue;
        inFlight.current.add(key);
        const query = request.parent === TOP ? { top_level: true } : { parent_id: request.parent };
        void listOus({ client: sessionRef.current.arbor.client, path: { tenant_id: tenantId }, query: { ...query, page: request.page + 1, per_page: PAGE_SIZE } })
          .then(({ data, error: problem, response }) => {
            if (data === undefined) {
              // A parent deleted meanwhile answers 404: forget it rather than ask again and again.
              if (response?.status === 404 && request.parent !== TOP) model.forget(request.parent);
              else setError(problemOf(problem, response));
              return;
            }
            model.setPage(request.parent, request.page, data.pagination.total_items, data.data as TreeOu[], generation);
          })
          .finally(() => {
            inFlight.current.delete(key);
            changed();
          });
      }
    },
    [tenantId],
  );

  useEffect(() => loadPages([{ parent: TOP, page: 0 }]), [tenantId]);

  const onToggle = useCallback((id: string, open: boolean) => {
    model.toggle(id, open);
    changed();
  }, []);

  /**
   * Opens the tree down to `id` and selects it: its ancestry says which page of each list holds
   * the next OU down, so one page per level is read, however wide the levels are.
   */
  const revealOu = useCallback(async (id: string) => {
    const { data, error: problem, response } = await getOuAncestry({ client: sessionRef.current.arbor.client, path: { tenant_id: tenantId, ou_id: id } });
    if (data === undefined) return setError(problemOf(problem, response));
    const chain = data.data as (TreeOu & { position: number })[];
    const pages: PageRequest[] = [];
    chain.forEach((ou, index) => {
      const parent = index === 0 ? TOP : chain[index - 1].id;
      model.updateOu(ou);
      if (index < chain.length - 1) model.toggle(ou.id, true);
      const page = Math.floor(ou.position / PAGE_SIZE);
      if (model.needsPage(parent, page)) pages.push({ parent, page });
    });
    loadPages(pages);
    setSelectedId(id);
    const last = chain[chain.length - 1];
    setReveal({ id, at: { parent: chain.length > 1 ? chain[chain.length - 2].id : TOP, position: last.position }, nonce: Date.now() });
    changed();
  }, [tenantId]);

  /** After a write: rows stay, pages are read again as they show; the written OU is revealed. */
  const afterWrite = useCallback((change: { reveal?: string; open?: string; forget?: string; select?: string | null }) => {
    if (change.forget !== undefined) model.forget(change.forget);
    if (change.open !== undefined) model.toggle(change.open, true);
    model.invalidate();
    if (change.select !== undefined) setSelectedId(change.select);
    if (change.reveal !== undefined) setReveal({ id: change.reveal, nonce: Date.now() });
    changed();
  }, []);

  return (
    <div class="workspace">
      <nav class="tree-pane" aria-label="OU tree">
        <FindOu session={session} tenantId={tenantId} onChoose={(id) => void revealOu(id)} />
        <Alert message={error} />
        {model.isKnownTop() && model.childCount(TOP) === 0 && <p class="empty">No OU yet: create the first one from the panel.</p>}
        <div class="tree-head" aria-hidden="true">
          <span class="name">OU</span>
          <span class="counts">
            <span title="Users placed directly in the OU">Users</span>
            <span title="Users in the OU and every OU below it">Nested</span>
            <span title="Child OUs">OUs</span>
          </span>
        </div>
        <TreeView
          model={model}
          version={version}
          selectedId={selectedId}
          onSelect={setSelectedId}
          onToggle={onToggle}
          loadPages={loadPages}
          reveal={reveal}
          label={`OUs of ${tenantName}`}
          onDropOu={(ou, parent) => setDropped({ ou, parent })}
        />
      </nav>
      {dropped !== null && (
        <MoveDialog
          session={session}
          tenantId={tenantId}
          move={dropped}
          onClose={() => setDropped(null)}
          onMoved={() => {
            const { ou, parent } = dropped;
            setDropped(null);
            model.updateOu({ ...ou, parent_id: parent.id });
            afterWrite({ open: parent.id, reveal: ou.id, select: ou.id });
            setMoves((n) => n + 1);
            // Back to the tree, where the moved OU becomes the active row.
            document.querySelector<HTMLElement>('[role="tree"]')?.focus();
          }}
        />
      )}
      <OuPanel key={`${selectedId ?? 'none'} ${moves}`} tab={tab} onTab={setTab} session={session} tenantId={tenantId} ouId={selectedId} model={model} afterWrite={afterWrite} onRead={changed} />
    </div>
  );
}

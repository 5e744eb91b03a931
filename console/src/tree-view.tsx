import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type PageRequest, type Row, type TreeModel, type TreeOu, canDrop, keyAction, pagesToRead, placeholderKey, typeAhead } from './tree-model';

/** Each row's height in px: fixed, so a row's offset is its index times this (styles.css agrees). */
export const ROW_HEIGHT = 30;
/** Rows rendered above and below the viewport, so a quick scroll or arrow key finds rows there. */
const OVERSCAN = 20;
const TYPE_AHEAD_RESET_MS = 600;
/** The drag data type of a tree row being moved. */
const DRAG_TYPE = 'application/x-arbor-ou';

/** An OU to bring into view and focus, and, when known, its place (its parent and position there). */
export interface Reveal {
  id: string;
  at?: { parent: string; position: number };
  /** Date.now() when asked: each ask reveals once. */
  nonce: number;
}

/** How long the tree holds off reading the rows in view for an OU to reveal to show up. */
const REVEAL_WAIT_MS = 3_000;
/** How long an OU to reveal may take to show at all (its pages read as they come into view). */
const REVEAL_DROP_MS = 10_000;

interface TreeViewProps {
  model: TreeModel;
  /** Bumped by the owner whenever the model changed. */
  version: number;
  selectedId: string | null;
  onSelect(id: string): void;
  onToggle(id: string, open: boolean): void;
  loadPages(requests: PageRequest[]): void;
  /** An OU to bring into view and focus (after a search or a write), once its row exists. */
  reveal: Reveal | null;
  label: string;
  /** An OU dragged onto another (a move to confirm); without it, rows are not draggable. */
  onDropOu?(ou: TreeOu, parent: TreeOu): void;
}

/**
 * The WAI-ARIA treeview (https://www.w3.org/WAI/ARIA/apg/patterns/treeview/), virtualized:
 * whatever the tree's size, only the rows in view (and OVERSCAN either side) are in the DOM,
 * each with aria-level, aria-setsize and aria-posinset, as the pattern asks of a tree whose rows
 * are not all present. Focus stays on the tree element and aria-activedescendant names the active
 * row, which is always rendered (a key scrolls the view to it; a mouse may scroll it away). Rows not read yet are placeholders;
 * their pages are read as they come into view.
 */
export function TreeView({ model, version, selectedId, onSelect, onToggle, loadPages, reveal, label, onDropOu }: TreeViewProps) {
  const rows = useMemo(() => model.visibleRows(), [model, version]);
  const container = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [activeKey, setActiveKey] = useState<string | null>(null);
  const typed = useRef({ text: '', at: 0 });
  /** The OU being dragged (dragover cannot read the drag's data), and the row it would drop on. */
  const dragged = useRef<TreeOu | null>(null);
  const [dropOn, setDropOn] = useState<string | null>(null);
  // A row scrolled out of the virtualized list during its drag is unmounted and never hears its
  // dragend: the document does.
  useEffect(() => {
    const forget = () => {
      dragged.current = null;
      setDropOn(null);
    };
    document.addEventListener('dragend', forget);
    document.addEventListener('drop', forget);
    return () => {
      document.removeEventListener('dragend', forget);
      document.removeEventListener('drop', forget);
    };
  }, []);

  const indexOfKey = useCallback((key: string | null) => (key === null ? -1 : indexOfRow(rows, key)), [rows]);
  let active = indexOfKey(activeKey);
  if (active < 0 && rows.length > 0) active = Math.max(0, indexOfKey(selectedId));

  useLayoutEffect(() => {
    const element = container.current;
    if (element === null) return;
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    setViewport(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);

  // An OU to reveal at a known place is scrolled to before the rows in view are read: else the
  // rows at the old scroll position (the first children of a wide OU just opened) would be read
  // for nothing. Its place's placeholder shows as soon as its parent's size is known. Not for
  // ever: a place that never shows (its parent deleted meanwhile) must not stop the tree reading.
  const [revealed, setRevealed] = useState(-1);
  const [, setWaited] = useState(0);
  const revealPending = reveal?.at !== undefined && revealed !== reveal.nonce && Date.now() - reveal.nonce < REVEAL_WAIT_MS;
  useEffect(() => {
    if (!revealPending || reveal === null) return;
    const timer = setTimeout(() => setWaited((n) => n + 1), Math.max(0, reveal.nonce + REVEAL_WAIT_MS - Date.now()));
    return () => clearTimeout(timer);
  }, [revealPending, reveal?.nonce]);

  // Read the pages of the rows in view (placeholders, and rows shown from before a write).
  useEffect(() => {
    if (revealPending) return;
    const wanted = pagesToRead(model, rows, first, last);
    if (wanted.length > 0) loadPages(wanted);
  }, [rows, first, last, revealPending]);

  const scrollToIndex = useCallback(
    (index: number) => {
      const element = container.current;
      if (element === null) return;
      const top = index * ROW_HEIGHT;
      if (top < element.scrollTop) element.scrollTop = top;
      else if (top + ROW_HEIGHT > element.scrollTop + element.clientHeight) element.scrollTop = top + ROW_HEIGHT - element.clientHeight;
      setScrollTop(element.scrollTop);
    },
    [],
  );

  const focusIndex = useCallback(
    (index: number) => {
      const row = rows[index];
      if (row === undefined) return;
      setActiveKey(row.key);
      scrollToIndex(index);
    },
    [rows, scrollToIndex],
  );

  // Reveal: once the OU's row, or the placeholder of its place (its ancestors open), exists:
  // focus it and scroll it to the upper third of the view.
  useEffect(() => {
    if (reveal === null || revealed === reveal.nonce) return;
    // A reveal that waited past the limit is dropped: its OU showing much later must not move the view.
    if (Date.now() - reveal.nonce > REVEAL_DROP_MS) return setRevealed(reveal.nonce);
    let index = indexOfKey(reveal.id);
    if (index < 0 && reveal.at !== undefined) {
      // Only the placeholder of its place: another OU there (a stale page) is not it.
      const slot = rows.findIndex((row) => row.kind === 'placeholder' && row.key === placeholderKey(reveal.at!.parent, reveal.at!.position));
      index = slot;
    }
    if (index < 0) return;
    setRevealed(reveal.nonce);
    setActiveKey(rows[index].key);
    const element = container.current;
    // Scrolled only when out of view: the tree does not jump after an edit of a row in view.
    if (element !== null && (index * ROW_HEIGHT < element.scrollTop || (index + 1) * ROW_HEIGHT > element.scrollTop + element.clientHeight)) {
      element.scrollTop = Math.max(0, index * ROW_HEIGHT - element.clientHeight / 3);
      setScrollTop(element.scrollTop);
    }
  }, [reveal, rows]);

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const action = keyAction(rows, active, event.key, model);
    if (action !== undefined) {
      event.preventDefault();
      if ('focus' in action) focusIndex(action.focus);
      else if ('open' in action) onToggle(action.open, true);
      else if ('close' in action) onToggle(action.close, false);
      else if ('select' in action) {
        const row = rows[action.select];
        if (row?.kind === 'ou') onSelect(row.ou.id);
      }
      return;
    }
    if (event.key.length === 1 && event.key !== ' ') {
      const now = Date.now();
      const text = now - typed.current.at > TYPE_AHEAD_RESET_MS ? event.key : typed.current.text + event.key;
      typed.current = { text, at: now };
      const found = typeAhead(rows, active, text);
      if (found >= 0) {
        event.preventDefault();
        focusIndex(found);
      }
    }
  };

  const activeRow = rows[active];
  // The rows in view, and the active row wherever it is: aria-activedescendant must name an
  // element that exists, also after the mouse scrolled the active row far away.
  const shown = rows.slice(first, last).map((row, offset) => ({ row, index: first + offset }));
  if (activeRow !== undefined && (active < first || active >= last)) shown.push({ row: activeRow, index: active });
  return (
    <div
      ref={container}
      class="tree"
      role="tree"
      aria-label={label}
      tabIndex={0}
      aria-activedescendant={activeRow === undefined ? undefined : rowId(activeRow)}
      onKeyDown={onKeyDown}
      onScroll={(event) => setScrollTop((event.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div class="tree-canvas" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
        {shown.map(({ row, index }) => (
          <TreeRow
            key={row.key}
            row={row}
            top={index * ROW_HEIGHT}
            active={index === active}
            selected={row.kind === 'ou' && row.ou.id === selectedId}
            open={row.kind === 'ou' && model.expanded.has(row.ou.id)}
            onClick={() => {
              setActiveKey(row.key);
              if (row.kind === 'ou') onSelect(row.ou.id);
            }}
            onToggle={() => row.kind === 'ou' && onToggle(row.ou.id, !model.expanded.has(row.ou.id))}
            dropTarget={row.kind === 'ou' && row.ou.id === dropOn}
            drag={
              onDropOu === undefined || row.kind !== 'ou'
                ? undefined
                : {
                    start(event) {
                      dragged.current = row.ou;
                      event.dataTransfer?.setData(DRAG_TYPE, row.ou.id);
                      event.dataTransfer?.setData('text/plain', row.ou.path);
                      if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move';
                    },
                    over(event) {
                      // Only a row of this tree: not a file or text dragged in from elsewhere.
                      const ou = event.dataTransfer?.types.includes(DRAG_TYPE) ? dragged.current : null;
                      if (ou === null || !canDrop(ou, row.ou)) return setDropOn(null);
                      event.preventDefault();
                      if (event.dataTransfer) event.dataTransfer.dropEffect = 'move';
                      setDropOn(row.ou.id);
                    },
                    drop(event) {
                      const ou = event.dataTransfer?.types.includes(DRAG_TYPE) ? dragged.current : null;
                      event.preventDefault();
                      dragged.current = null;
                      setDropOn(null);
                      if (ou !== null && canDrop(ou, row.ou)) onDropOu(ou, row.ou);
                    },
                    end() {
                      dragged.current = null;
                      setDropOn(null);
                    },
                  }
            }
          />
        ))}
      </div>
    </div>
  );
}

/** The row of `key`; a placeholder's key also finds the OU that has since taken its place. */
function indexOfRow(rows: readonly Row[], key: string): number {
  const index = rows.findIndex((row) => row.key === key);
  if (index >= 0) return index;
  const placeholder = /^(.*)#(\d+)$/.exec(key);
  if (placeholder === null) return -1;
  const [, parent, position] = placeholder;
  return rows.findIndex((row) => row.parent === parent && row.posinset === Number(position) + 1);
}

function rowId(row: Row): string {
  return `tree-row-${row.kind === 'ou' ? row.ou.id : row.key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

interface DragHandlers {
  start(event: DragEvent): void;
  over(event: DragEvent): void;
  drop(event: DragEvent): void;
  end(): void;
}

interface TreeRowProps {
  row: Row;
  top: number;
  active: boolean;
  selected: boolean;
  open: boolean;
  onClick(): void;
  onToggle(): void;
  /** Dragging this row onto another moves it (after a confirmation); "Move to…" does the same from the keyboard. */
  drag?: DragHandlers;
  dropTarget: boolean;
}

function TreeRow({ row, top, active, selected, open, onClick, onToggle, drag, dropTarget }: TreeRowProps) {
  const common = {
    id: rowId(row),
    role: 'treeitem' as const,
    'aria-level': row.level,
    'aria-setsize': row.setsize,
    'aria-posinset': row.posinset,
    style: { transform: `translateY(${top}px)`, paddingLeft: `${(row.level - 1) * 18 + 6}px` },
  };
  if (row.kind === 'placeholder') {
    return (
      <div {...common} class="tree-row placeholder" aria-busy="true" aria-selected="false">
        <span class="twisty" aria-hidden="true" />
        <span class="name">Loading…</span>
      </div>
    );
  }
  const { ou } = row;
  const hasChildren = ou.child_ou_count > 0;
  return (
    <div
      {...common}
      class={`tree-row${active ? ' active' : ''}${selected ? ' selected' : ''}${dropTarget ? ' drop-target' : ''}`}
      aria-selected={selected ? 'true' : 'false'}
      aria-expanded={hasChildren ? (open ? 'true' : 'false') : undefined}
      data-ou-id={ou.id}
      onClick={onClick}
      draggable={drag !== undefined}
      onDragStart={drag?.start}
      onDragOver={drag?.over}
      onDrop={drag?.drop}
      onDragEnd={drag?.end}
    >
      <span
        class={`twisty${hasChildren ? (open ? ' open' : ' closed') : ''}`}
        aria-hidden="true"
        onClick={(event) => {
          event.stopPropagation();
          if (hasChildren) onToggle();
        }}
      />
      <span class="name">{ou.name}</span>
      <span class="visually-hidden">{countsLabel(ou)}</span>
      <span class="counts" aria-hidden="true">
        <span title="Users placed directly in this OU">{ou.user_count}</span>
        {ou.nested_user_count !== undefined && <span title="Users in this OU and every OU below it">{ou.nested_user_count}</span>}
        <span title="Child OUs">{ou.child_ou_count}</span>
      </span>
    </div>
  );
}

function countsLabel(ou: { user_count: number; nested_user_count?: number; child_ou_count: number }): string {
  const nested = ou.nested_user_count === undefined ? '' : `, ${ou.nested_user_count} with those below`;
  return `: ${ou.user_count} users${nested}, ${ou.child_ou_count} child OUs`;
}


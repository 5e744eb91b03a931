/**
 * The tree as the console holds it: the OUs read so far, each parent's children by page, and
 * which OUs are open. `visibleRows` flattens it into the rows a virtualized treeview shows; rows
 * whose page is not read yet are placeholders, so the list has its full length (and every row its
 * `aria-setsize` and `aria-posinset`) before the rows arrive. No DOM here: the tests run it in
 * Node.
 */
import type { OuListItem } from '@arbor/sdk';

/**
 * What a row of the tree shows of an OU: the API's OUListItem (the SDK's type), with the counts
 * the API always sends made required.
 */
export type TreeOu = Required<Pick<OuListItem, 'id' | 'name' | 'path' | 'user_count' | 'child_ou_count'>> & Pick<OuListItem, 'parent_id' | 'nested_user_count'>;

/** The top level's key among the parents (a delegated principal's top level is its subtrees' roots). */
export const TOP = '';

/** Children listed per request: the API's largest page. */
export const PAGE_SIZE = 100;

interface ChildList {
  /** How many children the parent has, as the last page read said. */
  total: number;
  /** Page number (0-based) → the ids on it, in the API's order (path). */
  pages: Map<number, string[]>;
  /** Pages read before the last write: still shown, read again when they come into view. */
  stale: Set<number>;
}

export type Row =
  | { kind: 'ou'; key: string; ou: TreeOu; level: number; posinset: number; setsize: number; parent: string }
  | { kind: 'placeholder'; key: string; level: number; posinset: number; setsize: number; parent: string; page: number };

/** A page of children to read: `parent` is an OU id, or TOP. */
export interface PageRequest {
  parent: string;
  page: number;
}

export function pageKey({ parent, page }: PageRequest): string {
  return `${parent}\u0000${page}`;
}

export function placeholderKey(parent: string, index: number): string {
  return `${parent}#${index}`;
}

export class TreeModel {
  readonly ous = new Map<string, TreeOu>();
  private readonly lists = new Map<string, ChildList>();
  readonly expanded = new Set<string>();
  /** Bumped on every change: a view recomputes its rows when it differs. */
  version = 0;
  /**
   * Bumped by every write (invalidate): a page read sent before it may answer with rows from
   * before the write, so its answer is shown but kept stale, to be read again.
   */
  generation = 0;

  /**
   * Records a page of `parent`'s children read from the API (`total`: its pagination's
   * total_items), sent at `generation` (default: now).
   */
  setPage(parent: string, page: number, total: number, ous: readonly TreeOu[], generation = this.generation): void {
    let list = this.lists.get(parent);
    if (list === undefined || list.total !== total) {
      // A different total means the pages around this one moved too: keep them to show, but stale.
      const stale = new Set(list?.pages.keys() ?? []);
      list = { total, pages: list?.pages ?? new Map(), stale };
      this.lists.set(parent, list);
    }
    for (const ou of ous) this.setOu(ou);
    list.pages.set(page, ous.map((ou) => ou.id));
    if (generation < this.generation) list.stale.add(page);
    else list.stale.delete(page);
    for (const [number] of list.pages) if (number * PAGE_SIZE >= total) list.pages.delete(number);
    // A parent's count of children is the total its list says, whatever the parent row said when read.
    const parentOu = this.ous.get(parent);
    if (parentOu !== undefined && parentOu.child_ou_count !== total) this.ous.set(parent, { ...parentOu, child_ou_count: total });
    this.version++;
  }

  /** Replaces what is known of one OU (after reading or writing it), keeping its place. */
  updateOu(ou: TreeOu): void {
    this.setOu({ ...this.ous.get(ou.id), ...ou });
    this.version++;
  }

  /** Keeps `ou`; if it changed parents, the page that still lists it under the old one is read again. */
  private setOu(ou: TreeOu): void {
    const known = this.ous.get(ou.id);
    if (known !== undefined && ou.parent_id !== undefined && known.parent_id !== undefined && known.parent_id !== ou.parent_id) this.markPagesHolding(ou.id);
    this.ous.set(ou.id, ou);
  }

  /** Marks stale every page read so far that lists `id`. */
  private markPagesHolding(id: string): void {
    for (const list of this.lists.values()) for (const [page, ids] of list.pages) if (ids.includes(id)) list.stale.add(page);
  }

  /**
   * Marks every page read so far stale (after a write that may have moved rows: a create, rename,
   * move or delete). They stay on screen, so the tree neither jumps nor closes, and are read again
   * as they come into view. Open and selected OUs stay as they are.
   */
  invalidate(): void {
    for (const list of this.lists.values()) for (const page of list.pages.keys()) list.stale.add(page);
    this.generation++;
    this.version++;
  }

  /** Forgets an OU that no longer exists (deleted), and closes it. */
  forget(id: string): void {
    // The page that lists it is read again, else its slot would wait for it for ever.
    this.markPagesHolding(id);
    this.ous.delete(id);
    this.expanded.delete(id);
    this.lists.delete(id);
    this.version++;
  }

  isKnownTop(): boolean {
    return this.lists.has(TOP);
  }

  toggle(id: string, open = !this.expanded.has(id)): void {
    if (open) this.expanded.add(id);
    else this.expanded.delete(id);
    this.version++;
  }

  /** The number of children of `parent`, from its list once read, else from its row's count. */
  childCount(parent: string): number | undefined {
    const list = this.lists.get(parent);
    if (list !== undefined) return list.total;
    return parent === TOP ? undefined : this.ous.get(parent)?.child_ou_count;
  }

  /** Whether a page must be read: never read, or read before the last write. */
  needsPage(parent: string, page: number): boolean {
    const list = this.lists.get(parent);
    return list === undefined || !list.pages.has(page) || list.stale.has(page);
  }

  /** The rows a treeview shows, depth first, open OUs followed by their children. */
  visibleRows(): Row[] {
    const rows: Row[] = [];
    const shown = new Set<string>();
    const visit = (parent: string, level: number, path: Set<string>) => {
      const total = this.childCount(parent) ?? 0;
      const list = this.lists.get(parent);
      for (let index = 0; index < total; index++) {
        const page = Math.floor(index / PAGE_SIZE);
        const id = list?.pages.get(page)?.[index % PAGE_SIZE];
        const ou = id === undefined ? undefined : this.ous.get(id);
        // A stale page may still hold an OU that has moved elsewhere since (or is shown already):
        // its slot waits for the page to be read again, so an OU is never shown twice.
        const movedAway = ou !== undefined && parent !== TOP && ou.parent_id !== undefined && ou.parent_id !== parent;
        if (ou === undefined || movedAway || shown.has(ou.id)) {
          rows.push({ kind: 'placeholder', key: placeholderKey(parent, index), level, posinset: index + 1, setsize: total, parent, page });
          continue;
        }
        shown.add(ou.id);
        rows.push({ kind: 'ou', key: ou.id, ou, level, posinset: index + 1, setsize: total, parent });
        // `path` guards against a cycle that stale pages could show for a moment (an OU moved under its old child).
        if (this.expanded.has(ou.id) && ou.child_ou_count > 0 && !path.has(ou.id)) {
          path.add(ou.id);
          visit(ou.id, level + 1, path);
          path.delete(ou.id);
        }
      }
    };
    visit(TOP, 1, new Set());
    return rows;
  }
}

/** The pages to read so that `rows[from..to)` show OUs, not placeholders, stale pages included. */
export function pagesToRead(model: TreeModel, rows: readonly Row[], from: number, to: number): PageRequest[] {
  const wanted = new Map<string, PageRequest>();
  for (let i = Math.max(0, from); i < Math.min(rows.length, to); i++) {
    const row = rows[i];
    const request = row.kind === 'placeholder' ? { parent: row.parent, page: row.page } : { parent: row.parent, page: Math.floor((row.posinset - 1) / PAGE_SIZE) };
    if (model.needsPage(request.parent, request.page)) wanted.set(pageKey(request), request);
  }
  return [...wanted.values()];
}

/**
 * The WAI-ARIA tree pattern's keys, on the visible rows: the index the focus moves to, whether
 * to open or close an OU, or undefined when the key is not the tree's.
 * https://www.w3.org/WAI/ARIA/apg/patterns/treeview/
 */
export type KeyAction = { focus: number } | { open: string } | { close: string } | { select: number } | undefined;

export function keyAction(rows: readonly Row[], active: number, key: string, model: TreeModel): KeyAction {
  if (rows.length === 0) return undefined;
  const row = rows[Math.min(Math.max(active, 0), rows.length - 1)];
  switch (key) {
    case 'ArrowDown':
      return { focus: Math.min(active + 1, rows.length - 1) };
    case 'ArrowUp':
      return { focus: Math.max(active - 1, 0) };
    case 'Home':
      return { focus: 0 };
    case 'End':
      return { focus: rows.length - 1 };
    case 'ArrowRight': {
      if (row.kind !== 'ou' || row.ou.child_ou_count === 0) return undefined;
      if (!model.expanded.has(row.ou.id)) return { open: row.ou.id };
      return { focus: Math.min(active + 1, rows.length - 1) };
    }
    case 'ArrowLeft': {
      if (row.kind === 'ou' && model.expanded.has(row.ou.id)) return { close: row.ou.id };
      if (row.parent === TOP) return undefined;
      const parentIndex = rows.findIndex((candidate) => candidate.kind === 'ou' && candidate.ou.id === row.parent);
      return parentIndex >= 0 ? { focus: parentIndex } : undefined;
    }
    case 'Enter':
      return row.kind === 'ou' ? { select: active } : undefined;
    default:
      return undefined;
  }
}

/**
 * Type-ahead: the next row after `active` (wrapping) whose name starts with `typed`, ignoring
 * case; -1 when none of the rows read so far does.
 */
export function typeAhead(rows: readonly Row[], active: number, typed: string): number {
  const prefix = typed.toLocaleLowerCase();
  // A repeated single letter cycles through the rows starting with it; more letters refine from here.
  const start = typed.length > 1 ? active : active + 1;
  for (let step = 0; step < rows.length; step++) {
    const index = (start + step) % rows.length;
    const row = rows[index];
    if (row.kind === 'ou' && row.ou.name.toLocaleLowerCase().startsWith(prefix)) return index;
  }
  return -1;
}

/** Whether `ou` may be dropped on `parent` (a move): not on itself, below itself, or where it already is. */
export function canDrop(ou: TreeOu, parent: TreeOu): boolean {
  return ou.id !== parent.id && ou.parent_id !== parent.id && !parent.path.startsWith(`${ou.path}/`);
}

import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, type Row, TOP, TreeModel, type TreeOu, canDrop, keyAction, pagesToRead, typeAhead } from '../../console/src/tree-model.js';

// The console's tree without a browser: what rows a virtualized treeview shows, which pages it
// reads, and the WAI-ARIA keys. The browser tests (console-e2e) check the same through the DOM.

function ou(id: string, parent: string | null, childCount = 0, name = id): TreeOu {
  return { id, name, path: `/${name}`, parent_id: parent, user_count: 0, child_ou_count: childCount };
}

function children(parent: string, count: number, from = 0): TreeOu[] {
  return Array.from({ length: count }, (_, i) => ou(`${parent}-${from + i}`, parent, 0, `${parent} ${String(from + i).padStart(5, '0')}`));
}

const labels = (rows: readonly Row[]) => rows.map((row) => (row.kind === 'ou' ? row.ou.id : `…${row.posinset}`));

describe('the console tree model', () => {
  it('shows a wide parent\'s children as placeholders with their set size before any page is read, and reads only the pages in view', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 1, [ou('wide', null, 10_000)]);
    model.toggle('wide', true);
    const rows = model.visibleRows();
    expect(rows).toHaveLength(10_001);
    expect(rows[1]).toMatchObject({ kind: 'placeholder', level: 2, posinset: 1, setsize: 10_000 });
    expect(rows[10_000]).toMatchObject({ kind: 'placeholder', posinset: 10_000, setsize: 10_000, page: 99 });
    // Rows 5,000 to 5,040 in view: one or two pages of 100, not the 100 pages of the list.
    expect(pagesToRead(model, rows, 5_000, 5_040)).toEqual([{ parent: 'wide', page: 49 }, { parent: 'wide', page: 50 }]);
  });

  it('puts each page\'s OUs at their positions and leaves the other pages placeholders', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 1, [ou('wide', null, 250)]);
    model.toggle('wide', true);
    model.setPage('wide', 1, 250, children('wide', PAGE_SIZE, 100));
    const rows = model.visibleRows();
    expect(rows[1].kind).toBe('placeholder');
    expect(rows[101]).toMatchObject({ kind: 'ou', key: 'wide-100', posinset: 101, setsize: 250 });
    expect(rows[200]).toMatchObject({ kind: 'ou', key: 'wide-199', posinset: 200 });
    expect(rows[201].kind).toBe('placeholder');
    expect(pagesToRead(model, rows, 101, 201)).toEqual([]);
  });

  it('shows the children of open OUs only, depth first, one level deeper', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 2, [ou('a', null, 2), ou('b', null, 1)]);
    model.setPage('a', 0, 2, [ou('a1', 'a', 1), ou('a2', 'a')]);
    model.setPage('a1', 0, 1, [ou('a1x', 'a1')]);
    model.setPage('b', 0, 1, [ou('b1', 'b')]);
    expect(labels(model.visibleRows())).toEqual(['a', 'b']);
    model.toggle('a', true);
    model.toggle('a1', true);
    const rows = model.visibleRows();
    expect(labels(rows)).toEqual(['a', 'a1', 'a1x', 'a2', 'b']);
    expect(rows.map((row) => row.level)).toEqual([1, 2, 3, 2, 1]);
    model.toggle('a', false);
    expect(labels(model.visibleRows())).toEqual(['a', 'b']);
  });

  it('keeps rows, open OUs and their places after a write, and reads every page in view again', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 2, [ou('a', null, 1), ou('b', null)]);
    model.setPage('a', 0, 1, [ou('a1', 'a')]);
    model.toggle('a', true);
    const before = labels(model.visibleRows());
    model.invalidate();
    const rows = model.visibleRows();
    expect(labels(rows)).toEqual(before);
    expect(pagesToRead(model, rows, 0, rows.length)).toEqual([{ parent: TOP, page: 0 }, { parent: 'a', page: 0 }]);
    model.setPage(TOP, 0, 3, [ou('a', null, 1), ou('b', null), ou('c', null)]);
    expect(labels(model.visibleRows())).toEqual(['a', 'a1', 'b', 'c']);
    expect(model.expanded.has('a')).toBe(true);
  });

  it('takes a parent\'s child count from its list once read, so a created child shows under a parent that had none', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 1, [ou('a', null, 0)]);
    model.toggle('a', true);
    expect(labels(model.visibleRows())).toEqual(['a']);
    model.setPage('a', 0, 1, [ou('new', 'a')]);
    expect(model.ous.get('a')?.child_ou_count).toBe(1);
    expect(labels(model.visibleRows())).toEqual(['a', 'new']);
  });

  it('never shows an OU twice: one moved away waits in its old slot until that page is read again', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 2, [ou('a', null, 1), ou('b', null, 0)]);
    model.setPage('a', 0, 1, [ou('x', 'a')]);
    model.toggle('a', true);
    model.toggle('b', true);
    // x moved from a to b: b's list is read again, a's is not yet.
    model.invalidate();
    model.updateOu({ ...ou('x', 'b') });
    model.setPage(TOP, 0, 2, [ou('a', null, 1), ou('b', null, 1)]);
    model.setPage('b', 0, 1, [ou('x', 'b')]);
    const rows = model.visibleRows();
    expect(labels(rows)).toEqual(['a', '…1', 'b', 'x']);
    expect(pagesToRead(model, rows, 0, rows.length)).toEqual([{ parent: 'a', page: 0 }]);
    model.setPage('a', 0, 0, []);
    expect(labels(model.visibleRows())).toEqual(['a', 'b', 'x']);
  });

  it('keeps stale a page whose read was sent before the last write, so its old rows are read again', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 1, [ou('a', null, 0, 'Old name')]);
    const sentBefore = model.generation;
    model.invalidate();
    // The read sent before the rename answers after it, with the old name.
    model.setPage(TOP, 0, 1, [ou('a', null, 0, 'Old name')], sentBefore);
    const rows = model.visibleRows();
    expect(pagesToRead(model, rows, 0, rows.length)).toEqual([{ parent: TOP, page: 0 }]);
    model.setPage(TOP, 0, 1, [ou('a', null, 0, 'New name')], model.generation);
    expect(pagesToRead(model, model.visibleRows(), 0, 1)).toEqual([]);
  });

  it('reads again the page that lists a deleted OU, and the one that lists an OU under its old parent, so no slot waits for ever', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 2, [ou('a', null, 1), ou('b', null, 1)]);
    model.setPage('a', 0, 1, [ou('x', 'a')]);
    model.setPage('b', 0, 1, [ou('y', 'b')]);
    model.toggle('a', true);
    model.toggle('b', true);
    // Another administrator moved x to b: b's page, read again, says so; a's page must be read again too.
    model.setPage('b', 0, 2, [ou('x', 'b'), ou('y', 'b')]);
    expect(pagesToRead(model, model.visibleRows(), 0, 10)).toContainEqual({ parent: 'a', page: 0 });
    // y deleted: the page that lists it is read again.
    model.setPage('a', 0, 0, []);
    model.forget('y');
    expect(pagesToRead(model, model.visibleRows(), 0, 10)).toContainEqual({ parent: 'b', page: 0 });
  });

  it('drops pages past the end when a list shrinks, and forgets a deleted OU', () => {
    const model = new TreeModel();
    model.setPage(TOP, 0, 1, [ou('p', null, 150)]);
    model.toggle('p', true);
    model.setPage('p', 1, 150, children('p', 50, 100));
    model.setPage('p', 0, 90, children('p', 90));
    expect(model.visibleRows()).toHaveLength(91);
    model.forget('p');
    expect(model.expanded.has('p')).toBe(false);
  });
});

describe('the console tree keys (WAI-ARIA treeview)', () => {
  const model = new TreeModel();
  model.setPage(TOP, 0, 3, [ou('a', null, 2, 'Alpha'), ou('b', null, 0, 'Beta'), ou('c', null, 0, 'Bravo')]);
  model.setPage('a', 0, 2, [ou('a1', 'a', 0, 'Apple'), ou('a2', 'a', 0, 'Banana')]);

  it('opens a closed OU on ArrowRight, then moves to its first child; closes it on ArrowLeft, and from a child moves to its parent', () => {
    model.toggle('a', false);
    let rows = model.visibleRows();
    expect(keyAction(rows, 0, 'ArrowRight', model)).toEqual({ open: 'a' });
    model.toggle('a', true);
    rows = model.visibleRows();
    expect(keyAction(rows, 0, 'ArrowRight', model)).toEqual({ focus: 1 });
    expect(keyAction(rows, 2, 'ArrowLeft', model)).toEqual({ focus: 0 });
    expect(keyAction(rows, 0, 'ArrowLeft', model)).toEqual({ close: 'a' });
    // A leaf: ArrowRight does nothing; a top-level leaf: ArrowLeft does nothing.
    expect(keyAction(rows, 3, 'ArrowRight', model)).toBeUndefined();
    expect(keyAction(rows, 3, 'ArrowLeft', model)).toBeUndefined();
  });

  it('moves with ArrowUp and ArrowDown within the rows, to the first and last rows with Home and End, and selects with Enter', () => {
    model.toggle('a', true);
    const rows = model.visibleRows();
    expect(keyAction(rows, 0, 'ArrowUp', model)).toEqual({ focus: 0 });
    expect(keyAction(rows, 4, 'ArrowDown', model)).toEqual({ focus: 4 });
    expect(keyAction(rows, 1, 'ArrowDown', model)).toEqual({ focus: 2 });
    expect(keyAction(rows, 3, 'Home', model)).toEqual({ focus: 0 });
    expect(keyAction(rows, 0, 'End', model)).toEqual({ focus: 4 });
    expect(keyAction(rows, 2, 'Enter', model)).toEqual({ select: 2 });
    expect(keyAction(rows, 2, 'x', model)).toBeUndefined();
  });

  it('finds the next row whose name starts with what was typed, wrapping, and cycles on a repeated letter', () => {
    model.toggle('a', true);
    const rows = model.visibleRows(); // Alpha, Apple, Banana, Beta, Bravo
    expect(typeAhead(rows, 0, 'b')).toBe(2);
    expect(typeAhead(rows, 2, 'b')).toBe(3);
    expect(typeAhead(rows, 4, 'b')).toBe(2);
    expect(typeAhead(rows, 2, 'br')).toBe(4);
    expect(typeAhead(rows, 0, 'AP')).toBe(1);
    expect(typeAhead(rows, 0, 'z')).toBe(-1);
  });
});

describe('dropping an OU on another (drag and drop)', () => {
  const at = (id: string, path: string, parent: string | null): TreeOu => ({ id, name: path.split('/').pop()!, path, parent_id: parent, user_count: 0, child_ou_count: 0 });
  const sales = at('s', '/Acme/Sales', 'a');

  it('allows a drop on another branch, also one whose path starts with the same letters', () => {
    expect(canDrop(sales, at('w', '/Acme/Wide', 'a'))).toBe(true);
    expect(canDrop(sales, at('s2', '/Acme/Sales2', 'a'))).toBe(true);
  });

  it('refuses a drop on itself, on anything below it, and on the parent it already has', () => {
    expect(canDrop(sales, sales)).toBe(false);
    expect(canDrop(sales, at('e', '/Acme/Sales/EMEA', 's'))).toBe(false);
    expect(canDrop(sales, at('p', '/Acme/Sales/EMEA/Paris', 'e'))).toBe(false);
    expect(canDrop(sales, at('a', '/Acme', null))).toBe(false);
  });
});

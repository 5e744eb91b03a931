import type { OrgUnitTreeEntry } from '../services/org-unit-service.js';

const CHUNK_CHARS = 64 * 1024;

/** What the writer reads of a node: its path is composed from the names above it. */
type TreeEntry = Pick<OrgUnitTreeEntry, 'id' | 'name' | 'basePath'> & { children: TreeEntry[] };

/**
 * The tree response (`{data: OUTreeNode[], meta}`) as JSON text in pieces of about 64 KiB, to be
 * streamed: for 10^5 OUs the whole text (15 MB) and its bytes never exist at once, and each
 * node's path exists only while its subtree is written. Nodes are written depth first with an
 * explicit stack, in the order the service sorted them.
 */
export function* treeResponseChunks(roots: TreeEntry[], meta: object): Generator<string> {
  let text = '{"data":[';
  const stack: { nodes: TreeEntry[]; next: number; path: string }[] = [{ nodes: roots, next: 0, path: '' }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next === frame.nodes.length) {
      stack.pop();
      // Closes a node's children and the node; the last pop closes `data`.
      text += stack.length > 0 ? ']}' : ']';
      continue;
    }
    const node = frame.nodes[frame.next++];
    const path = `${node.basePath ?? frame.path}/${node.name}`;
    if (frame.next > 1) text += ',';
    text += `{"id":${JSON.stringify(node.id)},"name":${JSON.stringify(node.name)},"path":${JSON.stringify(path)},"children":[`;
    stack.push({ nodes: node.children, next: 0, path });
    if (text.length >= CHUNK_CHARS) {
      yield text;
      text = '';
    }
  }
  yield `${text},"meta":${JSON.stringify(meta)}}`;
}

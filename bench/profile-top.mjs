// node bench/profile-top.mjs FILE.cpuprofile [N] [--inclusive]: the functions with the most
// self time (or, with --inclusive, time including what they call), from a V8 CPU profile.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const inclusive = args.includes('--inclusive');
const [file, n = '30'] = args.filter((a) => !a.startsWith('--'));
const profile = JSON.parse(readFileSync(file, 'utf8'));
const selfByNode = new Map();
profile.samples.forEach((id, i) => selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const keyOf = ({ callFrame: { functionName, url, lineNumber } }) =>
  `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;

const totals = new Map();
let total = 0;
// Depth-first from the root; a function's inclusive time counts only its outermost frames.
function visit(node, open) {
  const key = keyOf(node);
  const self = selfByNode.get(node.id) ?? 0;
  total += self;
  let sum = self;
  const outermost = !open.has(key);
  if (outermost) open.add(key);
  for (const child of node.children ?? []) sum += visit(nodes.get(child), open);
  if (outermost) open.delete(key);
  if (!inclusive) totals.set(key, (totals.get(key) ?? 0) + self);
  else if (outermost) totals.set(key, (totals.get(key) ?? 0) + sum);
  return sum;
}
visit(profile.nodes[0], new Set());
for (const [key, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key}`);
}

/**
 * Generates the benchmark's store: one big tenant shaped like a real directory (depth up to 8,
 * skewed fan-out, one OU with 10,000 children, users spread unevenly) and smaller tenants
 * beside it, written through Arbor's own repositories in bulk, in transactions.
 *
 * Every maintained column (path, id_path, depth, child and user counts, subtree user counts)
 * is computed here exactly as the services would have left it; the invariant check proves it.
 */
import type { Store } from '../src/db/store.js';
import { repositories } from '../src/db/repositories/index.js';
import type { OrgUnitRow } from '../src/db/repositories/org-unit-repository.js';
import type { UserRow } from '../src/db/repositories/user-repository.js';
import { newId } from '../src/lib/ids.js';
import { ouNameKey } from '../src/services/org-unit-names.js';

export interface SeedOptions {
  /** OUs in the big tenant. */
  ous: number;
  /** Users in the big tenant. */
  users: number;
  /** Tenants in all, the big one included. */
  tenants: number;
  /** PRNG seed: the same options and seed give the same shape (ids differ). */
  seed?: number;
  maxDepth?: number;
}

/** The OUs the benchmark scenarios aim at, with the shape each was built to have. */
export interface SeedManifest {
  options: Required<SeedOptions>;
  tenantId: string;
  otherTenantIds: string[];
  ids: {
    /** The one root: every user of the big tenant is beneath it. */
    root: string;
    /** A typical OU at depth 3 with a handful of children: the single-OU read. */
    single: string;
    /** Holds `wideChildren` direct children. */
    wide: string;
    /** A depth-3 OU whose subtree holds about 1 % of the users. */
    midLevel: string;
    /** Has `renameDescendants` descendants. */
    rename: string;
    /** A subtree of `moveOus` OUs holding `moveUsers` users, and the leaf it moves under. */
    moveSource: string;
    moveTarget: string;
    /** Has `moveUpChildren` direct children. */
    moveUp: string;
    /** A subtree of `cascadeOus` OUs. */
    cascade: string;
    /** An empty OU the create scenarios add children to. */
    createParent: string;
  };
  shape: {
    wideChildren: number;
    renameDescendants: number;
    moveOus: number;
    moveUsers: number;
    moveUpChildren: number;
    cascadeOus: number;
    midLevelUsers: number;
  };
  searchTerm: string;
}

export type Progress = (rowsWritten: number) => void;

const WORDS = [
  'Engineering', 'Sales', 'Support', 'Finance', 'Marketing', 'Legal', 'Operations', 'Research',
  'Design', 'Security', 'Platform', 'Data', 'Infrastructure', 'Product', 'People', 'Procurement',
  'Logistics', 'Quality', 'Compliance', 'Partners', 'Training', 'Facilities', 'Analytics', 'Mobile',
  'Payments', 'Identity', 'Growth', 'Content', 'Services', 'Field', 'Accounts', 'Retail',
];
const FIRST = ['Ada', 'Linus', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances', 'Niklaus', 'Radia'];
const LAST = ['Lovelace', 'Torvalds', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Thompson', 'Hamilton', 'Ritchie', 'Allen', 'Wirth', 'Perlman'];

/** mulberry32: a small, fast, seedable PRNG (the shape must be reproducible, not secret). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Node {
  row: OrgUnitRow;
  children: Node[];
}

/** Builds one tenant's OUs in memory; every derived column is set when a node is added. */
class TreeBuilder {
  readonly nodes: Node[] = [];
  private readonly nameCounters = new Map<string, number>();

  constructor(
    private readonly tenantId: string,
    private readonly random: () => number,
    private readonly timestamp: string,
  ) {}

  add(parent: Node | null, name?: string): Node {
    const id = newId('ou');
    const siblingName = name ?? this.freshName(parent);
    const row: OrgUnitRow = {
      tenant_id: this.tenantId,
      id,
      parent_id: parent?.row.id ?? null,
      name: siblingName,
      name_key: ouNameKey(siblingName),
      description: null,
      custom_attributes: null,
      external_id: null,
      path: `${parent?.row.path ?? ''}/${siblingName}`,
      id_path: `${parent?.row.id_path ?? '/'}${id}/`,
      depth: (parent?.row.depth ?? 0) + 1,
      child_ou_count: 0,
      user_count: 0,
      subtree_user_count: 0,
      children_version: 0,
      created_at: this.timestamp,
      updated_at: this.timestamp,
    };
    const node = { row, children: [] };
    if (parent) {
      parent.children.push(node);
      parent.row.child_ou_count++;
    }
    this.nodes.push(node);
    return node;
  }

  /** `Word n`, unique among the parent's children because n counts per parent and word. */
  private freshName(parent: Node | null): string {
    const word = WORDS[Math.floor(this.random() * WORDS.length)];
    const key = `${parent?.row.id ?? ''}/${word}`;
    const n = (this.nameCounters.get(key) ?? 0) + 1;
    this.nameCounters.set(key, n);
    return `${word} ${n}`;
  }

  /**
   * Adds exactly `budget` descendants under `parent`, no deeper than `maxDepth`, with skewed
   * fan-out: most OUs have a few children, a few have hundreds or thousands.
   */
  grow(parent: Node, budget: number, maxDepth: number): void {
    if (budget <= 0) return;
    const canGoDeeper = parent.row.depth + 1 < maxDepth;
    // Pareto-like fan-out: median about 6, a long tail up to the whole budget.
    const fanOut = canGoDeeper ? Math.min(budget, Math.max(1, Math.round(3 / (1 - this.random()) ** 0.9))) : budget;
    const children = Array.from({ length: fanOut }, () => this.add(parent));
    let rest = budget - fanOut;
    if (rest === 0 || !canGoDeeper) return;
    // Split what is left unevenly: weights drawn as u^3 favour a few big subtrees.
    const weights = children.map(() => this.random() ** 3 + 1e-6);
    const total = weights.reduce((a, b) => a + b, 0);
    const shares = weights.map((w) => Math.floor((rest * w) / total));
    rest -= shares.reduce((a, b) => a + b, 0);
    for (let i = 0; rest > 0; i = (i + 1) % shares.length, rest--) shares[i]++;
    children.forEach((child, i) => this.grow(child, shares[i], maxDepth));
  }

  /** Every node of the subtree rooted at `node`, itself included. */
  subtree(node: Node): Node[] {
    const out: Node[] = [];
    const stack = [node];
    while (stack.length > 0) {
      const next = stack.pop() as Node;
      out.push(next);
      stack.push(...next.children);
    }
    return out;
  }
}

/** Places `count` users over `nodes` unevenly (weights u^4): returns one OU per user. */
function placeUsers(nodes: Node[], count: number, random: () => number): Node[] {
  const weights = nodes.map(() => random() ** 4 + 1e-4);
  const total = weights.reduce((a, b) => a + b, 0);
  const placement: Node[] = [];
  nodes.forEach((node, i) => {
    const n = Math.floor((count * weights[i]) / total);
    for (let k = 0; k < n; k++) placement.push(node);
  });
  for (let i = 0; placement.length < count; i++) placement.push(nodes[i % nodes.length]);
  return placement;
}

interface TenantPlan {
  tenantId: string;
  slug: string;
  builder: TreeBuilder;
  /** The OU of each user, in the order the users are created. */
  placement: (Node | null)[];
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Lays out the big tenant; returns its plan and the manifest entries. */
function planBigTenant(options: Required<SeedOptions>, random: () => number, timestamp: string) {
  const tenantId = newId('tnt');
  const builder = new TreeBuilder(tenantId, random, timestamp);
  const { ous, users, maxDepth } = options;
  const scaled = (fraction: number, floor: number) => Math.max(floor, Math.round(ous * fraction));
  const shape = {
    wideChildren: scaled(0.1, 10),
    renameDescendants: scaled(0.01, 5),
    moveOus: scaled(0.1, 10),
    moveUsers: Math.round(users / 10),
    moveUpChildren: scaled(0.01, 5),
    cascadeOus: scaled(0.1, 10),
    midLevelUsers: 0,
  };

  const root = builder.add(null, 'Acme');
  const wide = builder.add(root, 'Stores');
  for (let i = 1; i <= shape.wideChildren; i++) builder.add(wide, `Store ${String(i).padStart(5, '0')}`);
  const rename = builder.add(root, 'Rename Me');
  builder.grow(rename, shape.renameDescendants, maxDepth);
  const moveUp = builder.add(root, 'Dissolve Me');
  for (let i = 1; i <= shape.moveUpChildren; i++) builder.add(moveUp, `Team ${String(i).padStart(4, '0')}`);
  const reorg = builder.add(root, 'Reorg');
  const moveTarget = builder.add(reorg, 'New Home');
  const moveSource = builder.add(root, 'Acquired Co');
  builder.grow(moveSource, shape.moveOus - 1, maxDepth - 2); // room to move under Reorg/New Home
  const cascade = builder.add(root, 'Shut Down');
  builder.grow(cascade, shape.cascadeOus - 1, maxDepth);
  const createParent = builder.add(root, 'Bench Creates');
  const regions = builder.add(root, 'Regions');
  builder.grow(regions, ous - builder.nodes.length, maxDepth);

  // Users: a tenth in the subtree that moves, a fiftieth in the one deleted, the rest spread
  // over everything else; then shuffled, so that ids (creation order) interleave the OUs.
  const moveNodes = builder.subtree(moveSource);
  const cascadeNodes = builder.subtree(cascade);
  const special = new Set([...moveNodes, ...cascadeNodes]);
  const elsewhere = builder.nodes.filter((n) => !special.has(n));
  const cascadeUsers = Math.round(users / 50);
  const placement = shuffle(
    [
      ...placeUsers(moveNodes, shape.moveUsers, random),
      ...placeUsers(cascadeNodes, cascadeUsers, random),
      ...placeUsers(elsewhere, users - shape.moveUsers - cascadeUsers, random),
    ],
    random,
  );
  return { tenantId, builder, placement, shape, nodes: { root, wide, rename, moveUp, moveTarget, moveSource, cascade, createParent, regions } };
}

/** Sets user_count and subtree_user_count from the placement. */
function countUsers(plan: TenantPlan): void {
  const byId = new Map(plan.builder.nodes.map((n) => [n.row.id, n]));
  for (const node of plan.placement) {
    if (!node) continue;
    node.row.user_count++;
    for (const id of node.row.id_path.split('/')) if (id) (byId.get(id) as Node).row.subtree_user_count++;
  }
}

function planSmallTenant(index: number, options: Required<SeedOptions>, random: () => number, timestamp: string): TenantPlan {
  const tenantId = newId('tnt');
  const builder = new TreeBuilder(tenantId, random, timestamp);
  const ous = Math.max(5, Math.round(options.ous / 200));
  const root = builder.add(null, `Company ${index}`);
  builder.grow(root, ous - 1, options.maxDepth);
  const placement: (Node | null)[] = shuffle(placeUsers(builder.nodes, Math.round(options.users / 200), random), random);
  return { tenantId, slug: `tenant-${index}`, builder, placement };
}

const CHUNK = 1000;
const ROWS_PER_TRANSACTION = 50_000;

/** Writes rows in chunks of CHUNK, ROWS_PER_TRANSACTION per transaction. */
async function writeInBatches<T>(store: Store, rows: T[], insert: (repos: ReturnType<typeof repositories>, chunk: T[]) => Promise<void>, progress: Progress) {
  for (let start = 0; start < rows.length; start += ROWS_PER_TRANSACTION) {
    const batch = rows.slice(start, start + ROWS_PER_TRANSACTION);
    await store.transaction(async (trx) => {
      const repos = repositories(trx);
      for (let i = 0; i < batch.length; i += CHUNK) {
        const chunk = batch.slice(i, i + CHUNK);
        await insert(repos, chunk);
        progress(chunk.length);
        // better-sqlite3 never yields: let timers (the progress bar) run between chunks.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  }
}

function userRows(plan: TenantPlan, random: () => number, timestamp: string): UserRow[] {
  return plan.placement.map((node, i) => {
    const first = FIRST[Math.floor(random() * FIRST.length)];
    const last = LAST[Math.floor(random() * LAST.length)];
    const email = `${first.toLowerCase()}.${last.toLowerCase()}.${i + 1}@${plan.slug}.example.com`;
    const displayName = `${first} ${last}`;
    return {
      tenant_id: plan.tenantId,
      id: newId('usr'),
      email,
      email_key: email,
      display_name: displayName,
      display_name_key: displayName.toLowerCase(),
      ou_id: node?.row.id ?? null,
      status: random() < 0.05 ? 'disabled' : 'active',
      custom_attributes: null,
      external_id: null,
      created_at: timestamp,
      updated_at: timestamp,
    };
  });
}

/** Total rows `seed` will write: for a progress bar. */
export function plannedRows(options: SeedOptions): number {
  const small = options.tenants - 1;
  return options.ous + options.users + small * (Math.max(5, Math.round(options.ous / 200)) + Math.round(options.users / 200));
}

/** Fills an empty, migrated store; returns what the benchmark needs to find its targets. */
export async function seed(store: Store, input: SeedOptions, progress: Progress = () => {}): Promise<SeedManifest> {
  const options: Required<SeedOptions> = { seed: 20261128, maxDepth: 8, ...input };
  const random = prng(options.seed);
  const timestamp = new Date().toISOString();
  const big = planBigTenant(options, random, timestamp);
  const plans: TenantPlan[] = [{ tenantId: big.tenantId, slug: 'acme', builder: big.builder, placement: big.placement }];
  for (let i = 2; i <= options.tenants; i++) plans.push(planSmallTenant(i, options, random, timestamp));

  for (const plan of plans) {
    countUsers(plan);
    await store.transaction(async (trx) => {
      await repositories(trx).tenants.insert({
        id: plan.tenantId,
        name: plan.slug === 'acme' ? 'Acme (benchmark)' : `Benchmark tenant ${plan.slug}`,
        slug: plan.slug,
        ou_count: plan.builder.nodes.length,
        created_at: timestamp,
        updated_at: timestamp,
      });
    });
    // Parents before children: the builder added them in that order.
    await writeInBatches(store, plan.builder.nodes.map((n) => n.row), (repos, chunk) => repos.orgUnits.insertMany(chunk), progress);
    await writeInBatches(store, userRows(plan, random, timestamp), (repos, chunk) => repos.users.insertMany(chunk), progress);
  }

  // The single-OU read: a depth-3 OU with 3 to 10 children; mid-level: the depth-3 OU whose
  // subtree holds closest to 1 % of the users.
  const regionNodes = big.builder.subtree(big.nodes.regions);
  const depth3 = regionNodes.filter((n) => n.row.depth === 3);
  const single = depth3.find((n) => n.children.length >= 3 && n.children.length <= 10) ?? depth3[0];
  const target = options.users / 100;
  const midLevel = depth3.reduce((best, n) =>
    Math.abs(n.row.subtree_user_count - target) < Math.abs(best.row.subtree_user_count - target) ? n : best,
  );
  return {
    options,
    tenantId: big.tenantId,
    otherTenantIds: plans.slice(1).map((p) => p.tenantId),
    ids: {
      root: big.nodes.root.row.id,
      single: single.row.id,
      wide: big.nodes.wide.row.id,
      midLevel: midLevel.row.id,
      rename: big.nodes.rename.row.id,
      moveSource: big.nodes.moveSource.row.id,
      moveTarget: big.nodes.moveTarget.row.id,
      moveUp: big.nodes.moveUp.row.id,
      cascade: big.nodes.cascade.row.id,
      createParent: big.nodes.createParent.row.id,
    },
    shape: { ...big.shape, midLevelUsers: midLevel.row.subtree_user_count },
    searchTerm: 'financ',
  };
}

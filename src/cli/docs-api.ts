/**
 * `npm run docs:api`: regenerates docs/api/*.md from the live OpenAPI document.
 * `npm run docs:api -- --check`: writes nothing, exits 1 naming the pages that are out of date.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';
import { type OpenApiDocument, renderApiReference } from './api-reference.js';
import { runCli } from './open-store.js';

// Relative to this file, not the working directory: the same folder from src/ (tsx) and dist/.
const OUT_DIR = fileURLToPath(new URL('../../docs/api/', import.meta.url));

const USAGE = `Regenerates docs/api/*.md from the live OpenAPI document.

  npm run docs:api             write the pages, delete pages no longer generated
  npm run docs:api -- --check  write nothing; exit 1 when the committed pages are out of date`;

interface Drift {
  file: string;
  reason: 'differs' | 'missing' | 'no longer generated';
}

/** Renders the pages from a throwaway in-memory app, so no database or environment leaks in. */
async function renderLivePages(): Promise<Map<string, string>> {
  const { app, store } = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }), { logger: false });
  try {
    // fastify-swagger types the document loosely (2.0 or 3.x); Arbor registers an OpenAPI 3.1 one.
    return renderApiReference(app.swagger() as OpenApiDocument);
  } finally {
    await app.close();
    await store.close();
  }
}

function committedPages(): string[] {
  if (!existsSync(OUT_DIR)) return [];
  return readdirSync(OUT_DIR, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.md'))
    .map((entry) => entry.name)
    .sort();
}

function driftOf(pages: Map<string, string>): Drift[] {
  const drift: Drift[] = [];
  for (const [file, content] of pages) {
    const path = join(OUT_DIR, file);
    if (!existsSync(path)) drift.push({ file, reason: 'missing' });
    else if (readFileSync(path, 'utf8') !== content) drift.push({ file, reason: 'differs' });
  }
  for (const file of committedPages()) {
    if (!pages.has(file)) drift.push({ file, reason: 'no longer generated' });
  }
  return drift;
}

function shown(file: string): string {
  return relative(process.cwd(), join(OUT_DIR, file));
}

function check(pages: Map<string, string>): number {
  const drift = driftOf(pages);
  if (drift.length === 0) {
    console.log(`${shown('')} is up to date (${pages.size} pages).`);
    return 0;
  }
  console.error(`${shown('')} is out of date; run \`npm run docs:api\` and commit the result:`);
  for (const { file, reason } of drift) console.error(`  ${shown(file)}: ${reason}`);
  return 1;
}

function write(pages: Map<string, string>): number {
  mkdirSync(OUT_DIR, { recursive: true });
  for (const file of committedPages()) {
    if (pages.has(file)) continue;
    rmSync(join(OUT_DIR, file));
    console.log(`deleted ${shown(file)} (no longer generated)`);
  }
  for (const [file, content] of pages) {
    writeFileSync(join(OUT_DIR, file), content);
    console.log(`wrote ${shown(file)}`);
  }
  return 0;
}

function options(): { check: boolean; help: boolean } | undefined {
  try {
    const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
    return values;
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return undefined;
  }
}

runCli(async () => {
  const values = options();
  if (!values) return 2;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const pages = await renderLivePages();
  return values.check ? check(pages) : write(pages);
});

/**
 * `npm run docs:api`: regenerates docs/api/*.md from the live OpenAPI document.
 * `npm run docs:api -- --check`: writes nothing, exits 1 naming the pages that are out of date.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { API_DOCS_DIR as OUT_DIR, committedPages, findDrift, renderLivePages } from './api-reference-pages.js';
import { runCli } from './open-store.js';

const USAGE = `Regenerates docs/api/*.md from the live OpenAPI document.

  npm run docs:api             write the pages, delete pages no longer generated
  npm run docs:api -- --check  write nothing; exit 1 when the committed pages are out of date`;

function shown(file: string): string {
  return relative(process.cwd(), join(OUT_DIR, file));
}

function check(pages: Map<string, string>): number {
  const drift = findDrift(pages);
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

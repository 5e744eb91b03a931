import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';
import { type OpenApiDocument, renderApiReference } from './api-reference.js';

// Relative to this file, not the working directory: the same folder from src/ (tsx) and dist/.
export const API_DOCS_DIR = fileURLToPath(new URL('../../docs/api/', import.meta.url));

export interface Drift {
  file: string;
  reason: 'differs' | 'missing' | 'no longer generated';
}

/** Renders the pages from a throwaway in-memory app, so no database or environment leaks in. */
export async function renderLivePages(): Promise<Map<string, string>> {
  return renderApiReference(await liveOpenApiDocument());
}

/**
 * The OpenAPI document an Arbor with the default settings serves (its server: the default
 * ARBOR_ISSUER), from an app built on an in-memory store: what docs/api and the SDK are made from.
 */
export async function liveOpenApiDocument(): Promise<OpenApiDocument> {
  const { app, store } = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', ARBOR_METRICS_PORT: '0' }), { logger: false, bootstrapAdminClient: false });
  try {
    // fastify-swagger types the document loosely (2.0 or 3.x); Arbor registers an OpenAPI 3.1 one.
    return app.swagger() as OpenApiDocument;
  } finally {
    await app.close();
    await store.close();
  }
}

/** The .md files now in docs/api, sorted. */
export function committedPages(): string[] {
  if (!existsSync(API_DOCS_DIR)) return [];
  return readdirSync(API_DOCS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.md'))
    .map((entry) => entry.name)
    .sort();
}

/** How the committed pages differ from `pages`; empty when they are up to date. */
export function findDrift(pages: Map<string, string>): Drift[] {
  const drift: Drift[] = [];
  for (const [file, content] of pages) {
    const path = join(API_DOCS_DIR, file);
    if (!existsSync(path)) drift.push({ file, reason: 'missing' });
    else if (readFileSync(path, 'utf8') !== content) drift.push({ file, reason: 'differs' });
  }
  for (const file of committedPages()) {
    if (!pages.has(file)) drift.push({ file, reason: 'no longer generated' });
  }
  return drift;
}

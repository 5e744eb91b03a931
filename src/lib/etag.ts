import { hash } from 'node:crypto';

/**
 * A strong ETag for a resource's representation: a digest of its JSON. Whatever the response
 * body's `data` holds (an OU's children and their counts included) is covered, so the tag
 * changes exactly when that body would. Costs one JSON.stringify and a SHA-256 per response
 * (the one-shot `hash`: half the time of a `createHash` object for a body this size).
 */
export function etagOf(representation: unknown): string {
  return etagOfJson(JSON.stringify(representation));
}

/** The ETag of a representation already rendered with JSON.stringify (or its UTF-8 bytes): the same as etagOf's. */
export function etagOfJson(json: string | Buffer): string {
  return `"${hash('sha256', json, 'base64url').slice(0, 27)}"`;
}

/** The entity tags of an If-Match / If-None-Match header: `*`, or a list of (maybe weak) tags. */
function tagsOf(header: string): string[] {
  return header
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
}

/** RFC 9110 §13.1.1: `*` or one of the listed tags, compared strongly (a weak tag never matches). */
export function ifMatchAllows(header: string, current: string): boolean {
  return tagsOf(header).some((tag) => tag === '*' || tag === current);
}

/** RFC 9110 §13.1.2: `*` or one of the listed tags, compared weakly. */
export function ifNoneMatchHits(header: string, current: string): boolean {
  const strong = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);
  return tagsOf(header).some((tag) => tag === '*' || strong(tag) === current);
}

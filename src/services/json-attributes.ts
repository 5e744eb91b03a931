import { canonicalJson } from '../lib/canonical-json.js';

/** custom_attributes are stored as JSON text; null means none. */
export function encodeAttributes(value: Record<string, unknown> | null | undefined): string | null {
  return value == null ? null : JSON.stringify(value);
}

/** The stored attributes are `value` (an object in another key order is the same attributes). */
export function sameAttributes(stored: string | null, value: Record<string, unknown> | null): boolean {
  return stored === null || value === null ? stored === null && value === null : canonicalJson(JSON.parse(stored)) === canonicalJson(value);
}

export function decodeAttributes(text: string | null): Record<string, unknown> | null {
  return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
}

import { ulid } from 'ulid';

/**
 * Opaque ids: a type prefix and a ULID (48-bit time, 80 random bits), lower-cased.
 * Time-ordered to the millisecond, so "order by id" is creation order (ties within one
 * millisecond fall in random order: a monotonic counter would make the next id guessable)
 * and B-tree inserts stay append-mostly.
 */
export type IdPrefix = 'tnt' | 'ou' | 'usr' | 'cli';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid().toLowerCase()}`;
}

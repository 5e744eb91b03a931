/**
 * The key names are compared and searched by: Unicode-normalized (NFC) and lowercased, so "Ä"
 * written composed or decomposed, upper or lower case, is one key. Computed here rather than by
 * the database, whose lower() folds ASCII only on SQLite. OU names (sibling uniqueness, search)
 * and tenant names (search) use it.
 */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

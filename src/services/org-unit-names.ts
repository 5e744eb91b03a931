import { RequestValidationError } from '../errors.js';
import { nameKey } from '../lib/name-key.js';

export const MAX_OU_NAME_LENGTH = 255;
// C0 controls, DEL and C1 controls: invisible, and they break paths, logs and terminals.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Trims an OU name and checks the rules a JSON schema cannot: 422 in FastAPI's shape otherwise. */
export function normalizeOuName(raw: string): string {
  const name = raw.trim();
  const fail = (type: string, msg: string): never => {
    throw new RequestValidationError([{ loc: ['body', 'name'], msg, type }]);
  };
  if (name.length === 0) fail('string_too_short', 'Name must contain at least 1 character that is not whitespace');
  // Characters as people count them (code points), as JSON Schema's maxLength does.
  if ([...name].length > MAX_OU_NAME_LENGTH) fail('string_too_long', `Name must have at most ${MAX_OU_NAME_LENGTH} characters after trimming`);
  if (name.includes('/')) fail('value_error', "Name must not contain '/': it separates the levels of an OU path");
  if (CONTROL_CHARACTERS.test(name)) fail('value_error', 'Name must not contain control characters');
  return name;
}

/** The key sibling uniqueness and search compare: case-insensitive, Unicode-normalized. */
export const ouNameKey = nameKey;

import fc from 'fast-check';

/**
 * fast-check arbitraries derived from JSON schemas (the ones the OpenAPI document publishes and the
 * routes validate against), valid values and mutated ones, plus the pools of interesting values
 * they mix in: edge strings, edge numbers, deep and huge JSON.
 */

// The subset of JSON Schema the OpenAPI document uses; anything else is generated as free JSON.
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  default?: unknown;
  [keyword: string]: unknown;
}

export type IdKind = 'tenant' | 'ou' | 'user' | 'client';
export type Owner = 'A' | 'B' | 'X';
/** How an id is bent: as it is, unknown with the right prefix, an id of another kind, or slightly altered. */
export type Twist = 'exact' | 'missing' | 'other-kind' | 'upper' | 'padded' | 'truncated' | 'suffixed';

/**
 * A symbolic id, resolved against the store only when the request is sent: the seeded data
 * changes while the fuzzer runs (a generated DELETE may succeed), and a replay must still find ids.
 */
export class IdRef {
  constructor(
    readonly kind: IdKind,
    readonly owner: Owner,
    readonly n: number,
    readonly twist: Twist,
  ) {}
  [fc.toStringMethod](): string {
    return `IdRef(${this.kind} of ${this.owner} #${this.n}${this.twist === 'exact' ? '' : `, ${this.twist}`})`;
  }
  toJSON(): string {
    throw new Error('an IdRef must be resolved before it is serialized');
  }
}

/** JSON text sent as it is: numbers JSON.stringify cannot write (1e309), nesting too deep to build as objects. */
export class RawJson {
  constructor(
    readonly text: string,
    readonly label: string,
  ) {}
  [fc.toStringMethod](): string {
    return `RawJson(${this.label})`;
  }
}

const ID_FIELDS: Record<string, IdKind> = { tenant_id: 'tenant', ou_id: 'ou', parent_id: 'ou', user_id: 'user', client_id: 'client' };

/** The kind of id a field or parameter of this name holds, if any. */
export function idKindOf(name: string | undefined): IdKind | undefined {
  return name === undefined ? undefined : ID_FIELDS[name];
}

export function idRefArb(kind: IdKind): fc.Arbitrary<IdRef> {
  const owner: fc.Arbitrary<Owner> = kind === 'tenant'
    ? fc.oneof({ weight: 12, arbitrary: fc.constant('A' as const) }, { weight: 5, arbitrary: fc.constant('B' as const) }, { weight: 2, arbitrary: fc.constant('X' as const) })
    : fc.oneof({ weight: 12, arbitrary: fc.constant('A' as const) }, { weight: 4, arbitrary: fc.constant('B' as const) });
  const twist = fc.oneof(
    { weight: 14, arbitrary: fc.constant<Twist>('exact') },
    { weight: 2, arbitrary: fc.constant<Twist>('missing') },
    { weight: 2, arbitrary: fc.constant<Twist>('other-kind') },
    { weight: 1, arbitrary: fc.constantFrom<Twist>('upper', 'padded', 'truncated', 'suffixed') },
  );
  return fc.tuple(owner, fc.nat(63), twist).map(([o, n, t]) => new IdRef(kind, o, n, t));
}

// ---------------------------------------------------------------------------------------------
// Pools of interesting values

const EMOJI = '\u{1F600}';
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}';

/** Strings that break things: empty and huge, NUL, lone surrogates, RTL marks, combining marks, 4-byte emoji, '/', controls. */
export const EDGE_STRINGS: readonly string[] = [
  '', ' ', '   ', '\t', '\n', '\r\n', 'a', 'A', '0', '-1', 'null', 'true', '[]', '{}', '""',
  // NUL and other controls
  '\u0000', 'a\u0000b', 'name\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\u009f', 'line\nbreak', 'tab\there', '\u2028', '\u2029',
  // Lone and reversed surrogates (sent as \ud800 escapes in JSON, as WTF-8 bytes in URLs)
  '\ud800', 'a\udc00b', '\udfff\ud800', `${EMOJI.slice(0, 1)}x`, `x${EMOJI.slice(1)}`,
  // Direction marks and invisible characters
  '\u202eevil', 'abc\u202e', '\u200f\u200e', '\u200b', '\ufeffbom', '\u2066isolate\u2069', '\u00ad',
  // Combining characters, normalization forms, case folding oddities
  'e\u0301', 'caf\u00e9', 'cafe\u0301', 'Caf\u00c9', 'a\u0300\u0301\u0302\u0303\u0304\u0305', 'Z\u0335\u0321\u0322\u0347\u0344a\u0337l\u0336g\u0336o',
  '\u0130stanbul', '\u0131', 'stra\u00dfe', 'STRASSE', '\u1e9e', '\u03a3\u03c3\u03c2', '\ufb03', '\u212b', '\u212a', '\uff11\uff12\uff13', '\u0663',
  // 4-byte characters
  EMOJI, FAMILY, '\u{1F3F3}\uFE0F\u200D\u{1F308}', '\u{1D518}\u{1D52B}\u{1D526}', '\u{10FFFF}', `${EMOJI}`.repeat(255), `${EMOJI}`.repeat(256),
  // Path separators and LIKE/SQL/template metacharacters
  '/', 'a/b', '/leading', 'trailing/', '//', '.', '..', '../..', '\\', 'a\\b', '%', '_', '%_\\', '%%', "' OR '1'='1", '"; drop table users; --',
  '${x}', '{{x}}', '<script>alert(1)</script>', '\u0000\u0000\u0000',
  // Prototype keys
  '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString',
  // Id look-alikes
  'tnt_', 'ou_', 'usr_', 'cli_', 'ou_00000000000000000000000000', 'tnt_01m8hjcwek660wgd5rzcqwtnr5',
  // Lengths at and past the limits (255 names, 4096 descriptions, 64 ids, 320 emails)
  'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(255), 'a'.repeat(256), `${' '.repeat(20)}a${' '.repeat(300)}`,
  '\u00e9'.repeat(255), '\u00e9'.repeat(256), 'a'.repeat(4096), 'a'.repeat(4097), 'x'.repeat(70_000),
];

/** Numbers at the edges, as JSON values (JSON.stringify writes NaN and Infinity as null). */
export const EDGE_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 0.5, 1.5, 100, 101, 2 ** 31 - 1, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e-7, Number.NaN, Number.POSITIVE_INFINITY,
];

/** JSON number tokens no JavaScript value prints as. */
export const RAW_NUMBERS: readonly string[] = ['1e309', '-1e309', '1E2', '1e2', '-0', '0.0', '9007199254740993', '123456789012345678901234567890', '1.0000000000000000001', '0e0'];

/** Query-string values: the text forms numbers, booleans and enums arrive in. */
export const EDGE_QUERY_VALUES: readonly string[] = [
  '0', '-1', '1', '2', '100', '101', '1e2', '1e309', '-1e309', '1.0', '1.5', '', ' ', ' 1', '1 ', 'abc', '0x10', '0b1', '+5', '00001', '\u0663', '\uff11',
  '2147483647', '2147483648', '9007199254740993', '99999999999999999999999', 'NaN', 'Infinity', '-Infinity', 'true', 'false', 'TRUE', '1,2', '[1]',
  'null', 'undefined', 'BLOCK', 'block', 'MOVE_UP', 'CASCADE', 'CASCADE ', 'active', 'ACTIVE', 'disabled', '%', '%%', '_', '\\', '\u0000', '\ud800',
  '\u202e', 'e\u0301', EMOJI, 'a'.repeat(255), 'a'.repeat(256), 'x'.repeat(2000),
];

export const edgeStringArb: fc.Arbitrary<string> = fc.constantFrom(...EDGE_STRINGS);

/** Strings of UTF-16 code units: lone surrogates and controls included. */
export const utf16StringArb: fc.Arbitrary<string> = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });

/** Mostly printable text of every plane, with the edge pool and raw UTF-16 mixed in. */
export const anyStringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 2, arbitrary: utf16StringArb },
  { weight: 5, arbitrary: edgeStringArb },
);

export const edgeNumberArb: fc.Arbitrary<number | RawJson> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom(...RAW_NUMBERS).map((text) => new RawJson(text, text)) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.integer() },
);

/** Any JSON value, small. */
export const anyJsonArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 3, arbitrary: anyStringArb },
  { weight: 2, arbitrary: edgeNumberArb },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [null], { '': null }) },
);

/** Object keys that cause trouble: prototype names, empty, NUL, lone surrogates, dots and dollars. */
export const edgeKeyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 10 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('', '__proto__', 'constructor', 'prototype', '\u0000', '\ud800', 'a.b', '$where', '$ref', 'a'.repeat(300), EMOJI, '\u202ekey', 'e\u0301', ' '),
  },
);

/** `depth` levels of objects, written as text (too deep to build as objects and stringify). */
export function nestedObjectText(depth: number, leaf = '1'): string {
  return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}

export function nestedArrayText(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** A JSON object of about `bytes` bytes of text. */
export function bigObjectText(bytes: number, keys = 1): string {
  if (keys <= 1) return `{"blob":${JSON.stringify('x'.repeat(Math.max(0, bytes - 11)))}}`;
  const each = Math.max(1, Math.floor(bytes / keys) - 12);
  const parts: string[] = [];
  for (let i = 0; i < keys; i++) parts.push(`"k${String(i).padStart(5, '0')}":${JSON.stringify('v'.repeat(each))}`);
  return `{${parts.join(',')}}`;
}

const ATTRIBUTE_LIMIT = 16 * 1024;

/**
 * Free-form JSON objects (custom_attributes): small ones, weird keys, nesting at and past the
 * depth limit (8), up to far beyond what a recursive walk survives, and sizes around the 16 KiB
 * limit, 100 KB, and rarely past the 1 MiB body limit.
 */
export const attributesArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) },
  { weight: 3, arbitrary: fc.dictionary(edgeKeyArb, anyJsonArb, { maxKeys: 4 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(1, 2, 7, 8, 9, 10, 50, 64, 200, 1000).map((depth) => new RawJson(nestedObjectText(depth), `object nested ${depth} deep`)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(5000, 20_000, 100_000).map((depth) => new RawJson(`{"deep":${nestedArrayText(depth)}}`, `arrays nested ${depth} deep`)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(20_000, 100_000).map((depth) => new RawJson(nestedObjectText(depth), `object nested ${depth} deep`)),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(ATTRIBUTE_LIMIT - 64, ATTRIBUTE_LIMIT, ATTRIBUTE_LIMIT + 1, ATTRIBUTE_LIMIT + 64, 100_000)
      .chain((bytes) => fc.constantFrom(1, 500).map((keys) => new RawJson(bigObjectText(bytes, keys), `${bytes} bytes in ${keys} key(s)`))),
  },
  { weight: 1, arbitrary: fc.constantFrom({}, { '': '' }, { a: null }, { a: [] }, { nested: { deeper: { deepest: EMOJI } } }) },
);

/** Free-form objects a service should store as they are: small, keys odd but well-formed, nesting within limits. */
export const validAttributesArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.constantFrom('', '__proto__', 'constructor', 'a.b', '$where', EMOJI, 'e\u0301', '\u202ekey', ' '), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }).map((depth) => new RawJson(nestedObjectText(depth), `object nested ${depth} deep`)) },
  { weight: 1, arbitrary: fc.constantFrom({}, { a: null }, { a: [] }, { nested: { deeper: { deepest: EMOJI } } }, { text: 'a\u0000b', rtl: '\u202e', emoji: FAMILY }) },
);

// ---------------------------------------------------------------------------------------------
// JSON schema -> arbitrary

export interface SchemaContext {
  /** The schema a `$ref` names (`#/components/schemas/X`). */
  resolve(ref: string): JsonSchema;
  /** More values for a named field, e.g. known scope names, slugs, emails already taken. */
  hints?: Readonly<Record<string, fc.Arbitrary<unknown>>>;
}

function deref(schema: JsonSchema, context: SchemaContext): JsonSchema {
  let current = schema;
  for (let i = 0; current.$ref !== undefined && i < 20; i++) current = { ...context.resolve(current.$ref), ...withoutRef(current) };
  return current;
}

function withoutRef(schema: JsonSchema): JsonSchema {
  const { $ref: _ignored, ...rest } = schema;
  return rest;
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  if (typeof schema.type === 'string') return [schema.type];
  return [];
}

function validString(schema: JsonSchema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? Math.max(min, 40);
  if (schema.format === 'email') {
    return fc.oneof(
      { weight: 6, arbitrary: fc.emailAddress().filter((e) => e.length <= max) },
      { weight: 1, arbitrary: fc.constantFrom('a@b.co', 'A@B.CO', 'first.last+tag@example.com', '\u00fc\u00f1\u00ee@example.com', `${'l'.repeat(64)}@example.com`) },
    );
  }
  if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
  const cap = Math.min(max, 40);
  const text = fc.oneof(
    { weight: 6, arbitrary: fc.string({ minLength: min, maxLength: Math.max(min, cap) }) },
    // A grapheme may be several code points, and limits count code points.
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: Math.max(min, Math.min(cap, 16)) }).filter((t) => [...t].length <= max) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: Math.max(min, Math.min(cap, 16)) }) },
    { weight: 1, arbitrary: fc.constantFrom('a', 'e\u0301', '\u202eRTL', EMOJI, FAMILY, 'caf\u00e9').filter((s) => [...s].length >= min && [...s].length <= max) },
    ...(schema.maxLength !== undefined
      ? [{ weight: 1, arbitrary: fc.constantFrom('a'.repeat(schema.maxLength), EMOJI.repeat(schema.maxLength)) }]
      : []),
  );
  const pattern = schema.pattern === undefined ? null : new RegExp(schema.pattern, 'u');
  // A pattern (only `\S` today) is met by almost every string: filter, but never spin forever.
  return pattern ? text.map((s) => (pattern.test(s) ? s : `${s}x`.slice(-Math.max(1, max)))) : text;
}

function validInteger(schema: JsonSchema): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -(2 ** 31));
  const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 2 ** 31 - 1);
  return fc.oneof({ weight: 4, arbitrary: fc.integer({ min, max: Math.min(max, min + 30) }) }, { weight: 2, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(min, max) });
}

/** Values that validate against `schema` (plus the service's own rules where a hint supplies them). */
export function validArb(schema: JsonSchema, context: SchemaContext, name?: string, depth = 0): fc.Arbitrary<unknown> {
  const s = deref(schema, context);
  const hint = name !== undefined ? context.hints?.[name] : undefined;
  const base = validArbUnhinted(s, context, name, depth);
  const kind = idKindOf(name);
  const withIds = kind && typesOf(s).includes('string') ? fc.oneof({ weight: 1, arbitrary: base }, { weight: 4, arbitrary: idRefArb(kind) }) : base;
  return hint ? fc.oneof({ weight: 1, arbitrary: withIds }, { weight: 2, arbitrary: hint }) : withIds;
}

function validArbUnhinted(s: JsonSchema, context: SchemaContext, name: string | undefined, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const branches = s.anyOf ?? s.oneOf;
  if (branches) {
    // A nullable field: mostly the value, sometimes null.
    return fc.oneof(...branches.map((b) => ({ weight: typesOf(deref(b, context)).includes('null') ? 1 : 4, arbitrary: validArb(b, context, name, depth) })));
  }
  if (s.allOf) return validArb(Object.assign({}, ...s.allOf.map((b) => deref(b, context))), context, name, depth);
  const types = typesOf(s);
  if (types.length > 1) return fc.oneof(...types.map((type) => validArb({ ...s, type }, context, name, depth)));
  switch (types[0]) {
    case 'string':
      return validString(s);
    case 'integer':
      return validInteger(s);
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: s.minimum, max: s.maximum });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = s.items ? validArb(s.items, context, name, depth + 1) : anyJsonArb;
      return fc.array(item, { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 5, Math.max(s.minItems ?? 0, 5)) });
    }
    case 'object':
      return validObject(s, context, depth);
    default:
      return anyJsonArb;
  }
}

function validObject(s: JsonSchema, context: SchemaContext, depth: number): fc.Arbitrary<unknown> {
  const properties = s.properties ?? {};
  const names = Object.keys(properties);
  // A free-form object (custom_attributes): the attributes generator, edge cases included.
  if (names.length === 0) return s.additionalProperties === false ? fc.constant({}) : validAttributesArb;
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const property of names) model[property] = validArb(properties[property], context, property, depth + 1);
  return fc.record(model, { requiredKeys: (s.required ?? []).filter((r) => names.includes(r)) });
}

/**
 * Values that are probably invalid for `schema`, or valid only at an edge: wrong types, edge strings
 * and numbers, lengths past the limits, and for objects a missing required field, extra fields,
 * one field bent, or not an object at all.
 */
export function mutatedArb(schema: JsonSchema, context: SchemaContext, name?: string, depth = 0): fc.Arbitrary<unknown> {
  const s = deref(schema, context);
  const types = new Set([...typesOf(s), ...(s.anyOf ?? s.oneOf ?? []).flatMap((b) => typesOf(deref(b, context)))]);
  const options: fc.WeightedArbitrary<unknown>[] = [
    { weight: 3, arbitrary: anyJsonArb },
    { weight: 3, arbitrary: anyStringArb },
    { weight: 2, arbitrary: edgeNumberArb },
  ];
  if (types.has('string')) {
    const limits = [s.minLength, s.maxLength].filter((n): n is number => typeof n === 'number');
    options.push({ weight: 5, arbitrary: edgeStringArb });
    if (limits.length > 0) {
      options.push({ weight: 2, arbitrary: fc.constantFrom(...limits.flatMap((n) => [n - 1, n, n + 1]).filter((n) => n >= 0)).map((n) => 'b'.repeat(n)) });
    }
    const kind = idKindOf(name);
    if (kind) options.push({ weight: 6, arbitrary: idRefArb(kind) });
  }
  if (types.has('integer') || types.has('number')) options.push({ weight: 4, arbitrary: edgeNumberArb });
  if (s.enum) options.push({ weight: 3, arbitrary: fc.constantFrom(...s.enum.flatMap((v) => (typeof v === 'string' ? [v.toLowerCase(), ` ${v}`, `${v}\u0000`, v.toUpperCase()] : [v]))) });
  if (types.has('object') && depth < 3) options.push({ weight: 6, arbitrary: mutatedObject(s, context, depth) });
  if (types.has('array') && s.items) {
    options.push({ weight: 4, arbitrary: fc.array(fc.oneof(validArb(s.items, context, name, depth + 1), mutatedArb(s.items, context, name, depth + 1)), { maxLength: 25 }) });
  }
  if (context.hints && name !== undefined && context.hints[name]) options.push({ weight: 2, arbitrary: context.hints[name] });
  return fc.oneof(...options);
}

function mutatedObject(s: JsonSchema, context: SchemaContext, depth: number): fc.Arbitrary<unknown> {
  const properties = s.properties ?? {};
  const names = Object.keys(properties);
  if (names.length === 0) return attributesArb;
  const valid = validObject(s, context, depth) as fc.Arbitrary<Record<string, unknown>>;
  const all = [...new Set([...names, ...(s.required ?? [])])];
  return fc.oneof(
    // A required (or any) field missing.
    { weight: 2, arbitrary: fc.tuple(valid, fc.constantFrom(...all)).map(([value, drop]) => omit(value, drop)) },
    // Extra fields, prototype keys among them.
    { weight: 2, arbitrary: fc.tuple(valid, fc.dictionary(edgeKeyArb, anyJsonArb, { minKeys: 1, maxKeys: 3 })).map(([value, extra]) => ({ ...extra, ...value, ...extra })) },
    // One field bent.
    {
      weight: 6,
      arbitrary: fc
        .constantFrom(...names)
        .chain((field) => fc.tuple(valid, fc.constant(field), mutatedArb(properties[field], context, field, depth + 1)))
        .map(([value, field, bad]) => ({ ...value, [field]: bad })),
    },
    // Two fields bent.
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...names), fc.constantFrom(...names))
        .chain(([value, a, b]) => fc.tuple(mutatedArb(properties[a], context, a, depth + 1), mutatedArb(properties[b], context, b, depth + 1)).map(([x, y]) => ({ ...value, [a]: x, [b]: y }))),
    },
    // Every field null.
    { weight: 1, arbitrary: fc.constant(Object.fromEntries(names.map((n) => [n, null]))) },
    // Not an object at all.
    { weight: 1, arbitrary: fc.constantFrom<unknown>([], [{}], 'text', '', 0, -1, true, null, [null]) },
  );
}

function omit(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = value;
  return rest;
}

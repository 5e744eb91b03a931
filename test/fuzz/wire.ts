import { IdRef, RawJson } from './arbitraries.js';
import type { Operation } from './operations.js';
import type { AuthPlan, PathMutation, QueryPart, RequestPlan, TokenPlan } from './plans.js';

/** How a plan becomes an `inject` call, ids and tokens resolved against the world as it is now. */

/** encodeURIComponent that never throws: a lone surrogate becomes its WTF-8 bytes (invalid UTF-8 on purpose). */
export function encodeLoose(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}

/**
 * JSON text of a generated value: RawJson as written, everything else as JSON.stringify would
 * (which writes a lone surrogate as a \ud800 escape). IdRefs must have been resolved.
 */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof IdRef) throw new Error('unresolved IdRef');
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJsonText(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${toJsonText(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `value` with every IdRef replaced by `resolve(ref)` (the structure is small: recursion is fine). */
export function resolveIds(value: unknown, resolve: (ref: IdRef) => string): unknown {
  if (value instanceof IdRef) return resolve(value);
  if (value instanceof RawJson) return value;
  if (Array.isArray(value)) return value.map((v) => resolveIds(v, resolve));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // Own property even for "__proto__", as a JSON body would have it.
      Object.defineProperty(out, k, { value: resolveIds(v, resolve), enumerable: true, configurable: true, writable: true });
    }
    return out;
  }
  return value;
}

export interface Wire {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  remoteAddress: string;
}

export interface Resolver {
  resolveId(ref: IdRef): string;
  authorization(auth: AuthPlan): Promise<string | undefined>;
  credentials(owner: 'A' | 'B'): { id: string; secret: string };
}

const OVERSIZED = `{"name": "${'x'.repeat(1024 * 1024 + 16)}"}`;

function applyPathMutation(op: Operation, values: Record<string, string>, mutation: PathMutation | null): string {
  const encoded = (overrides: Record<string, string> = {}) =>
    op.route.replace(/:(\w+)/g, (_, name: string) => overrides[name] ?? encodeLoose(values[name] ?? ''));
  const firstParam = op.pathParams[0]?.name;
  switch (mutation) {
    case null:
      return encoded();
    case 'trailing-slash':
      return `${encoded()}/`;
    case 'double-slash':
      return encoded().replace(/\/([^/]*)$/, '//$1');
    case 'bad-percent':
      return firstParam ? encoded({ [firstParam]: `${encodeLoose(values[firstParam] ?? '')}%ZZ` }) : `${encoded()}%`;
    case 'overlong-utf8':
      return firstParam ? encoded({ [firstParam]: '%C0%AF' }) : `${encoded()}%C0%AF`;
    case 'dot-segment':
      return encoded().replace(/^\/([^/]+)/, '/$1/./x/..');
    case 'upper-case':
      return encoded().toUpperCase();
    case 'long-url':
      return firstParam ? encoded({ [firstParam]: 'L'.repeat(9000) }) : `${encoded()}?pad=${'p'.repeat(9000)}`;
    case 'raw-slash-in-param':
      return firstParam ? encoded({ [firstParam]: `${encodeLoose(values[firstParam] ?? '')}/ous` }) : `${encoded()}/x`;
    case 'encoded-slash-in-param':
      return firstParam ? encoded({ [firstParam]: `${encodeLoose(values[firstParam] ?? '')}%2Fous` }) : `${encoded()}%2F`;
    case 'nul-in-param':
      return firstParam ? encoded({ [firstParam]: `${encodeLoose(values[firstParam] ?? '')}%00` }) : `${encoded()}%00`;
    case 'fragment':
      return `${encoded()}#frag`;
    case 'raw-unicode':
      return firstParam ? encoded({ [firstParam]: `\u00e9\u{1F600}${values[firstParam] ?? ''}` }) : `${encoded()}\u00e9`;
    case 'empty-param':
      return firstParam ? encoded({ [firstParam]: '' }) : encoded();
  }
}

function queryString(parts: QueryPart[], rawQuery: string | null, resolver: Resolver): string {
  const pieces = parts.map((part) => {
    const key = part.raw ? part.key : encodeLoose(part.key);
    if (part.value === null) return key;
    const value = part.value instanceof IdRef ? resolver.resolveId(part.value) : part.value;
    return `${key}=${part.raw ? value : encodeLoose(value)}`;
  });
  if (rawQuery !== null) pieces.push(rawQuery);
  return pieces.length > 0 ? `?${pieces.join('&')}` : '';
}

function tokenRequest(plan: TokenPlan, resolver: Resolver, headers: Record<string, string>): { url: string; payload?: string; contentType: string | null } {
  const right = resolver.credentials(plan.owner);
  const id = { right: right.id, unknown: 'cli_00000000000000000000000000', long: 'c'.repeat(200), edge: plan.edge }[plan.id];
  const secret = { right: right.secret, wrong: `${right.secret}x`, empty: '', edge: plan.edge }[plan.secret];
  const fields: [string, string][] = [];
  if (plan.grantType !== null) fields.push(['grant_type', plan.grantType]);
  if (plan.clientAuth === 'post' || plan.clientAuth === 'both') fields.push(['client_id', id], ['client_secret', secret]);
  if (plan.clientAuth === 'basic' || plan.clientAuth === 'both') headers.authorization = `Basic ${Buffer.from(`${encodeLoose(id)}:${encodeLoose(secret)}`).toString('base64')}`;
  if (plan.clientAuth === 'basic-malformed') headers.authorization = plan.malformedBasic;
  if (plan.scope !== null) fields.push(['scope', plan.scope]);
  if (plan.repeat !== null) fields.push([plan.repeat, fields.find(([k]) => k === plan.repeat)?.[1] ?? 'again']);
  for (const [k, v] of Object.entries(plan.extra ?? {})) fields.push([k, v]);
  const form = fields.map(([k, v]) => `${encodeLoose(k)}=${encodeLoose(v)}`).join('&');
  switch (plan.encoding) {
    case 'form':
      return { url: '', payload: form, contentType: 'application/x-www-form-urlencoded' };
    case 'json':
      return { url: '', payload: JSON.stringify(Object.fromEntries(fields)), contentType: 'application/json' };
    case 'text':
      return { url: '', payload: form, contentType: 'text/plain' };
    case 'none':
      return { url: '', payload: form, contentType: null };
    case 'multipart':
      return { url: '', payload: fields.map(([k, v]) => `--b\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + '--b--', contentType: 'multipart/form-data; boundary=b' };
    case 'query':
      return { url: form ? `?${form}` : '', payload: undefined, contentType: 'application/x-www-form-urlencoded' };
  }
}

/** The inject options of a plan, ids and tokens resolved against the world as it is now. */
export async function materialize(plan: RequestPlan, op: Operation, resolver: Resolver): Promise<Wire> {
  const headers: Record<string, string> = {};
  const authorization = await resolver.authorization(plan.auth);
  if (authorization !== undefined) headers.authorization = authorization;
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(plan.path)) values[name] = value instanceof IdRef ? resolver.resolveId(value) : value;
  let url = applyPathMutation(op, values, plan.pathMutation) + queryString(plan.query, plan.rawQuery, resolver);

  let payload: string | Buffer | undefined;
  let naturalType: string | null = null;
  const body = plan.body;
  if (body?.kind === 'json') {
    payload = toJsonText(resolveIds(body.value, (ref) => resolver.resolveId(ref)));
    naturalType = 'application/json';
  } else if (body?.kind === 'raw') {
    payload = body.text;
    naturalType = 'application/json';
  } else if (body?.kind === 'bytes') {
    payload = Buffer.from(body.hex, 'hex');
    naturalType = 'application/json';
  } else if (body?.kind === 'oversized') {
    payload = OVERSIZED;
    naturalType = 'application/json';
  } else if (body?.kind === 'form') {
    const request = tokenRequest(body.token, resolver, headers);
    url += request.url;
    payload = request.payload;
    naturalType = request.contentType;
  }
  const contentType = plan.contentType === undefined ? naturalType : plan.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  if (plan.requestId !== null) headers['x-request-id'] = plan.requestId;
  if (plan.wrongContentLength) headers['content-length'] = String((payload === undefined ? 0 : Buffer.byteLength(payload)) + 7);
  return { method: plan.method ?? op.method, url, headers, payload, remoteAddress: plan.remoteAddress };
}

/** The wire request in a few lines, long values cut, for failure messages. */
export function describeWire(wire: Wire): string {
  const cut = (text: string, max = 600) => (text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text);
  const headers = Object.entries(wire.headers).map(([k, v]) => `  ${k}: ${cut(k === 'authorization' ? summarizeAuthorization(v) : JSON.stringify(v), 200)}`);
  const payload = wire.payload === undefined ? '(none)' : Buffer.isBuffer(wire.payload) ? `bytes ${cut(wire.payload.toString('hex'))}` : cut(JSON.stringify(wire.payload));
  return [`${wire.method} ${cut(JSON.stringify(wire.url), 400)}`, ...headers, `  body: ${payload}`, `  remote address: ${wire.remoteAddress}`].join('\n');
}

function summarizeAuthorization(value: string): string {
  const [scheme, token] = value.split(/ +(.*)/s);
  if (!token) return JSON.stringify(value);
  return `${JSON.stringify(scheme)} + ${token.length} chars (${JSON.stringify(token.slice(0, 24))}...)`;
}



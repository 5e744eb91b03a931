import { describe, expect, it } from 'vitest';
import { type OpenApiDocument, renderApiReference } from '../../src/cli/api-reference.js';
import { findDrift, renderLivePages } from '../../src/cli/api-reference-pages.js';

describe('docs/api', () => {
  it('the committed API reference is up to date', async () => {
    const drift = findDrift(await renderLivePages());
    expect(drift, 'docs/api is out of date with the route schemas: run `npm run docs:api` and commit the result').toEqual([]);
  });

  it('documents every OU endpoint (the spec page\'s seven and Arbor\'s ancestry), every schema of the spec page and the dry-run delete answer', async () => {
    const page = (await renderLivePages()).get('organizational-units.md') ?? '';
    expect(page).toContain('— 8 endpoints.');
    expect(page.match(/^### (GET|POST|PATCH|DELETE) /gm)).toHaveLength(8);
    expect(page).toContain('### GET /api/v1/tenants/{tenant_id}/ous/{ou_id}/ancestry');
    const schemas = [...page.matchAll(/^### (\w+)$/gm)].map((match) => match[1]);
    expect(schemas).toEqual([
      // Arbor's addition: what DELETE with dry_run=true answers (docs/events.md).
      'ApiResponse_OUDeleteOutcome_',
      'ApiResponse_OUResponse_',
      // Arbor's addition: where an OU is in the tree (docs/org-units.md), and its items.
      'ApiResponse_list_OUAncestor__',
      'ApiResponse_list_OUTreeNode__',
      'ErrorResponse',
      'HTTPValidationError',
      'MetaResponse',
      'OUAncestor',
      'OUChildInfo',
      'OUCreate',
      'OUDeleteOutcome',
      'OUListItem',
      'OUResponse',
      'OUTreeNode',
      'OUUpdate',
      'PaginatedResponse',
      'PaginatedResponse_OUListItem_',
      'PaginationMeta',
      // The rows of the OU-users page (PaginatedResponse), typed.
      'UserResponse',
      'ValidationError',
    ]);
  });
});

/** A small document exercising each rendering rule once. */
function sampleDocument(): OpenApiDocument {
  return {
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        Widget: {
          type: 'object',
          description: 'A widget.',
          required: ['id', 'parts'],
          properties: {
            id: { type: 'string' },
            label: { anyOf: [{ type: 'string', description: 'Shown as a | b.' }, { type: 'null' }] },
            parts: { type: 'array', items: { $ref: '#/components/schemas/Part' } },
            mode: { type: 'string', enum: ['BLOCK', 'MOVE_UP', 'CASCADE'], default: 'BLOCK' },
            count: { type: 'integer', minimum: 1, maximum: 100, default: 0 },
            created_at: { type: 'string', format: 'date-time' },
            extra: { type: 'object', additionalProperties: true },
          },
        },
        Part: { type: 'object', properties: { colour: { $ref: '#/components/schemas/Colour' } } },
        Colour: { type: 'string', enum: ['red', 'green'] },
        Unrelated: { type: 'object', properties: { x: { type: 'string' } } },
      },
    },
    paths: {
      '/widgets/{id}': {
        get: {
          tags: ['Widget Things'],
          summary: 'Get Widget',
          description: 'Get a widget.',
          security: [{ bearerAuth: ['widgets:read'] }],
          parameters: [
            { name: 'verbose', in: 'query', required: false, schema: { type: 'boolean', default: false } },
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          ],
          responses: { 200: { description: 'OK', content: { 'application/json': { schema: { $ref: '#/components/schemas/Widget' } } } } },
        },
        delete: {
          tags: ['Widget Things'],
          summary: 'Delete Widget',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 204: { description: 'Successful Response' } },
        },
      },
    },
  };
}

function samplePage(): string {
  const pages = renderApiReference(sampleDocument());
  expect([...pages.keys()]).toEqual(['widget-things.md']);
  return pages.get('widget-things.md') ?? '';
}

function rowOf(page: string, name: string): string {
  return page.split('\n').find((line) => line.startsWith(`| \`${name}\` |`)) ?? `(no row for ${name})`;
}

describe('renderApiReference', () => {
  it('titles the page after the tag and counts its endpoints', () => {
    const page = samplePage();
    expect(page.startsWith('# Widget Things API\n\nReference for the Widget Things endpoint group — 2 endpoints.\n')).toBe(true);
    expect(page).toContain('`npm run docs:api`');
    expect(page.endsWith('|\n')).toBe(true);
    expect(page.endsWith('\n\n')).toBe(false);
  });

  it('lists operations in document order with their scope, or No authentication', () => {
    const page = samplePage();
    expect(page.indexOf('### GET /widgets/{id}')).toBeLessThan(page.indexOf('### DELETE /widgets/{id}'));
    expect(page).toContain('| `GET /widgets/{id}` | Bearer JWT with scope `widgets:read` |');
    expect(page).toContain('| `DELETE /widgets/{id}` | No authentication |');
    expect(page).toContain('**Get Widget**\n\nGet a widget.');
  });

  it('lists path parameters first and shows parameter defaults', () => {
    const page = samplePage();
    expect(page.indexOf('| `id` | path | yes | string |')).toBeLessThan(page.indexOf('| `verbose` | query | no | boolean | Default: false. |'));
  });

  it('links response bodies to schemas, and falls back to the description', () => {
    const page = samplePage();
    expect(page).toContain('| 200 | `application/json` → [Widget](#widget) |');
    expect(page).toContain('| 204 | Successful Response |');
  });

  it('renders nullable, array of ref, enum, format, free object, limits and default', () => {
    const page = samplePage();
    expect(rowOf(page, 'label')).toBe('| `label` | string \\| null | no | Shown as a \\| b. |');
    expect(rowOf(page, 'parts')).toBe('| `parts` | array of [Part](#part) | yes | |');
    expect(rowOf(page, 'mode')).toBe('| `mode` | string: one of BLOCK, MOVE_UP, CASCADE | no | Default: BLOCK. |');
    expect(rowOf(page, 'count')).toBe('| `count` | integer | no | Minimum: 1. Maximum: 100. Default: 0. |');
    expect(rowOf(page, 'created_at')).toBe('| `created_at` | string (date-time) | no | |');
    expect(rowOf(page, 'extra')).toBe('| `extra` | object | no | |');
  });

  it('escapes | so every table row keeps its column count', () => {
    const page = samplePage();
    const unescapedPipes = (line: string) => line.replace(/\\\|/g, '').split('|').length - 1;
    const widgetRows = page.slice(page.indexOf('### Widget')).split('\n').filter((line) => line.startsWith('|'));
    expect(widgetRows.length).toBe(9);
    for (const row of widgetRows) expect(unescapedPipes(row), row).toBe(5);
  });

  it('lists schemas referenced through other schemas, alphabetically, and no unrelated one', () => {
    const page = samplePage();
    const headings = [...page.slice(page.indexOf('## Schemas')).matchAll(/^### (.+)$/gm)].map((match) => match[1]);
    expect(headings).toEqual(['Colour', 'Part', 'Widget']);
    expect(page).toContain('Type: string: one of red, green.');
    expect(page).not.toContain('Unrelated');
  });

  it('is deterministic', () => {
    expect(renderApiReference(sampleDocument())).toEqual(renderApiReference(sampleDocument()));
  });

  it('fails loudly on a reference to a schema the document lacks', () => {
    const doc = sampleDocument();
    delete doc.components?.schemas?.Part;
    expect(() => renderApiReference(doc)).toThrow(/#\/components\/schemas\/Part is referenced but not defined/);
  });
});

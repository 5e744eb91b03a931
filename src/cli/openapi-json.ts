/**
 * `npm run -s openapi:json`: prints the OpenAPI document of an Arbor with the default settings
 * (what `GET /openapi.json` serves, its server the default ARBOR_ISSUER); `-- --out FILE` writes it.
 * The SDK is generated from it (`npm run sdk:generate`).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { liveOpenApiDocument } from './api-reference-pages.js';
import { runCli } from './open-store.js';

runCli(async () => {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const text = `${JSON.stringify(await liveOpenApiDocument(), null, 2)}\n`;
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
});

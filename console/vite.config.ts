import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The console's build (npm run build:console): Preact's JSX through Vite's own Oxc transform,
 * with no plugin (@preact/preset-vite pulls a prerender plugin whose peer range stops at Vite 7).
 * Served by the API process at /console (src/http/console.ts): hashed assets under
 * /console/assets/, no inline script or style, so the Content-Security-Policy can forbid both.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    target: 'es2022',
  },
});

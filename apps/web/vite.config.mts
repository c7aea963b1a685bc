// Vite builds apps/web into dist/web, which the gateway serves under /kgw/ui/ (apps/gateway/src/ui).
// Everything is bundled from node_modules at build time: no CDN, no network at run time.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/kgw/ui/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/web', import.meta.url)),
    emptyOutDir: true,
    // A strict CSP forbids data: scripts; keep every asset a file of its own.
    assetsInlineLimit: 0,
    sourcemap: true,
    chunkSizeWarningLimit: 1200,
  },
});

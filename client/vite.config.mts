import { defineConfig } from 'vite';

const here = (p: string) => decodeURIComponent(new URL(p, import.meta.url).pathname);

// The web app is served by the service at /app (src/web/web-app.ts) from dist/web-app.
export default defineConfig({
  root: here('./web'),
  base: '/app/',
  logLevel: 'warn',
  build: {
    outDir: here('../dist/web-app'),
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or styles: the page's CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});

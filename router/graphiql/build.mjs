#!/usr/bin/env node
// Builds the edge's GraphiQL page into router/graphiql/dist/: entry.jsx with GraphiQL 4,
// React 19 (production) and the explorer plugin, bundled and minified by esbuild. `make
// install` runs it; the edge serves the result (router/edge/graphiql.mjs). Kept under
// 1 MB, uncompressed (tests/e2e/test_graphiql_browser.py measures it in a browser):
//   - graphql-js from its ES modules, so unused parts are left out;
//   - framer-motion, markdown-it and a virtual list GraphiQL never uses replaced by the
//     small modules in shims/;
//   - the fonts GraphiQL's stylesheet embeds (~340 KiB of base64) dropped: system fonts.
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, 'dist');
const modules = path.join(here, '..', 'node_modules');

const lighter = {
  name: 'lighter',
  setup(on) {
    on.onResolve({ filter: /^framer-motion$/ }, () => ({ path: path.join(here, 'shims', 'framer-motion.jsx') }));
    on.onResolve({ filter: /^markdown-it$/ }, () => ({ path: path.join(here, 'shims', 'markdown-it.js') }));
    // React's API from Preact (preact/compat): 40 KiB instead of react-dom's 200.
    const compat = {
      react: 'preact/compat',
      'react-dom': 'preact/compat',
      'react-dom/client': 'preact/compat/client',
      'react/jsx-runtime': 'preact/jsx-runtime',
      'react/jsx-dev-runtime': 'preact/jsx-runtime',
    };
    on.onResolve({ filter: /^react(-dom)?(\/.*)?$/ }, async ({ path: request, resolveDir, kind }) =>
      compat[request] ? on.resolve(compat[request], { resolveDir, kind }) : undefined,
    );
    on.onResolve({ filter: /^@tanstack\/react-virtual$/ }, () => ({ path: path.join(here, 'shims', 'tanstack-react-virtual.js') }));
    on.onResolve({ filter: /^graphql$/ }, ({ importer }) =>
      importer.includes(`graphiql-explorer${path.sep}`) ? { path: path.join(here, 'shims', 'graphql-for-explorer.js') } : undefined,
    );
    // One graphql-js, as ES modules, whether a module imports or requires it.
    on.onResolve({ filter: /^graphql(\/.*)?$/ }, ({ path: request }) => {
      const target = path.join(modules, request);
      const file = existsSync(target) && statSync(target).isDirectory()
        ? path.join(target, 'index.mjs')
        : `${target.replace(/\.m?js$/, '')}.mjs`;
      return { path: file };
    });
    on.onLoad({ filter: /graphiql[\\/]dist[\\/]style\.css$/ }, async ({ path: file }) => ({
      contents: (await readFile(file, 'utf8')).replace(/@font-face\s*{[^}]*}/g, ''),
      loader: 'css',
    }));
  },
};

await mkdir(outdir, { recursive: true });
const result = await build({
  entryPoints: { graphiql: path.join(here, 'entry.jsx') },
  outdir,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  plugins: [lighter],
});
await writeFile(path.join(outdir, 'meta.json'), JSON.stringify(result.metafile));
for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  console.log(`[graphiql] ${path.relative(process.cwd(), file)}: ${(bytes / 1024).toFixed(0)} KiB`);
}

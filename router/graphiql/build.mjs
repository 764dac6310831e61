#!/usr/bin/env node
// Builds the gateway's GraphiQL page into router/graphiql/dist/: index.html, and entry.jsx with GraphiQL 4,
// React 19 (production) and the explorer plugin, bundled and minified by esbuild. `make
// install` runs it; the guard (router/guard/graphiql.c) and the Node edge
// (router/edge/graphiql.mjs) serve the result, each file also gzip- and brotli-compressed
// here once (`.gz`, `.br`), so neither compresses anything at run time. Kept under
// 1 MB, uncompressed (tests/e2e/test_graphiql_browser.py measures it in a browser):
//   - graphql-js from its ES modules, so unused parts are left out;
//   - framer-motion, markdown-it and a virtual list GraphiQL never uses replaced by the
//     small modules in shims/;
//   - the fonts GraphiQL's stylesheet embeds (~340 KiB of base64) dropped: system fonts.
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
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

// GET /graphql in a browser: a small page that loads the two files from this origin.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kindred · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/graphiql.js"></script>
</body>
</html>
`;
await writeFile(path.join(outdir, 'index.html'), PAGE);
for (const name of ['index.html', 'graphiql.js', 'graphiql.css']) {
  const body = await readFile(path.join(outdir, name));
  const brotli = { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length };
  await writeFile(path.join(outdir, `${name}.br`), zlib.brotliCompressSync(body, { params: brotli }));
  await writeFile(path.join(outdir, `${name}.gz`), zlib.gzipSync(body, { level: 9 }));
}
for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  console.log(`[graphiql] ${path.relative(process.cwd(), file)}: ${(bytes / 1024).toFixed(0)} KiB`);
}

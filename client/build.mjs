// Builds the browser bundle: src/main.js -> dist/samplan.js (ESM, minified, with sourcemaps;
// the plan page's code is a lazily loaded chunk under dist/chunks/) and src/samplan.css ->
// dist/samplan.css. `node build.mjs --watch` rebuilds on change.
import * as esbuild from 'esbuild'
import { rm } from 'node:fs/promises'

const watch = process.argv.includes('--watch')
const common = {
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
  logLevel: 'info',
  legalComments: 'linked'
}

await rm('dist', { recursive: true, force: true })
const contexts = await Promise.all([
  esbuild.context({
    ...common,
    entryPoints: { samplan: 'src/main.js' },
    outdir: 'dist',
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    define: { 'process.env.NODE_ENV': '"production"' }
  }),
  esbuild.context({
    ...common,
    entryPoints: { samplan: 'src/samplan.css' },
    outdir: 'dist'
  })
])
if (watch) {
  await Promise.all(contexts.map((ctx) => ctx.watch()))
} else {
  await Promise.all(contexts.map((ctx) => ctx.rebuild()))
  await Promise.all(contexts.map((ctx) => ctx.dispose()))
}

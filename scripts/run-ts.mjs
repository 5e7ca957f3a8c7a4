#!/usr/bin/env node
// Runs a TypeScript script (benchmarks, dev helpers) without a TS loader: esbuild bundles it with dependencies
// left external, into a temp file beside it, which is imported and removed.
import {build} from 'esbuild'
import {rmSync} from 'node:fs'
import {basename, dirname, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

const [entry, ...args] = process.argv.slice(2)
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args…]')
  process.exit(2)
}
const outfile = resolve(dirname(entry), `.${basename(entry, '.ts')}.${process.pid}.mjs`)
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
})
process.argv = [process.argv[0], entry, ...args]
try {
  await import(pathToFileURL(outfile).href)
} finally {
  rmSync(outfile, {force: true})
}

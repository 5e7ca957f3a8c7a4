#!/usr/bin/env node
// Bundles the CLI with esbuild into dist/: one entry (cli.mjs), the oclif command map (commands.mjs) and
// lazily loaded chunks, so `--help` stays fast and @kubernetes/client-node is only loaded by commands that talk
// to a cluster. The same dist/ ships in the krew archive (scripts/package.mjs).
import {build} from 'esbuild'
import {rmSync} from 'node:fs'
import {ROOT, sharedOptions} from './bundle-options.mjs'

rmSync(`${ROOT}/dist`, {recursive: true, force: true})

await build({
  ...sharedOptions(),
  entryPoints: {cli: 'src/cli.ts', commands: 'src/commands.ts'},
  outdir: 'dist',
  splitting: true,
  format: 'esm',
  target: 'node20',
  outExtension: {'.js': '.mjs'},
  sourcemap: 'linked',
  banner: {js: "import {createRequire as __cr} from 'node:module';const require=__cr(import.meta.url);"},
})

#!/usr/bin/env node
// Bundles the CLI with esbuild into dist/: one entry (cli.mjs), the oclif command map (commands.mjs) and
// lazily loaded chunks, so `--help` stays fast and @kubernetes/client-node is only loaded by commands that talk
// to a cluster. The same dist/ ships in the krew archive (scripts/package.mjs).
import {build} from 'esbuild'
import {rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
rmSync(`${root}/dist`, {recursive: true, force: true})

await build({
  absWorkingDir: root,
  entryPoints: {cli: 'src/cli.ts', commands: 'src/commands.ts'},
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: {'.js': '.mjs'},
  minify: !process.env.NO_MINIFY,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // oclif's ts-path would pull the TypeScript compiler into the bundle; ws' native helpers are optional.
  external: ['typescript', 'ts-node', 'tsx', 'bufferutil', 'utf-8-validate'],
  // node-fetch v2 -> whatwg-url -> tr46 requires the deprecated core punycode (DEP0040 on Node >= 21).
  alias: {punycode: 'punycode/'},
  banner: {js: "import {createRequire as __cr} from 'node:module';const require=__cr(import.meta.url);"},
})

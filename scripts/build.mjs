#!/usr/bin/env node
// Bundles the CLI with esbuild into dist/: one entry (cli.mjs), the oclif command map (commands.mjs) and
// lazily loaded chunks, so `--help` stays fast and @kubernetes/client-node is only loaded by commands that talk
// to a cluster. The same dist/ ships in the krew archive (scripts/package.mjs).
import {build} from 'esbuild'
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
rmSync(`${root}/dist`, {recursive: true, force: true})

/**
 * node-fetch v2 (client-node's Watch) parses each request URL with url.parse(), which Node 24 reports on stderr as
 * DEP0169 when the caller is not in node_modules — as nothing bundled is. Its `url` is src/kube/node-fetch-url.ts,
 * the same fields from the WHATWG parser; the build fails if node-fetch stops asking, so the shim cannot linger.
 */
const nodeFetchUrl = {
  name: 'node-fetch-url',
  setup(build) {
    let used = false
    build.onResolve({filter: /^(node:)?url$/}, ({importer}) => {
      if (!/[\\/]node_modules[\\/]node-fetch[\\/]/.test(importer)) return undefined
      used = true
      return {path: join(root, 'src/kube/node-fetch-url.ts')}
    })
    build.onEnd((result) => {
      if (result.errors.length === 0 && !used) {
        return {errors: [{text: 'node-fetch no longer imports url: remove the node-fetch-url plugin and its shim'}]}
      }
    })
  },
}

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
  plugins: [nodeFetchUrl],
  banner: {js: "import {createRequire as __cr} from 'node:module';const require=__cr(import.meta.url);"},
})

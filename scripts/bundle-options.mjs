// The esbuild settings both bundles share: dist/ (scripts/build.mjs, ESM with lazily loaded chunks) and the single
// executable's one CommonJS script (scripts/sea.mjs).
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

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
      return {path: join(ROOT, 'src/kube/node-fetch-url.ts')}
    })
    build.onEnd((result) => {
      if (result.errors.length === 0 && !used) {
        return {errors: [{text: 'node-fetch no longer imports url: remove the node-fetch-url plugin and its shim'}]}
      }
    })
  },
}

/** esbuild options for a Node bundle of src/ (entry points, format and output are each bundle's own). */
export function sharedOptions() {
  return {
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    minify: !process.env.NO_MINIFY,
    legalComments: 'linked',
    logLevel: 'warning',
    // oclif's ts-path would pull the TypeScript compiler into the bundle; ws' native helpers are optional.
    external: ['typescript', 'ts-node', 'tsx', 'bufferutil', 'utf-8-validate'],
    // node-fetch v2 -> whatwg-url -> tr46 requires the deprecated core punycode (DEP0040 on Node >= 21).
    alias: {punycode: 'punycode/'},
    plugins: [nodeFetchUrl],
  }
}

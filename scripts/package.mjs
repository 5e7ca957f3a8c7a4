#!/usr/bin/env node
// `npm run package`: builds dist/, stages the krew archives and renders the krew manifest for them.
//
//   release/kubectl-expose-lb_v<version>.tar.gz   the Node.js program, for macOS (needs Node on PATH):
//                                                 kubectl-expose-lb/{kubectl-expose_lb, kubectl_complete-expose_lb,
//                                                 package.json, dist/*.mjs, LICENSE, THIRD_PARTY_NOTICES}
//   release/kubectl-expose-lb_v<version>_<os>_<arch>.tar.gz
//                                                 a single executable with Node inside (scripts/sea.mjs) for
//                                                 linux_amd64, linux_arm64 and windows_amd64:
//                                                 kubectl-expose-lb/{kubectl-expose_lb[.exe],
//                                                 kubectl_complete-expose_lb[.cmd], LICENSE, THIRD_PARTY_NOTICES}
//   release/expose-lb.yaml                        krew-manifest.yaml with each archive's sha256 filled in
//
// The archives are reproducible (sorted names, uid/gid 0, mtime 0, fixed modes, gzip without name or time), so
// the same sources give the same sha256. Layout and manifest rules: https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/ and
// https://krew.sigs.k8s.io/docs/developer-guide/develop/naming-guide/.
//
// The executables are 100+ MB each: they and their compressed archives are cached in .cache/package/ under the
// hash of what they are made from, so packaging an unchanged bundle again only copies.
//
// Options: --no-build (use the existing dist/), --out-dir DIR (default release/), --only LIST (comma-separated
// targets out of node, linux-x64, linux-arm64, win-x64; writes no manifest), --no-cache (build every executable
// and archive afresh).
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {parse} from 'yaml'
import {
  bundleSeaScript,
  fetchNode,
  injectExecutable,
  makeBlob,
  NODE_RELEASE,
  POSTJECT_VERSION,
  SEA_PLATFORMS,
  SeaError,
} from './sea.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TOP_DIR = 'kubectl-expose-lb' // the single top-level directory inside the archive
const SHIM = 'kubectl-expose_lb' // krew's pluginNameToBin('expose-lb'); also the krew `bin`
// What kubectl >= 1.26 runs to complete `kubectl expose-lb …`. krew does not put it on PATH (krew#812); the
// manifest's caveats say how to link it.
const COMPLETION_SHIM = 'kubectl_complete-expose_lb'
const SHA_PLACEHOLDER = 'FILLED_IN_BY_NPM_RUN_PACKAGE' // must match krew-manifest.yaml
const LICENSE_FILE = /^(licen[cs]e|copying|notice)([.-].+)?$/i

const CACHE_DIR = join(ROOT, '.cache', 'package')
// The Node-program archive is one target, each single executable another.
const TARGETS = ['node', ...Object.keys(SEA_PLATFORMS)]
// zlib's default: the executables compress to a third in a few seconds each; level 9 takes three times longer for
// 0.3% less.
const GZIP_LEVEL = 6

/** A failure with a message fit for one line on stderr. */
class PackageError extends Error {}

function parseArgs(argv) {
  const options = {build: true, outDir: join(ROOT, 'release'), only: TARGETS, cache: true}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--no-build') options.build = false
    else if (arg === '--no-cache') options.cache = false
    else if (arg === '--out-dir' && argv[i + 1]) options.outDir = resolve(argv[++i])
    else if (arg === '--only' && argv[i + 1]) {
      options.only = argv[++i].split(',')
      const unknown = options.only.filter((target) => !TARGETS.includes(target))
      if (unknown.length > 0) throw new PackageError(`unknown target ${unknown} for --only (known: ${TARGETS})`)
    } else {
      throw new PackageError(
        `unknown argument ${JSON.stringify(arg)} (accepted: --no-build, --out-dir DIR, --only LIST, --no-cache)`,
      )
    }
  }
  return options
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'))
}

function build() {
  const result = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], {cwd: ROOT, stdio: 'inherit'})
  if (result.status !== 0) throw new PackageError(`build failed: node scripts/build.mjs exited ${result.status}`)
}

/** A shipped shim: bin/<name>, importing the bundle next to it instead of ../dist. */
function renderShim(name) {
  const source = readFileSync(join(ROOT, 'bin', name), 'utf8')
  const from = "import('../dist/cli.mjs')"
  if (source.split(from).length !== 2) {
    throw new PackageError(`bin/${name} no longer contains ${from} exactly once; update scripts/package.mjs`)
  }
  return source.replace(from, "import('./dist/cli.mjs')")
}

/** Only what oclif and Node read at run time: module type, version, engines and the oclif config. */
function renderPackageJson(pkg) {
  const {name, version, description, license, engines, oclif} = pkg
  return `${JSON.stringify({name, version, description, license, type: 'module', engines, oclif}, null, 2)}\n`
}

/**
 * License texts of everything esbuild bundled, so the archive keeps the notices the MIT/ISC/Apache licenses ask
 * for. The packages come from the source maps' `sources` (esbuild's legal comments alone miss most of them, as
 * few packages mark their headers @license); esbuild's own legal-comment files are appended.
 */
function renderNotices(distDir, runtime) {
  const files = readdirSync(distDir).sort()
  const maps = files.filter((f) => f.endsWith('.map'))
  if (maps.length === 0) {
    console.warn(`warning: no source maps in dist/; THIRD_PARTY_NOTICES lists only esbuild's legal comments`)
  }
  const packageDirs = new Set()
  for (const map of maps) {
    for (const source of readJson(join(distDir, map)).sources ?? []) {
      const at = source.lastIndexOf('node_modules/')
      if (at < 0) continue
      const parts = source.slice(at + 'node_modules/'.length).split('/')
      const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
      packageDirs.add(resolve(distDir, source.slice(0, at), 'node_modules', name))
    }
  }
  const sections = new Map()
  for (const dir of packageDirs) {
    const pkg = readJson(join(dir, 'package.json'))
    const id = `${pkg.name}@${pkg.version}`
    if (sections.has(id)) continue
    const licenseFiles = readdirSync(dir)
      .filter((f) => LICENSE_FILE.test(f))
      .sort()
    const texts = licenseFiles.map((f) => readFileSync(join(dir, f), 'utf8').trim())
    if (texts.length === 0) texts.push(`(the package ships no license file; package.json says "${pkg.license}")`)
    const license = typeof pkg.license === 'string' ? pkg.license : 'see below'
    sections.set(id, `${id} (${license})${pkg.homepage ? ` ${pkg.homepage}` : ''}\n\n${texts.join('\n\n')}`)
  }
  const legal = files
    .filter((f) => f.endsWith('.LEGAL.txt'))
    .map((f) => readFileSync(join(distDir, f), 'utf8').trim())
    .filter(Boolean)
  const rule = `\n\n${'-'.repeat(78)}\n\n`
  const parts = [
    'kubectl expose-lb bundles the following third-party packages (dist/*.mjs).\n' +
      'Their license texts follow, in package-name order.',
    ...[...sections.keys()].sort().map((id) => sections.get(id)),
  ]
  if (legal.length > 0) parts.push(`Legal comments kept by esbuild:\n\n${legal.join('\n\n')}`)
  // A single executable is a copy of the Node binary: its licence (with those of what Node bundles) goes along.
  if (runtime) parts.push(`${runtime.name}, the runtime inside this executable\n\n${runtime.text.trim()}`)
  return `${parts.join(rule)}\n`
}

/** Stages the Node program's archive. */
function stage(stageRoot, pkg) {
  const distDir = join(ROOT, 'dist')
  const top = join(stageRoot, TOP_DIR)
  mkdirSync(join(top, 'dist'), {recursive: true})

  const bundle = readdirSync(distDir).filter((f) => f.endsWith('.mjs'))
  const commandsTarget = basename(pkg.oclif?.commands?.target ?? '')
  for (const required of ['cli.mjs', commandsTarget]) {
    if (!bundle.includes(required)) throw new PackageError(`dist/${required} is missing; run npm run build`)
  }
  for (const file of bundle) copyFileSync(join(distDir, file), join(top, 'dist', file))

  for (const shim of [SHIM, COMPLETION_SHIM]) writeFileSync(join(top, shim), renderShim(shim))
  writeFileSync(join(top, 'package.json'), renderPackageJson(pkg))
  copyFileSync(join(ROOT, 'LICENSE'), join(top, 'LICENSE'))
  writeFileSync(join(top, 'THIRD_PARTY_NOTICES'), renderNotices(distDir))

  // Fixed modes, whatever the umask: krew keeps the archive's modes, and the shim must be executable.
  for (const dir of [top, join(top, 'dist')]) chmodSync(dir, 0o755)
  for (const file of ['package.json', 'LICENSE', 'THIRD_PARTY_NOTICES']) chmodSync(join(top, file), 0o644)
  for (const file of bundle) chmodSync(join(top, 'dist', file), 0o644)
  for (const shim of [SHIM, COMPLETION_SHIM]) chmodSync(join(top, shim), 0o755)
}

/** The completion helper beside a single executable: a script that runs it as the Node shim's main() would. */
function completionHelper(exe) {
  if (exe === '.exe') {
    // cmd.exe: %~dp0 is this file's folder, %* the words kubectl passes.
    return `@"%~dp0${SHIM}.exe" __complete -- %*\r\n`
  }
  return [
    '#!/bin/sh',
    '# What kubectl (>= 1.26) runs to complete `kubectl expose-lb …` (https://github.com/kubernetes/kubernetes/pull/105867):',
    '# the executable in the same folder answers: beside this file in the plugin folder, or its krew link beside this',
    "# file's link in krew's bin (the caveats make that one). Shell only, no dirname or readlink: PATH may be bare.",
    '# `--` keeps a typed -h or --help a word to complete.',
    `exec "\${0%/*}/${SHIM}" __complete -- "$@"`,
    '',
  ].join('\n')
}

/** Stages a single executable's archive: the executable, its completion helper, LICENSE and the notices. */
function stageExecutable(stageRoot, platform, executable, notices) {
  const {exe} = SEA_PLATFORMS[platform]
  const top = join(stageRoot, TOP_DIR)
  mkdirSync(top, {recursive: true})
  writeFileSync(join(top, `${SHIM}${exe}`), executable)
  writeFileSync(join(top, `${COMPLETION_SHIM}${exe ? '.cmd' : ''}`), completionHelper(exe))
  copyFileSync(join(ROOT, 'LICENSE'), join(top, 'LICENSE'))
  writeFileSync(join(top, 'THIRD_PARTY_NOTICES'), notices)
  chmodSync(top, 0o755)
  for (const file of ['LICENSE', 'THIRD_PARTY_NOTICES']) chmodSync(join(top, file), 0o644)
  chmodSync(join(top, `${SHIM}${exe}`), 0o755)
  chmodSync(join(top, `${COMPLETION_SHIM}${exe ? '.cmd' : ''}`), 0o755)
}

/** The name of a target's archive: the Node program's keeps the plain name, executables add krew's os_arch. */
function archiveNameOf(target, version) {
  if (target === 'node') return `${TOP_DIR}_v${version}.tar.gz`
  const {os, arch} = SEA_PLATFORMS[target].krew
  return `${TOP_DIR}_v${version}_${os}_${arch}.tar.gz`
}

/**
 * The single executables of `targets`, each {target, bytes}. The CommonJS script and its blob are made once; an
 * executable is cached under the hash of what it is made from: the script, scripts/sea.mjs (the Node release and
 * the blob's settings), the pinned Node build and postject's version.
 */
async function buildExecutables(targets, pkg, cache) {
  if (targets.length === 0) return []
  const work = mkdtempSync(join(tmpdir(), 'expose-lb-sea-'))
  try {
    const script = join(work, 'kubectl-expose_lb.cjs')
    await bundleSeaScript(script, pkg)
    const scriptHash = sha256(readFileSync(script))
    let blob
    const executables = []
    const recipe = sha256(readFileSync(join(ROOT, 'scripts/sea.mjs')))
    for (const target of targets) {
      const key = sha256(`${scriptHash} ${recipe} ${SEA_PLATFORMS[target].sha256} postject@${POSTJECT_VERSION}`)
      const path = join(CACHE_DIR, `exe-${target}.${key}`)
      let bytes
      if (cache && existsSync(path)) bytes = readFileSync(path)
      else {
        blob ??= makeBlob(script, work)
        const out = join(work, `exe-${target}`)
        injectExecutable(target, blob, out)
        bytes = readFileSync(out)
        if (cache) cached(`exe-${target}.${key}`, `exe-${target}`, () => bytes)
      }
      executables.push({target, bytes})
    }
    return executables
  } finally {
    rmSync(work, {recursive: true, force: true})
  }
}

/** A reproducible tar of stageRoot/TOP_DIR (GNU tar for the ordering and ownership flags). */
function tarOf(stageRoot) {
  const args = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=gnu']
  const result = spawnSync('tar', [...args, '-cf', '-', TOP_DIR], {cwd: stageRoot, maxBuffer: 1024 * 1024 * 1024})
  if (result.error) throw new PackageError(`cannot run tar: ${result.error.message}`)
  if (result.status !== 0) {
    const why = result.stderr.toString().trim().split('\n')[0]
    throw new PackageError(`tar failed: ${why} (GNU tar is needed for --sort=name)`)
  }
  return result.stdout
}

/**
 * The archive of stageRoot/TOP_DIR, gzipped. zlib writes mtime 0 and no file name into the gzip header, like
 * `gzip -n`, so the same tar gives the same bytes: with `cache`, a tar packaged before is taken from .cache/.
 */
function archive(stageRoot, name, cache) {
  const tar = tarOf(stageRoot)
  if (!cache) return gzipSync(tar, {level: GZIP_LEVEL})
  return cached(`${name}.${sha256(tar)}`, name, () => gzipSync(tar, {level: GZIP_LEVEL}))
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * The bytes cached as .cache/package/<key>, made by `make` when absent. Entries of the same `family` under other
 * keys are removed: a changed bundle would otherwise leave 100 MB behind on every build.
 */
function cached(key, family, make) {
  const path = join(CACHE_DIR, key)
  if (existsSync(path)) return readFileSync(path)
  const bytes = make()
  mkdirSync(CACHE_DIR, {recursive: true})
  for (const old of readdirSync(CACHE_DIR)) {
    if (old.startsWith(`${family}.`) && !old.endsWith('.partial')) rmSync(join(CACHE_DIR, old), {force: true})
  }
  // Written beside it and renamed: another packaging run (a test, a bench) may read the cache at the same time.
  writeFileSync(`${path}.${process.pid}.partial`, bytes)
  renameSync(`${path}.${process.pid}.partial`, path)
  return bytes
}

/**
 * The manifest for krew-index: the template without its leading comment block, each platform's sha256 placeholder
 * replaced by the digest of the archive its `uri` names (`uri` comes before `sha256` in each platform entry).
 */
function renderManifest(template, {version, digests}) {
  const lines = template.split('\n')
  const firstContent = lines.findIndex((line) => line.trim() !== '' && !line.startsWith('#'))
  let archiveName
  const filled = new Set()
  const body = lines.slice(firstContent).map((line) => {
    const uri = /^\s*-?\s*uri:\s*(\S+)\s*$/.exec(line)
    if (uri) {
      archiveName = basename(uri[1])
      if (!uri[1].endsWith(`/v${version}/${archiveName}`)) {
        throw new PackageError(`krew-manifest.yaml uri ${uri[1]} does not end with /v${version}/${archiveName}`)
      }
    }
    if (!line.includes(SHA_PLACEHOLDER)) return line
    const sha256 = digests.get(archiveName)
    if (!archiveName || !sha256) {
      throw new PackageError(`krew-manifest.yaml has a sha256 for ${archiveName ?? 'no uri'}, which is not built`)
    }
    filled.add(archiveName)
    return line.replace(SHA_PLACEHOLDER, sha256)
  })
  const unused = [...digests.keys()].filter((name) => !filled.has(name))
  if (unused.length > 0) {
    throw new PackageError(`krew-manifest.yaml has no platform with uri …/${unused[0]} and sha256 ${SHA_PLACEHOLDER}`)
  }
  const text = body.join('\n')

  const manifest = parse(text)
  const name = manifest?.metadata?.name
  if (typeof name !== 'string' || name === '') throw new PackageError('krew-manifest.yaml has no metadata.name')
  if (manifest.spec?.version !== `v${version}`) {
    throw new PackageError(
      `krew-manifest.yaml has version ${manifest.spec?.version} but package.json has ${version}; set spec.version: v${version}`,
    )
  }
  return {name, text}
}

/** Stages and compresses one target's archive in a temporary folder. */
function packTarget(name, cache, fill) {
  const stageRoot = mkdtempSync(join(tmpdir(), 'expose-lb-package-'))
  try {
    fill(stageRoot)
    return archive(stageRoot, name, cache)
  } finally {
    rmSync(stageRoot, {recursive: true, force: true})
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2))
  const pkg = readJson(join(ROOT, 'package.json'))
  const template = readFileSync(join(ROOT, 'krew-manifest.yaml'), 'utf8')

  if (options.build) build()
  else if (!existsSync(join(ROOT, 'dist', 'cli.mjs'))) {
    throw new PackageError('dist/ has not been built; run npm run build or drop --no-build')
  }

  const archives = new Map() // archive name -> bytes
  if (options.only.includes('node')) {
    const name = archiveNameOf('node', pkg.version)
    archives.set(
      name,
      packTarget(name, false, (stageRoot) => stage(stageRoot, pkg)),
    )
  }
  const seaTargets = TARGETS.filter((target) => target !== 'node' && options.only.includes(target))
  if (seaTargets.length > 0) {
    const {license} = fetchNode('linux-x64')
    const notices = renderNotices(join(ROOT, 'dist'), {
      name: `Node.js ${NODE_RELEASE}`,
      text: readFileSync(license, 'utf8'),
    })
    for (const {target, bytes} of await buildExecutables(seaTargets, pkg, options.cache)) {
      const name = archiveNameOf(target, pkg.version)
      archives.set(
        name,
        packTarget(name, options.cache, (stageRoot) => stageExecutable(stageRoot, target, bytes, notices)),
      )
    }
  }

  const digests = new Map([...archives].map(([name, bytes]) => [name, sha256(bytes)]))
  // Only a release with every archive has a manifest: a partial one would carry placeholders.
  const manifest =
    options.only.length === TARGETS.length ? renderManifest(template, {version: pkg.version, digests}) : undefined

  mkdirSync(options.outDir, {recursive: true})
  const shown = (path) => (path.startsWith(ROOT) ? path.slice(ROOT.length) : path)
  for (const [name, bytes] of archives) {
    const path = join(options.outDir, name)
    writeFileSync(path, bytes)
    console.log(`archive   ${shown(path)}  ${(bytes.length / 1024 / 1024).toFixed(1)} MiB  sha256 ${digests.get(name)}`)
  }
  if (manifest) {
    const manifestPath = join(options.outDir, `${manifest.name}.yaml`) // krew: file name == metadata.name
    writeFileSync(manifestPath, manifest.text)
    console.log(`manifest  ${shown(manifestPath)}`)
  }
}

try {
  await main()
} catch (error) {
  const message =
    error instanceof PackageError || error instanceof SeaError ? error.message : `${error?.message ?? error}`
  console.error(`package: ${message.split('\n')[0]}`)
  process.exit(1)
}

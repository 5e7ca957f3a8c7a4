#!/usr/bin/env node
// `npm run package`: builds dist/, stages the krew archive and renders the krew manifest for it.
//
//   release/kubectl-expose-lb_v<version>.tar.gz   kubectl-expose-lb/{kubectl-expose_lb, kubectl_complete-expose_lb,
//                                                 package.json, dist/*.mjs, LICENSE, THIRD_PARTY_NOTICES}
//   release/expose-lb.yaml                        krew-manifest.yaml with the archive's sha256 filled in
//
// The archive is reproducible (sorted names, uid/gid 0, mtime 0, fixed modes, gzip without name or time), so
// the same sources give the same sha256. Layout and manifest rules: https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/ and
// https://krew.sigs.k8s.io/docs/developer-guide/develop/naming-guide/.
//
// Options: --no-build (use the existing dist/), --out-dir DIR (default release/).
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
  rmSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {parse} from 'yaml'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TOP_DIR = 'kubectl-expose-lb' // the single top-level directory inside the archive
const SHIM = 'kubectl-expose_lb' // krew's pluginNameToBin('expose-lb'); also the krew `bin`
// What kubectl >= 1.26 runs to complete `kubectl expose-lb …`. krew does not put it on PATH (krew#812); the
// manifest's caveats say how to link it.
const COMPLETION_SHIM = 'kubectl_complete-expose_lb'
const SHA_PLACEHOLDER = 'FILLED_IN_BY_NPM_RUN_PACKAGE' // must match krew-manifest.yaml
const LICENSE_FILE = /^(licen[cs]e|copying|notice)([.-].+)?$/i

/** A failure with a message fit for one line on stderr. */
class PackageError extends Error {}

function parseArgs(argv) {
  const options = {build: true, outDir: join(ROOT, 'release')}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--no-build') options.build = false
    else if (arg === '--out-dir' && argv[i + 1]) options.outDir = resolve(argv[++i])
    else throw new PackageError(`unknown argument ${JSON.stringify(arg)} (accepted: --no-build, --out-dir DIR)`)
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
function renderNotices(distDir) {
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
  return `${parts.join(rule)}\n`
}

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

/** A reproducible .tar.gz of stageRoot/TOP_DIR (GNU tar for the ordering and ownership flags). */
function archive(stageRoot) {
  const args = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=gnu']
  const result = spawnSync('tar', [...args, '-cf', '-', TOP_DIR], {cwd: stageRoot, maxBuffer: 256 * 1024 * 1024})
  if (result.error) throw new PackageError(`cannot run tar: ${result.error.message}`)
  if (result.status !== 0) {
    const why = result.stderr.toString().trim().split('\n')[0]
    throw new PackageError(`tar failed: ${why} (GNU tar is needed for --sort=name)`)
  }
  // zlib writes mtime 0 and no file name into the gzip header, like `gzip -n`.
  return gzipSync(result.stdout, {level: 9})
}

/** The manifest for krew-index: the template without its leading comment block, sha256 filled in. */
function renderManifest(template, {version, archiveName, sha256}) {
  const lines = template.split('\n')
  const firstContent = lines.findIndex((line) => line.trim() !== '' && !line.startsWith('#'))
  const body = lines.slice(firstContent).join('\n')
  if (body.split(SHA_PLACEHOLDER).length !== 2) {
    throw new PackageError(`krew-manifest.yaml must contain the sha256 placeholder ${SHA_PLACEHOLDER} exactly once`)
  }
  const text = body.replace(SHA_PLACEHOLDER, sha256)

  const manifest = parse(text)
  const name = manifest?.metadata?.name
  if (typeof name !== 'string' || name === '') throw new PackageError('krew-manifest.yaml has no metadata.name')
  if (manifest.spec?.version !== `v${version}`) {
    throw new PackageError(
      `krew-manifest.yaml has version ${manifest.spec?.version} but package.json has ${version}; set spec.version: v${version}`,
    )
  }
  for (const platform of manifest.spec.platforms ?? []) {
    if (!String(platform.uri).endsWith(`/v${version}/${archiveName}`)) {
      throw new PackageError(`krew-manifest.yaml uri ${platform.uri} does not end with /v${version}/${archiveName}`)
    }
  }
  return {name, text}
}

function main() {
  const options = parseArgs(process.argv.slice(2))
  const pkg = readJson(join(ROOT, 'package.json'))
  const archiveName = `${TOP_DIR}_v${pkg.version}.tar.gz`
  const template = readFileSync(join(ROOT, 'krew-manifest.yaml'), 'utf8')

  if (options.build) build()
  else if (!existsSync(join(ROOT, 'dist', 'cli.mjs'))) {
    throw new PackageError('dist/ has not been built; run npm run build or drop --no-build')
  }

  const stageRoot = mkdtempSync(join(tmpdir(), 'expose-lb-package-'))
  let tarball
  try {
    stage(stageRoot, pkg)
    tarball = archive(stageRoot)
  } finally {
    rmSync(stageRoot, {recursive: true, force: true})
  }
  const sha256 = createHash('sha256').update(tarball).digest('hex')
  const manifest = renderManifest(template, {version: pkg.version, archiveName, sha256})

  mkdirSync(options.outDir, {recursive: true})
  const archivePath = join(options.outDir, archiveName)
  const manifestPath = join(options.outDir, `${manifest.name}.yaml`) // krew: file name == metadata.name
  writeFileSync(archivePath, tarball)
  writeFileSync(manifestPath, manifest.text)

  const shown = (path) => (path.startsWith(ROOT) ? path.slice(ROOT.length) : path)
  console.log(`archive   ${shown(archivePath)}`)
  console.log(`size      ${tarball.length} bytes (${(tarball.length / 1024).toFixed(0)} KiB)`)
  console.log(`sha256    ${sha256}`)
  console.log(`manifest  ${shown(manifestPath)}`)
}

try {
  main()
} catch (error) {
  const message = error instanceof PackageError ? error.message : `${error?.message ?? error}`
  console.error(`package: ${message.split('\n')[0]}`)
  process.exit(1)
}

// The krew release end to end: `scripts/package.mjs` builds the archives and manifest, the manifest passes
// krew-index's checks (replicated in ./validate.ts), and each archive krew would pick for this machine, installed the
// way krew installs it, runs under the real kubectl from a temp dir where no node_modules can be reached: the
// Node.js program (macOS's entry) with node on PATH, the linux/amd64 single executable without any node reachable.
// Packaging runs once per test run (beforeAll); the executables come from .cache/package/ when the bundle is
// unchanged.
import {execFile, spawn, spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, delimiter, dirname, isAbsolute, join, posix, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {loadObjectsFromYaml, startSimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {SEMI_SPACE_MB} from '../../src/serve/heap-growth.js'
import {waitFor} from '../e2e/serve-helpers.js'
import {validateKrewManifest, versionProblem} from './validate.js'

const execFileAsync = promisify(execFile)

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHA_PLACEHOLDER = 'FILLED_IN_BY_NPM_RUN_PACKAGE' // as in krew-manifest.yaml and scripts/package.mjs
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}).version
const ARCHIVE_NAME = `kubectl-expose-lb_v${VERSION}.tar.gz` // the Node.js program
const ARCHIVE = join(ROOT, 'release', ARCHIVE_NAME)
/** The single executables' archives, by krew os/arch, with what their executable must be. */
const EXECUTABLES = [
  {os: 'linux', arch: 'amd64', format: 'elf', machine: 0x3e}, // EM_X86_64
  {os: 'linux', arch: 'arm64', format: 'elf', machine: 0xb7}, // EM_AARCH64
  {os: 'windows', arch: 'amd64', format: 'pe', machine: 0x8664}, // IMAGE_FILE_MACHINE_AMD64
] as const
const executableArchive = (os: string, arch: string) =>
  join(ROOT, 'release', `kubectl-expose-lb_v${VERSION}_${os}_${arch}.tar.gz`)
// Node's single-executable fuse: postject flips the trailing 0 to 1 when it injects the blob (src/node_sea.cc).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
const MANIFEST = join(ROOT, 'release', 'expose-lb.yaml')
const TEMPLATE = join(ROOT, 'krew-manifest.yaml')
// kubectl (>= 1.26) runs kubectl_complete-<plugin> from PATH to complete a plugin's words; krew does not link it.
const COMPLETION_SHIM = 'kubectl_complete-expose_lb'
// The LICENSE names krew-index CI accepts among the installed files.
const LICENSE_NAME = /^(license(\.txt|\.md)?|licenses.*|copying(\.txt)?)$/i

interface FileOperation {
  from: string
  to: string
}
interface Platform {
  selector: {matchLabels?: Record<string, string>; matchExpressions?: Array<{key: string; values: string[]}>}
  uri: string
  sha256: string
  bin: string
  files: FileOperation[]
}
interface Manifest {
  metadata: {name: string}
  spec: {version: string; caveats?: string; platforms: Platform[]}
}

let tmp = ''

function run(command: string, args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number} = {}) {
  return spawnSync(command, args, {encoding: 'utf8', timeout: 60_000, ...options})
}

function describeRun(result: SpawnSyncReturns<string>): string {
  return `exit ${result.status}${result.error ? ` (${result.error.message})` : ''}\n${result.stdout}\n${result.stderr}`
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function readManifest(path: string): Manifest {
  return parse(readFileSync(path, 'utf8')) as Manifest
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'expose-lb-krew-'))
  // Other test files run against dist/ in parallel and build.mjs empties dist/ before rebuilding, so package the
  // existing build when there is one (npm test builds first); build only when dist/ is missing.
  const args = existsSync(join(ROOT, 'dist', 'cli.mjs')) ? ['--no-build'] : []
  // Three 100 MB executables on a busy 2-core machine, the first time (later runs take them from .cache/).
  const result = run(process.execPath, ['scripts/package.mjs', ...args], {cwd: ROOT, timeout: 600_000})
  expect(result.status, describeRun(result)).toBe(0)
  expect(result.stdout).toContain(`release/${ARCHIVE_NAME}`)
  for (const {os, arch} of EXECUTABLES) expect(result.stdout).toContain(`_${os}_${arch}.tar.gz`)
}, 600_000)

afterAll(() => {
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('the krew manifest validator', () => {
  const sha = 'a'.repeat(64)
  const valid = {
    apiVersion: 'krew.googlecontainertools.github.com/v1alpha2',
    kind: 'Plugin',
    metadata: {name: 'expose-lb'},
    spec: {
      version: 'v1.2.3',
      shortDescription: 'Short and sweet',
      description: 'A description.\n',
      platforms: [
        {
          selector: {matchExpressions: [{key: 'os', operator: 'In', values: ['darwin', 'linux']}]},
          uri: 'https://example.com/a.tar.gz',
          sha256: sha,
          bin: 'kubectl-expose_lb',
          files: [{from: 'a/*', to: '.'}],
        },
      ],
    },
  }
  const windowsPlatform = {...valid.spec.platforms[0], selector: {matchLabels: {os: 'windows', arch: 'amd64'}}}

  /** The valid manifest with `change` applied to a deep copy (typed loosely: cases delete required fields). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  function broken(change: (m: any) => void): string {
    const copy = structuredClone(valid)
    change(copy)
    return stringify(copy)
  }

  it('accepts a well-formed manifest, and a second platform that does not overlap', () => {
    expect(validateKrewManifest(stringify(valid), 'expose-lb.yaml')).toEqual({errors: [], warnings: []})
    const twoPlatforms = broken((m) => m.spec.platforms.push(windowsPlatform))
    expect(validateKrewManifest(twoPlatforms, 'plugins/expose-lb.yaml')).toEqual({errors: [], warnings: []})
  })

  it.each([
    [
      'a wrong apiVersion',
      broken((m) => (m.apiVersion = 'krew.googlecontainertools.github.com/v1alpha1')),
      /apiVersion/,
    ],
    ['a wrong kind', broken((m) => (m.kind = 'Plugins')), /kind="Plugins"/],
    [
      'a name that differs from the file name',
      broken((m) => (m.metadata.name = 'expose')),
      /should be named "expose-lb"/,
    ],
    ['no shortDescription', broken((m) => delete m.spec.shortDescription), /should have a short description/],
    ['a two-line shortDescription', broken((m) => (m.spec.shortDescription = 'a\nb')), /line breaks/],
    ['a version without v', broken((m) => (m.spec.version = '1.2.3')), /not starting with 'v'/],
    ['a two-part version', broken((m) => (m.spec.version = 'v1.2')), /illegal version string/],
    ['no platforms', broken((m) => (m.spec.platforms = [])), /should have a platform/],
    ['no uri', broken((m) => delete m.spec.platforms[0].uri), /`uri` has to be set/],
    ['an upper-case sha256', broken((m) => (m.spec.platforms[0].sha256 = sha.toUpperCase())), /`sha256` value/],
    ['the sha256 placeholder', broken((m) => (m.spec.platforms[0].sha256 = SHA_PLACEHOLDER)), /`sha256` value/],
    ['no bin', broken((m) => delete m.spec.platforms[0].bin), /`bin` has to be set/],
    ['an empty files list', broken((m) => (m.spec.platforms[0].files = [])), /unspecified or non-empty/],
    ['a file op without to', broken((m) => (m.spec.platforms[0].files = [{from: 'x'}])), /`to` field/],
    ['no selector', broken((m) => delete m.spec.platforms[0].selector), /nil selector/],
    ['an empty selector', broken((m) => (m.spec.platforms[0].selector = {})), /empty selector/],
    [
      'a selector key other than os/arch',
      broken((m) => (m.spec.platforms[0].selector = {matchLabels: {distro: 'debian'}})),
      /key "distro" not supported/,
    ],
    [
      'a selector no krew platform matches',
      broken((m) => (m.spec.platforms[0].selector.matchExpressions[0].values = ['plan9'])),
      /doesn't match any supported platforms/,
    ],
    [
      'an In expression without values',
      broken((m) => (m.spec.platforms[0].selector.matchExpressions[0].values = [])),
      /cannot be converted/,
    ],
    [
      'two platforms selecting linux/amd64',
      broken((m) => m.spec.platforms.push({...windowsPlatform, selector: {matchLabels: {os: 'linux'}}})),
      /select os=linux\/arch=amd64/,
    ],
  ])('rejects %s', (_name, text, error) => {
    const {errors} = validateKrewManifest(text, 'expose-lb.yaml')
    expect(errors).toContainEqual(expect.stringMatching(error))
  })

  it('rejects a reserved Windows name and a file that is not .yaml', () => {
    const con = broken((m) => (m.metadata.name = 'con'))
    expect(validateKrewManifest(con, 'con.yaml').errors).toContainEqual(expect.stringMatching(/"con" is not allowed/))
    expect(validateKrewManifest(stringify(valid), 'expose-lb.yml').errors).toContainEqual(
      expect.stringMatching(/extension/),
    )
  })

  it('accepts the sha256 placeholder only when told to', () => {
    const template = broken((m) => (m.spec.platforms[0].sha256 = SHA_PLACEHOLDER))
    expect(validateKrewManifest(template, 'expose-lb.yaml', {shaPlaceholder: SHA_PLACEHOLDER}).errors).toEqual([])
  })

  it('warns about long lines, a long shortDescription and misspelt fields, as krew-index would', () => {
    const long = 'word '.repeat(17).trim() // 84 characters with spaces
    const text = broken((m) => {
      m.spec.description = `${long}\n${'x'.repeat(90)}\n` // a single long word is allowed
      m.spec.shortDescription = 'y '.repeat(30).trim()
      m.spec.shortDesription = 'typo'
    })
    expect(validateKrewManifest(text, 'expose-lb.yaml')).toEqual({
      errors: [],
      warnings: [
        'line length in `description` exceeds 80 characters',
        'shortDescription is over 50 characters (krew-index review)',
        'unknown field spec.shortDesription (krew ignores it)',
      ],
    })
  })

  it.each([
    ['v0.1.0', undefined],
    ['v1.0.0-rc.1+build.5', undefined],
    ['v01.0.0', /zero-prefixed/],
    ['v1.0.0-rc.01', /zero-prefixed/],
    ['v1.0.0.0', /illegal version/],
  ])('parses the version %s as krew does', (version, problem) => {
    const found = versionProblem(version)
    if (problem) expect(found).toMatch(problem)
    else expect(found).toBeUndefined()
  })
})

describe('the release written by scripts/package.mjs', () => {
  it("passes krew's checks as release/expose-lb.yaml", () => {
    expect(validateKrewManifest(readFileSync(MANIFEST, 'utf8'), MANIFEST)).toEqual({errors: [], warnings: []})
  })

  it('comes from the template, which passes the same checks with only its sha256 placeholder', () => {
    const templateText = readFileSync(TEMPLATE, 'utf8')
    // The template is submitted as plugins/expose-lb.yaml, so it is checked under that name.
    expect(validateKrewManifest(templateText, 'expose-lb.yaml', {shaPlaceholder: SHA_PLACEHOLDER})).toEqual({
      errors: [],
      warnings: [],
    })
    const template = parse(templateText) as Manifest
    const release = readManifest(MANIFEST)
    expect(template.spec.version).toBe(`v${VERSION}`)
    expect(template.spec.platforms.map((p) => p.sha256)).toEqual(template.spec.platforms.map(() => SHA_PLACEHOLDER))
    template.spec.platforms.forEach((platform, i) => (platform.sha256 = release.spec.platforms[i]?.sha256 ?? ''))
    expect(release).toEqual(template)
  })

  it("has one platform per archive, each naming its GitHub release asset and carrying that archive's sha256", () => {
    const platforms = readManifest(MANIFEST).spec.platforms
    const archives = [ARCHIVE, ...EXECUTABLES.map(({os, arch}) => executableArchive(os, arch))]
    expect(platforms.map((p) => basename(p.uri)).sort()).toEqual(archives.map((a) => basename(a)).sort())
    for (const platform of platforms) {
      expect(platform.uri).toBe(
        `https://github.com/expose-lb/kubectl-expose-lb/releases/download/v${VERSION}/${basename(platform.uri)}`,
      )
      expect(platform.sha256).toBe(sha256Of(join(ROOT, 'release', basename(platform.uri))))
    }
  })

  it('gives each os/arch krew knows the archive built for it: executables on Linux and Windows, Node on macOS', () => {
    const platforms = readManifest(MANIFEST).spec.platforms
    const picked = (os: string, arch: string) => basename(pickPlatform(platforms, os, arch)?.uri ?? 'none')
    for (const {os, arch} of EXECUTABLES) expect(picked(os, arch)).toBe(basename(executableArchive(os, arch)))
    expect(picked('darwin', 'amd64')).toBe(ARCHIVE_NAME)
    expect(picked('darwin', 'arm64')).toBe(ARCHIVE_NAME)
    expect(picked('linux', 'arm')).toBe('none') // no Node build for 32-bit ARM: krew says "not available"
    // The caveats say where Node is needed and where it is not.
    expect(readManifest(MANIFEST).spec.caveats).toMatch(
      /On macOS it is a Node\.js program: it needs Node\.js >= 20\.19/,
    )
  })

  it.each(EXECUTABLES)(
    'packs the $os/$arch executable with its completion helper, LICENSE and the notices (Node.js included)',
    ({os, arch, format, machine}) => {
      const archive = executableArchive(os, arch)
      const exe = os === 'windows' ? '.exe' : ''
      const helper = os === 'windows' ? `${COMPLETION_SHIM}.cmd` : COMPLETION_SHIM
      const listing = run('tar', ['-tvzf', archive])
      expect(listing.status, describeRun(listing)).toBe(0)
      const entries = listing.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const fields = line.split(/\s+/)
          return `${fields[0]} ${fields.at(-1)}`
        })
      expect(entries.sort()).toEqual(
        [
          'drwxr-xr-x kubectl-expose-lb/',
          '-rw-r--r-- kubectl-expose-lb/LICENSE',
          '-rw-r--r-- kubectl-expose-lb/THIRD_PARTY_NOTICES',
          `-rwxr-xr-x kubectl-expose-lb/kubectl-expose_lb${exe}`,
          `-rwxr-xr-x kubectl-expose-lb/${helper}`,
        ].sort(),
      )
      const dir = join(tmp, `layout-${os}-${arch}`)
      mkdirSync(dir)
      const extracted = run('tar', ['-xzf', archive, '-C', dir])
      expect(extracted.status, describeRun(extracted)).toBe(0)
      const top = join(dir, 'kubectl-expose-lb')
      const binary = readFileSync(join(top, `kubectl-expose_lb${exe}`))
      expect(executableMachine(binary, format)).toBe(machine)
      // The blob is in (the fuse flipped, the resource named) and carries the bundle, not a path to one.
      expect(binary.includes(`${SEA_FUSE}:1`)).toBe(true)
      expect(binary.includes('NODE_SEA_BLOB')).toBe(true)
      expect(binary.includes('kubectl-expose_lb.cjs')).toBe(true)
      expect(binary.includes(`${tmpdir()}/expose-lb-`)).toBe(false) // no build folder: the same bytes every time
      // The helper hands kubectl's words to the executable beside it, as the Node shim's completion does.
      expect(readFileSync(join(top, helper), 'utf8')).toMatch(
        new RegExp(`kubectl-expose_lb${exe.replace('.', '\\.')}" __complete -- `),
      )
      const notices = readFileSync(join(top, 'THIRD_PARTY_NOTICES'), 'utf8')
      expect(notices).toMatch(/^Node\.js 24\.\d+\.\d+, the runtime inside this executable$/m)
      expect(notices).toContain('@oclif/core@')
    },
  )

  it('holds the shims, package.json, the bundle without source maps, LICENSE and the notices', () => {
    const listing = run('tar', ['-tzf', ARCHIVE])
    expect(listing.status, describeRun(listing)).toBe(0)
    const entries = listing.stdout.trim().split('\n')
    for (const required of [
      'kubectl-expose_lb',
      COMPLETION_SHIM,
      'package.json',
      'LICENSE',
      'THIRD_PARTY_NOTICES',
      'dist/cli.mjs',
    ]) {
      expect(entries).toContain(`kubectl-expose-lb/${required}`)
    }
    const allowed =
      /^kubectl-expose-lb\/(|kubectl-expose_lb|kubectl_complete-expose_lb|package\.json|LICENSE|THIRD_PARTY_NOTICES|dist\/|dist\/[\w-]+\.mjs)$/
    expect(entries.filter((entry) => !allowed.test(entry))).toEqual([])
  })

  it('is reproducible: packaging the same build again gives the same bytes', () => {
    // The Node.js program only: an executable is a second 100 MB build, which this file keeps to one per run. What
    // made executables differ between builds (the blob naming its script by a temporary path) is checked above.
    const again = join(tmp, 'again')
    const args = ['scripts/package.mjs', '--no-build', '--no-cache', '--only', 'node', '--out-dir', again]
    const result = run(process.execPath, args, {cwd: ROOT})
    expect(result.status, describeRun(result)).toBe(0)
    expect(sha256Of(join(again, ARCHIVE_NAME))).toBe(sha256Of(ARCHIVE))
  })
})

const INSTALLS = [
  {what: "the Node.js program, macOS's entry (with node on PATH)", os: 'darwin', arch: 'arm64', node: true},
  {what: 'the linux/amd64 single executable (no node anywhere on PATH)', os: 'linux', arch: 'amd64', node: false},
] as const

describe.each(INSTALLS)('installed the way krew installs it: $what', ({os, arch, node}) => {
  let krewRoot = ''
  let krewBin = ''
  let installDir = ''
  let env: NodeJS.ProcessEnv = {}

  beforeAll(() => {
    const manifest = readManifest(MANIFEST)
    const platform = pickPlatform(manifest.spec.platforms, os, arch)
    if (!platform) throw new Error(`release/expose-lb.yaml has no platform for ${os}/${arch}`)
    const root = join(tmp, `${os}-${arch}`)
    krewRoot = join(root, 'krew')
    installDir = join(krewRoot, 'store', manifest.metadata.name, manifest.spec.version)
    krewBin = join(krewRoot, 'bin')
    const binPath = installLikeKrew(
      join(ROOT, 'release', basename(platform.uri)),
      platform,
      join(root, 'download'),
      installDir,
    )
    mkdirSync(krewBin, {recursive: true})
    symlinkSync(relative(krewBin, binPath), join(krewBin, 'kubectl-expose_lb')) // newer krew links relatively

    // Only the plugin, kubectl (and node for the Node.js program) on PATH, a fresh HOME, no NODE_PATH/NODE_OPTIONS.
    // kubectl sits beside Debian's node in /usr/bin, so the executable's PATH gets a folder with kubectl alone.
    const home = join(root, 'home')
    mkdirSync(home)
    const tools = join(root, 'tools')
    mkdirSync(tools)
    symlinkSync(which('kubectl'), join(tools, 'kubectl'))
    env = {PATH: [krewBin, ...(node ? [dirname(process.execPath)] : []), tools].join(delimiter), HOME: home}
  })

  if (!node) {
    it('has no node to fall back on: none of its PATH folders holds one', () => {
      const found = run('/bin/sh', ['-c', 'command -v node || echo none'], {cwd: tmp, env})
      expect(found.stdout.trim()).toBe('none')
    })
  }

  it('installs a LICENSE file, as krew-index CI requires', () => {
    expect(readdirSync(installDir).filter((name) => LICENSE_NAME.test(name))).toEqual(['LICENSE'])
  })

  it('sits where no node_modules folder can be reached, so only the bundle itself can be loaded', () => {
    expect(relative(ROOT, installDir).startsWith('..')).toBe(true)
    for (let dir = installDir; ; dir = dirname(dir)) {
      expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false)
      if (dirname(dir) === dir) break
    }
  })

  it('runs under the real kubectl: kubectl expose-lb --help', () => {
    const result = run('kubectl', ['expose-lb', '--help'], {cwd: tmp, env})
    expect(result.status, describeRun(result)).toBe(0)
    expect(result.stdout).toContain('kubectl expose-lb')
    expect(result.stdout).toContain('list')
    // oclif's version line names the Node it runs on: the one inside the executable, or the one on PATH.
    expect(result.stdout).toContain(node ? `node-${process.version}` : 'node-v24.')
  })

  it('is listed by kubectl plugin list', () => {
    const result = run('kubectl', ['plugin', 'list'], {cwd: tmp, env})
    expect(result.status, describeRun(result)).toBe(0)
    expect(result.stdout).toContain(join(krewBin, 'kubectl-expose_lb'))
  })

  it('installs the completion executable, which the caveats link into PATH for kubectl to complete through', () => {
    accessSync(join(installDir, COMPLETION_SHIM), constants.X_OK)
    // The commands the caveats give: the indented lines after the prose, run as a user would paste them.
    const caveats = readManifest(MANIFEST).spec.caveats ?? ''
    const commands = caveats
      .split('\n')
      .filter((line) => line.startsWith('  '))
      .join('\n')
    expect(commands).toContain(COMPLETION_SHIM)
    const linked = run('/bin/sh', ['-c', commands], {cwd: tmp, env: {PATH: '/usr/bin:/bin', KREW_ROOT: krewRoot}})
    expect(linked.status, describeRun(linked)).toBe(0)
    expect(statSync(join(krewBin, COMPLETION_SHIM)).isFile()).toBe(true)

    const result = run('kubectl', ['__complete', 'expose-lb', ''], {cwd: tmp, env})
    expect(result.status, describeRun(result)).toBe(0)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines.map((line) => line.split('\t')[0])).toEqual(expect.arrayContaining(['list', 'serve']))
    expect(lines.at(-1)).toBe(':4')
  })

  if (!node) {
    it('lists the simulated homelab: kubectl expose-lb list', async () => {
      const sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
      try {
        const kubeconfig = join(tmp, 'kubeconfig')
        writeFileSync(kubeconfig, sim.kubeconfig())
        const result = await runAsync('kubectl', ['expose-lb', 'list', '--kubeconfig', kubeconfig], env)
        expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
        expect(result.stdout).toMatch(/^CONTEXT: sim \(http:\/\/127\.0\.0\.1:\d+\) {3}NODES: 3 \(3 ready\)$/m)
        const radarr = result.stdout.split('\n').find((line) => line.startsWith('media '))
        expect(radarr?.split(/ {3,}/).slice(0, 3)).toEqual(['media', 'radarr', 'NodePort'])
        expect(result.stderr).toBe('') // no Node warning (DEP0169, DEP0040) from inside the executable
      } finally {
        await sim.close()
      }
    })

    it("installs serve as a service that runs the executable through krew's link, with no node", async () => {
      const kubeconfig = join(tmp, 'service-kubeconfig')
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]',
          'users: [{name: u, user: {}}]',
          'contexts: [{name: x, context: {cluster: c, user: u}}]',
          'current-context: x',
        ].join('\n'),
      )
      const args = ['expose-lb', 'service', 'install', '--dry-run', '--dns-port', '5353', '--kubeconfig', kubeconfig]
      const result = await runAsync('kubectl', args, env)
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
      // kubectl starts the plugin by the path it found on PATH: the link survives `kubectl krew upgrade`.
      expect(result.stdout).toContain(
        `ExecStart=${join(krewBin, 'kubectl-expose_lb')} serve --kubeconfig=${kubeconfig}`,
      )
    })

    it('serves the demo homelab: kubectl expose-lb serve --demo, answered through curl and dig', async () => {
      const args = [
        'expose-lb',
        'serve',
        '--demo',
        '-v', // one of its lines names the Node options it runs with
        // Nodes of its own: test/e2e/demo.test.ts may run the demo's default nodes (127.0.10.x) at the same time.
        '--demo-nodes',
        '127.0.58.',
        '--dns-port',
        '0',
        '--http-port',
        '0',
        '--ip-range',
        '127.97.0.0/16',
      ]
      const child = spawn('kubectl', args, {cwd: tmp, env: {...env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()))
      child.stdout.resume()
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
      try {
        const serving = await waitFor(
          () => /DNS on 127\.0\.0\.1:(\d+) \(udp, tcp\), HTTP on 127\.0\.0\.1:(\d+)/.exec(stderr) ?? undefined,
          20_000,
          `serve's "serving" line (stderr so far: ${stderr})`,
        )
        const [, dnsPort, httpPort] = serving
        // The executable's own execArgv (scripts/sea.mjs): serve's young generation (src/serve/heap-growth.ts).
        expect(stderr).toContain(`options: --max-semi-space-size=${SEMI_SPACE_MB}\n`)
        const curl = await execFileAsync('curl', ['-s', '--max-time', '5', `http://radarr.localhost:${httpPort}/`])
        expect(JSON.parse(curl.stdout)).toMatchObject({
          service: 'media/radarr',
          node: expect.stringMatching(/^node-[abc]$/),
        })
        const dig = await execFileAsync('dig', ['@127.0.0.1', '-p', String(dnsPort), 'radarr.kube.internal', '+short'])
        expect(dig.stdout.trim()).toMatch(/^127\.97\.\d+\.\d+$/)
      } finally {
        if (child.exitCode === null) child.kill('SIGINT')
        expect(await exited).toBe(0)
      }
    })
  }
})

/** The platform krew would pick for os/arch (matchLabels and `In` expressions, all this manifest uses). */
function pickPlatform(platforms: Platform[], os: string, arch: string): Platform | undefined {
  const labels: Record<string, string> = {os, arch}
  return platforms.find(({selector}) => {
    const labelsMatch = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value)
    const expressionsMatch = (selector.matchExpressions ?? []).every(({key, values}) =>
      values.includes(labels[key] ?? ''),
    )
    return labelsMatch && expressionsMatch
  })
}

/** The machine field of an ELF (e_machine) or PE (COFF Machine) header; undefined when the format does not match. */
function executableMachine(binary: Buffer, format: 'elf' | 'pe'): number | undefined {
  if (format === 'elf') {
    return binary.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) ? binary.readUInt16LE(18) : undefined
  }
  if (binary.toString('latin1', 0, 2) !== 'MZ') return undefined
  const pe = binary.readUInt32LE(0x3c) // e_lfanew
  return binary.toString('latin1', pe, pe + 4) === 'PE\0\0' ? binary.readUInt16LE(pe + 4) : undefined
}

function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{code: number; stdout: string; stderr: string}>((done) => {
    execFile(command, args, {cwd: tmp, env, timeout: 30_000}, (error, stdout, stderr) =>
      done({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr}),
    )
  })
}

/**
 * Extracts the archive and applies the platform's `files` operations into installDir the way krew does
 * (internal/installation/move.go), returning the path of the installed `bin`.
 */
function installLikeKrew(archive: string, platform: Platform, extractDir: string, installDir: string): string {
  mkdirSync(extractDir, {recursive: true})
  const extracted = run('tar', ['-xzf', archive, '-C', extractDir])
  if (extracted.status !== 0) throw new Error(`cannot extract ${archive}: ${describeRun(extracted)}`)
  mkdirSync(installDir, {recursive: true})
  for (const op of platform.files) {
    for (const move of findMoves(extractDir, installDir, op)) {
      mkdirSync(dirname(move.to), {recursive: true})
      renameSync(move.from, move.to)
    }
  }
  const binPath = resolve(installDir, platform.bin)
  if (!isInside(installDir, binPath)) throw new Error(`bin ${platform.bin} is outside the install dir`)
  if (!statSync(binPath).isFile()) throw new Error(`bin ${platform.bin} is not a file`)
  accessSync(binPath, constants.X_OK) // krew keeps the archive's modes: the shim must be executable as shipped
  return binPath
}

/** findMoveTargets: a `from` naming an existing path moves directly, otherwise it is a glob. */
function findMoves(fromDir: string, toDir: string, op: FileOperation): Array<{from: string; to: string}> {
  if (op.to !== cleanPath(op.to))
    throw new Error(`the provided path is not clean, ${op.to} should be ${cleanPath(op.to)}`)
  const direct = resolve(fromDir, op.from)
  const moves = existsSync(direct)
    ? [{from: direct, to: cleanPath(op.to) === '.' ? join(toDir, basename(direct)) : resolve(toDir, op.to)}]
    : glob(fromDir, op.from).map((from) => ({from, to: join(resolve(toDir, op.to), basename(from))}))
  if (moves.length === 0) throw new Error(`no files in the plugin archive matched the glob pattern=${op.from}`)
  for (const move of moves) {
    if (!isInside(fromDir, move.from) || !isInside(toDir, move.to))
      throw new Error(`move ${move.from} is out of bounds`)
  }
  return moves
}

/** Go's filepath.Clean, for the relative forward-slash paths a manifest holds. */
function cleanPath(path: string): string {
  const normalized = posix.normalize(path)
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized
}

/** filepath.Glob for `*` and `?` (all a manifest here needs), one path segment at a time. */
function glob(root: string, pattern: string): string[] {
  let paths = [root]
  for (const segment of pattern.split('/').filter((s) => s !== '' && s !== '.')) {
    const source = segment
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
    const matcher = new RegExp(`^${source}$`)
    paths = paths.flatMap((dir) =>
      statSync(dir).isDirectory()
        ? readdirSync(dir)
            .filter((name) => matcher.test(name))
            .sort()
            .map((name) => join(dir, name))
        : [],
    )
  }
  return paths
}

function isInside(base: string, path: string): boolean {
  const rel = relative(base, path)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
}

function which(command: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command)
    if (existsSync(candidate)) return candidate
  }
  throw new Error(`${command} is not on PATH`)
}

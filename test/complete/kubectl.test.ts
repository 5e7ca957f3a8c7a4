// Completion as a shell gets it: the real `kubectl __complete expose-lb …` (what kubectl's completion scripts
// run on TAB) finds bin/kubectl_complete-expose_lb on PATH and relays its candidates and directive.
import {execFile, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {delimiter, dirname, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {COMMANDS} from '../../src/commands.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {BIN_DIR, kubectl, ROOT, writeKubeconfig, type Run} from '../e2e/helpers.js'

const SHIM = join(BIN_DIR, 'kubectl_complete-expose_lb')

/** kubectl's answer split into candidate lines and the directive line. */
function answer(run: Run): {candidates: string[]; directive: string} {
  expect(run.code, run.stderr).toBe(0)
  const lines = run.stdout.trimEnd().split('\n')
  return {candidates: lines.slice(0, -1), directive: lines.at(-1) ?? ''}
}

/** Candidate values without their descriptions. */
function names(run: Run): string[] {
  return answer(run).candidates.map((line) => line.split('\t')[0] ?? '')
}

/** Runs the completion executable itself, as kubectl does, to see what it writes where. */
function runShim(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const base = {PATH: [dirname(process.execPath), process.env.PATH].join(delimiter), HOME: env.HOME ?? '/nonexistent'}
  return new Promise((resolve) => {
    execFile(SHIM, args, {env: {...base, ...env}, timeout: 20_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
    })
  })
}

const TWO_CONTEXTS = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts:
  - {name: homelab, context: {cluster: c, user: u}}
  - {name: work, context: {cluster: c, user: u}}
current-context: homelab
`

let sim: SimServer
let simConfig = ''
beforeAll(async () => {
  // npm test builds first (pretest); build here only when run on its own before any build.
  if (!existsSync(join(ROOT, 'dist', 'cli.mjs'))) {
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], {cwd: ROOT, encoding: 'utf8'})
    expect(build.status, build.stderr).toBe(0)
  }
  sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
  simConfig = writeKubeconfig(sim.kubeconfig())
}, 120_000)
afterAll(() => sim?.close())

describe('kubectl __complete expose-lb', () => {
  it('offers the subcommands with their summaries, and no file names', async () => {
    const result = answer(await kubectl(['__complete', 'expose-lb', '']))
    const visible = Object.entries(COMMANDS).filter(([, command]) => !command.hidden)
    // A topic's commands (service:install, …) are offered as the topic, once.
    const words = [...new Set(visible.map(([id]) => id.split(':')[0]))]
    expect(result.candidates.map((line) => line.split('\t')[0])).toEqual(words)
    expect(result.candidates).toContain(
      'service\tRun serve at login as a service of this machine: install, status, uninstall',
    )
    expect(result.candidates).toContain(`list\t${COMMANDS.list.summary}`)
    expect(result.directive).toBe(':4')
  })

  it("offers a topic's subcommands", async () => {
    expect(names(await kubectl(['__complete', 'expose-lb', 'service', '']))).toEqual(['install', 'status', 'uninstall'])
  })

  it('filters the subcommands by the typed prefix', async () => {
    expect(names(await kubectl(['__complete', 'expose-lb', 'l']))).toEqual(['list'])
  })

  it('offers subcommands after flags typed before them', async () => {
    const run = await kubectl(['__complete', 'expose-lb', '--context', 'x', '-n', 'y', 'li'])
    expect(names(run)).toEqual(['list'])
  })

  it('offers the values of -o', async () => {
    const run = await kubectl(['__complete', 'expose-lb', 'list', '-o', ''])
    expect(answer(run)).toEqual({candidates: ['table', 'wide', 'json', 'yaml'], directive: ':4'})
  })

  it("completes explain's -o after the Service name", async () => {
    const run = await kubectl(['__complete', 'expose-lb', 'explain', 'traefik', '-o', ''])
    expect(answer(run)).toEqual({candidates: ['text', 'json', 'yaml'], directive: ':4'})
  })

  it("offers the flags of the subcommand, including ones it shares with others and oclif's help", async () => {
    const flags = names(await kubectl(['__complete', 'expose-lb', 'serve', '--']))
    expect(flags).toEqual(expect.arrayContaining(['--context', '--namespace', '--demo', '--dns-port', '--help']))
    expect(flags).not.toContain('--output')
  })

  it('offers the contexts of KUBECONFIG for --context', async () => {
    const run = await kubectl(['__complete', 'expose-lb', 'list', '--context', ''], {
      KUBECONFIG: writeKubeconfig(TWO_CONTEXTS),
    })
    expect(answer(run)).toEqual({candidates: ['homelab', 'work'], directive: ':4'})
  })

  it('offers the contexts of a --kubeconfig typed earlier on the line', async () => {
    const file = writeKubeconfig(TWO_CONTEXTS)
    const run = await kubectl(['__complete', 'expose-lb', '--kubeconfig', file, 'list', '--context', 'w'])
    expect(answer(run)).toEqual({candidates: ['work'], directive: ':4'})
  })

  it('lets the shell complete file names for --kubeconfig', async () => {
    expect(answer(await kubectl(['__complete', 'expose-lb', 'list', '--kubeconfig', '']))).toEqual({
      candidates: [],
      directive: ':0',
    })
  })

  it('offers the namespaces of the cluster for -n', async () => {
    const all = await kubectl(['__complete', 'expose-lb', 'list', '-n', ''], {KUBECONFIG: simConfig})
    expect(answer(all)).toEqual({candidates: ['default', 'dns', 'iot', 'media', 'monitoring'], directive: ':4'})
    const some = await kubectl(['__complete', 'expose-lb', '--kubeconfig', simConfig, 'serve', '--namespace', 'm'])
    expect(names(some)).toEqual(['media', 'monitoring'])
  })
})

describe('bin/kubectl_complete-expose_lb', () => {
  it('prints only candidates, never an error, when the cluster is unreachable', async () => {
    const run = await runShim(['list', '-n', ''], {KUBECONFIG: writeKubeconfig(TWO_CONTEXTS)})
    expect(run).toEqual({code: 0, stdout: ':4\n', stderr: ''})
  })

  it('answers, with nothing, when the API server hangs', async () => {
    sim.setFault(() => 'hang')
    try {
      const run = await runShim(['list', '-n', ''], {KUBECONFIG: simConfig})
      expect(run).toEqual({code: 0, stdout: ':4\n', stderr: ''})
    } finally {
      sim.setFault(undefined)
    }
  })

  it('completes a word after a typed -h or --help instead of printing help', async () => {
    const run = await runShim(['list', '--help', '-o', 'j'], {})
    expect(run).toEqual({code: 0, stdout: 'json\n:4\n', stderr: ''})
  })
})

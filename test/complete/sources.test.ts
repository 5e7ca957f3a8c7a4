// Where completion's dynamic values come from: context names read from kubeconfig files, namespace names from the
// (simulated) API server, and nothing — quickly, silently — when either cannot answer.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {clusterSource, contextNames, kubeconfigFiles} from '../../src/complete/sources.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'

const scratch = mkdtempSync(join(tmpdir(), 'expose-lb-complete-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))

function file(name: string, text: string): string {
  const path = join(scratch, name)
  writeFileSync(path, text)
  return path
}

/** A kubeconfig whose contexts all point at `server`. */
function kubeconfigWith(contexts: string[], server = 'http://127.0.0.1:1'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "' + server + '"}}]',
    'users: [{name: u, user: {}}]',
    'contexts:',
    ...contexts.map((name) => `  - {name: ${name}, context: {cluster: c, user: u}}`),
    `current-context: ${contexts[0] ?? ''}`,
  ].join('\n')
}

describe('kubeconfigFiles', () => {
  const env = {HOME: '/home/u', KUBECONFIG: ['/a', '', '/b'].join(delimiter)}

  it.each([
    ['--kubeconfig wins over KUBECONFIG', {kubeconfig: '/k'}, env, ['/k']],
    ['a typed ~/ is expanded, as the shell will when the command runs', {kubeconfig: '~/k'}, env, ['/home/u/k']],
    ['KUBECONFIG lists files, empty entries dropped', {}, env, ['/a', '/b']],
    ['~/.kube/config without either', {}, {HOME: '/home/u'}, ['/home/u/.kube/config']],
  ])('%s', (_name, target, environment, expected) => {
    expect(kubeconfigFiles(target, environment)).toEqual(expected)
  })
})

describe('contextNames', () => {
  it('lists contexts file by file, each name once, skipping missing and broken files', () => {
    const first = file('first', kubeconfigWith(['prod', 'dev']))
    const second = file('second', kubeconfigWith(['dev', 'homelab']))
    const broken = file('broken', 'contexts: [unclosed')
    const empty = file('empty', '')
    expect(contextNames([first, join(scratch, 'missing'), broken, empty, second])).toEqual(['prod', 'dev', 'homelab'])
  })

  it('is what clusterSource offers, following KUBECONFIG or a typed --kubeconfig', async () => {
    const a = file('a', kubeconfigWith(['a1', 'a2']))
    const b = file('b', kubeconfigWith(['b1']))
    const source = clusterSource({HOME: scratch, KUBECONFIG: [a, b].join(delimiter)})
    expect(await source.contexts({})).toEqual(['a1', 'a2', 'b1'])
    expect(await source.contexts({kubeconfig: b})).toEqual(['b1'])
  })
})

describe('namespace names from the cluster', () => {
  // Generous where an answer is expected: the first lookup also imports client-node, and a loaded 2-core machine can
  // take longer than completion's own 2 s budget (NAMESPACE_TIMEOUT_MS). The budget itself is tested with a hang.
  const ANSWER_MS = 20_000
  let sim: SimServer
  let config = ''
  beforeAll(async () => {
    sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
    config = file('sim', sim.kubeconfig())
  })
  afterAll(() => sim.close())

  it('lists the namespaces of the current context', async () => {
    const source = clusterSource({HOME: scratch, KUBECONFIG: config}, ANSWER_MS)
    expect(await source.namespaces({})).toEqual(['default', 'dns', 'iot', 'media', 'monitoring'])
  })

  it('asks the cluster of the --kubeconfig and --context typed on the line', async () => {
    const merged = file('merged', kubeconfigWith(['elsewhere']))
    const source = clusterSource({HOME: scratch, KUBECONFIG: merged}, ANSWER_MS)
    expect(await source.namespaces({})).toEqual([]) // elsewhere is 127.0.0.1:1: nothing listens
    expect(await source.namespaces({kubeconfig: config, context: 'sim'})).toContain('media')
    expect(await source.namespaces({kubeconfig: config, context: 'nope'})).toEqual([])
  })

  it('gives nothing when the API server forbids the list', async () => {
    sim.setFault((req) => (req.path === '/api/v1/namespaces' ? {status: 403} : undefined))
    try {
      expect(await clusterSource({HOME: scratch, KUBECONFIG: config}, ANSWER_MS).namespaces({})).toEqual([])
    } finally {
      sim.setFault(undefined)
    }
  })

  it('gives nothing when the API server does not answer in time', async () => {
    sim.setFault(() => 'hang')
    try {
      expect(await clusterSource({HOME: scratch, KUBECONFIG: config}, 300).namespaces({})).toEqual([])
    } finally {
      sim.setFault(undefined)
    }
  })

  it('gives nothing without any kubeconfig', async () => {
    expect(await clusterSource({HOME: scratch}).namespaces({})).toEqual([])
  })
})

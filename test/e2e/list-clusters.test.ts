// `list` over several clusters: two simulated API servers holding Services of the same names, and a context whose
// API server is not there. Each cluster is read on its own; names say which cluster they lead to.
import {delimiter} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {EXIT} from '../../src/errors.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {kubectl, writeKubeconfig} from './helpers.js'

let home: SimServer
let test: SimServer
let kubeconfig: string
beforeAll(async () => {
  home = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
  test = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML.replaceAll('127.0.10.', '127.0.20.'))})
  const gone = home.kubeconfig({contextName: 'gone'}).replace(/server: \S+/, 'server: http://127.0.0.1:1')
  kubeconfig = [
    writeKubeconfig(home.kubeconfig({contextName: 'home'})),
    writeKubeconfig(test.kubeconfig({contextName: 'kind-test'})),
    writeKubeconfig(gone),
  ].join(delimiter)
})
afterAll(async () => {
  await home?.close()
  await test?.close()
})

interface Report {
  clusters: Array<{name: string; context: string; server: string; nodes: unknown[]; error?: string}>
  services: Array<{
    cluster: string
    namespace: string
    name: string
    names: string[]
    ports: Array<{targets: string[]}>
  }>
  warnings: string[]
}

describe('list with several contexts', () => {
  it('-o json: one entry per cluster, every Service marked with its cluster, shared names given to neither', async () => {
    const run = await kubectl(['expose-lb', 'list', '--context', 'home', '--context', 'kind-test', '-o', 'json'], {
      KUBECONFIG: kubeconfig,
    })
    expect(run.code, run.stderr).toBe(0)
    const report = JSON.parse(run.stdout) as Report
    expect(Object.keys(report)).toEqual(['apiVersion', 'kind', 'domain', 'clusters', 'services', 'hosts', 'warnings'])
    expect(report.clusters.map((c) => [c.name, c.context, c.nodes.length])).toEqual([
      ['home', 'home', 3],
      ['kind-test', 'kind-test', 3],
    ])
    const radarr = (cluster: string) =>
      report.services.find((s) => s.cluster === cluster && s.namespace === 'media' && s.name === 'radarr')
    expect(radarr('home')?.names).toEqual(['radarr.media.home.kube.internal'])
    expect(radarr('kind-test')?.names).toEqual(['radarr.media.kind-test.kube.internal'])
    // Each cluster's Services target its own nodes.
    expect(radarr('home')?.ports[0]?.targets).toEqual(['127.0.10.1:30878', '127.0.10.2:30878', '127.0.10.3:30878'])
    expect(radarr('kind-test')?.ports[0]?.targets).toEqual(['127.0.20.1:30878', '127.0.20.2:30878', '127.0.20.3:30878'])
    expect(report.warnings).toContain(
      'name radarr.kube.internal is claimed by home/media/radarr and kind-test/media/radarr: none of them gets it',
    )
  })

  it('--cluster-name gives a context the label its names carry', async () => {
    const run = await kubectl(
      [
        'expose-lb',
        'list',
        '--context',
        'home',
        '--context',
        'kind-test',
        '--cluster-name',
        'kind-test=lab',
        '-o',
        'json',
      ],
      {KUBECONFIG: kubeconfig},
    )
    const report = JSON.parse(run.stdout) as Report
    expect(report.clusters.map((c) => c.name)).toEqual(['home', 'lab'])
    expect(report.services.find((s) => s.cluster === 'lab' && s.name === 'radarr')?.names).toEqual([
      'radarr.media.lab.kube.internal',
    ])
  })

  it('--all-contexts: a cluster that cannot be reached is named, the others are listed, and the exit says so', async () => {
    const run = await kubectl(['expose-lb', 'list', '--all-contexts'], {KUBECONFIG: kubeconfig})
    expect(run.code).toBe(EXIT.unreachable)
    expect(run.stdout).toMatch(/^CLUSTER: home\nCONTEXT: home \(http:\/\/127\.0\.0\.1:\d+\) {3}NODES: 3 \(3 ready\)\n/)
    expect(run.stdout).toMatch(/\nCLUSTER: gone\nCONTEXT: gone {3}ERROR: .*127\.0\.0\.1:1/)
    const header = run.stdout.split('\n').find((l) => l.startsWith('CLUSTER '))
    expect(header?.split(/ {3,}/)).toEqual([
      'CLUSTER',
      'NAMESPACE',
      'NAME',
      'TYPE',
      'EXPOSURE',
      'NAMES',
      'PORTS',
      'TARGETS',
    ])
    expect(run.stdout).toMatch(/\nkind-test {3,}media {3,}radarr {3,}NodePort/)
    expect(run.stderr).toMatch(/^error: context "gone": .*127\.0\.0\.1:1/m)
  })

  it('--all-contexts needs no current-context: a kubeconfig that sets none still lists every cluster', async () => {
    const docs = [home.kubeconfig({contextName: 'home'}), test.kubeconfig({contextName: 'kind-test'})].map(
      (c) => parse(c) as Record<string, unknown[]>,
    )
    const all = (key: string) => docs.flatMap((d) => d[key] ?? [])
    const noCurrent = writeKubeconfig(
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: all('clusters'),
        users: all('users'),
        contexts: all('contexts'),
      }),
    )
    const run = await kubectl(['expose-lb', 'list', '--all-contexts', '--kubeconfig', noCurrent, '-o', 'json'])
    expect(run.code, run.stderr).toBe(0)
    expect((JSON.parse(run.stdout) as Report).clusters.map((c) => c.name)).toEqual(['home', 'kind-test'])
  })

  it('refuses --cluster-name with one context, and a label two contexts would share', async () => {
    const one = await kubectl(['expose-lb', 'list', '--context', 'home', '--cluster-name', 'home=h'], {
      KUBECONFIG: kubeconfig,
    })
    expect([one.code, one.stderr.trim()]).toEqual([
      EXIT.usage,
      'error: --cluster-name applies to several contexts: add --context twice or more, or --all-contexts',
    ])
    const clash = await kubectl(
      ['expose-lb', 'list', '--context', 'home', '--context', 'kind-test', '--cluster-name', 'kind-test=home'],
      {KUBECONFIG: kubeconfig},
    )
    expect(clash.code).toBe(EXIT.usage)
    expect(clash.stderr).toMatch(/contexts "home" and "kind-test" both become the cluster name "home"/)
  })
})

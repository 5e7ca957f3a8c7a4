// One serve over several clusters: two simulated clusters holding Services of the same names (their own loopback
// nodes answer), and a context whose API server is not there. Names say which cluster they lead to; a cluster
// that is away never stops the others.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {LoopbackNodes} from '../../src/sim/nodes.js'
import {writeKubeconfig} from './helpers.js'
import {get, startServe, waitFor, type ServeProcess} from './serve-helpers.js'

interface Cluster {
  sim: SimServer
  nodes: LoopbackNodes
}
/**
 * The homelab with its nodes renamed `<prefix>-a…c` at 127.0.<third>.1…3 and its grafana Pod `grafana-<prefix>`, so
 * answers tell the clusters apart.
 */
async function cluster(prefix: string, third: number): Promise<Cluster> {
  const yaml = HOMELAB_YAML.replaceAll('127.0.10.', `127.0.${third}.`)
    .replace(/\bnode-([abc])\b/g, `${prefix}-$1`)
    .replaceAll('grafana-6f4b8d7c9-mq2xz', `grafana-${prefix}`)
  const sim = await startSimServer({objects: loadObjectsFromYaml(yaml)})
  const nodes = new LoopbackNodes()
  await nodes.sync(sim.objects())
  return {sim, nodes}
}

/** One kubeconfig holding the contexts of several files, as `kubectl config view --flatten` of KUBECONFIG would. */
function merged(...configs: string[]): string {
  const docs = configs.map((c) => parse(c) as Record<string, unknown[]>)
  const all = (key: string) => docs.flatMap((d) => d[key] ?? [])
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: all('clusters'),
    users: all('users'),
    contexts: all('contexts'),
    'current-context': 'home',
  })
}

let home: Cluster
let lab: Cluster
let kubeconfig: string
beforeAll(async () => {
  home = await cluster('home', 41)
  lab = await cluster('lab', 42)
  const gone = home.sim.kubeconfig({contextName: 'gone'}).replace(/server: \S+/, 'server: http://127.0.0.1:1')
  kubeconfig = writeKubeconfig(
    merged(home.sim.kubeconfig({contextName: 'home'}), lab.sim.kubeconfig({contextName: 'kind-lab'}), gone),
  )
})
afterAll(async () => {
  for (const c of [home, lab]) {
    await c?.nodes.close()
    await c?.sim.close()
  }
})

describe('serve with several contexts', () => {
  let serve: ServeProcess
  afterAll(async () => {
    await serve?.stop()
  })

  it('names every Service by cluster, gives shared names to neither, routes each to its own nodes; one cluster away never stops the others', async () => {
    serve = await startServe([
      '--kubeconfig',
      kubeconfig,
      '--context',
      'home',
      '--context',
      'kind-lab',
      '--context',
      'gone',
      '--cluster-name',
      'kind-lab=lab',
      '--ip-range',
      '127.93.0.0/16',
    ])
    expect(serve.stderr()).toMatch(
      /serving kube\.internal for contexts "home" as home, "kind-lab" as lab, "gone" as gone/,
    )
    expect(serve.stderr()).toMatch(
      /warning: context "gone": .*127\.0\.0\.1:1.*; serving the other clusters, trying this one again in the background/,
    )
    const routes = JSON.parse(
      (await get(`http://127.0.0.1:${serve.httpPort}/api/routes`, {host: 'expose-lb.localhost'})).body,
    ) as {warnings: string[]}
    expect(routes.warnings[0]).toMatch(
      /^context "gone" \(gone\) is not served: .*127\.0\.0\.1:1.*; trying again in the background$/,
    )
    const [atHome] = await serve.resolver.resolve4('radarr.media.home.kube.internal')
    const [atLab] = await serve.resolver.resolve4('radarr.media.lab.kube.internal')
    expect(atHome).toMatch(/^127\.93\./)
    expect(atLab).toMatch(/^127\.93\./)
    expect(atLab).not.toEqual(atHome)
    await expect(serve.resolver.resolve4('radarr.kube.internal')).rejects.toMatchObject({code: 'ENOTFOUND'})
    expect(serve.stderr()).toContain(
      'warning: name radarr.kube.internal is claimed by home/media/radarr and lab/media/radarr: none of them gets it',
    )

    const byRouter = async (host: string) => (await get(`http://127.0.0.1:${serve.httpPort}/`, {host})).node
    expect(await byRouter('radarr.media.home.kube.internal')).toMatch(/^home-[abc]$/)
    expect(await byRouter('radarr.media.lab.kube.internal')).toMatch(/^lab-[abc]$/)
    expect(await byRouter('radarr.media.lab.localhost')).toMatch(/^lab-[abc]$/)
    expect((await get(`http://${atLab}:7878/`, {host: 'radarr.media.lab.kube.internal'})).node).toMatch(/^lab-[abc]$/)

    // A ClusterIP Service goes through its own cluster's API server (pods/portforward).
    for (const cluster of ['home', 'lab']) {
      const answer = await get(`http://127.0.0.1:${serve.httpPort}/`, {
        host: `grafana.monitoring.${cluster}.kube.internal`,
      })
      expect([answer.status, answer.node]).toEqual([200, `pod/grafana-${cluster}`])
    }

    // The lab's API server goes away: its watch is lost, home's names keep working, and lab's keep their last map.
    await lab.sim.close()
    await waitFor(() => /context "kind-lab": watch lost/.test(serve.stderr()), 15_000, 'the lost watch')
    expect(await byRouter('radarr.media.home.kube.internal')).toMatch(/^home-[abc]$/)
    expect(await serve.resolver.resolve4('radarr.media.home.kube.internal')).toEqual([atHome])
  })

  it('--all-contexts: a context that cannot even be opened (its certificate file is missing) is named and retried; the others are served', async () => {
    const broken = parse(home.sim.kubeconfig({contextName: 'broken'})) as {users: {user: object}[]}
    broken.users[0]!.user = {
      'client-certificate': '/nonexistent/expose-lb-test/client.crt',
      'client-key': '/nonexistent/expose-lb-test/client.key',
    }
    const config = writeKubeconfig(merged(home.sim.kubeconfig({contextName: 'home'}), stringify(broken)))
    const both = await startServe(['--kubeconfig', config, '--all-contexts', '--ip-range', '127.94.0.0/16'])
    try {
      expect(both.stderr()).toMatch(/serving kube\.internal for contexts "home" as home, "broken" as broken/)
      expect(both.stderr()).toMatch(
        /warning: context "broken": .*client\.crt.*; serving the other clusters, trying this one again in the background/,
      )
      expect(await both.resolver.resolve4('radarr.media.home.kube.internal')).toEqual([
        expect.stringMatching(/^127\.94\./),
      ])
      const answer = await get(`http://127.0.0.1:${both.httpPort}/`, {host: 'grafana.monitoring.home.kube.internal'})
      expect([answer.status, answer.node]).toEqual([200, 'pod/grafana-home'])
    } finally {
      await both.stop()
    }
  })
})

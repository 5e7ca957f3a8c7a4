import {readdirSync, readFileSync} from 'node:fs'
import http from 'node:http'
import {join} from 'node:path'
import {describe, expect, it, onTestFinished} from 'vitest'
import {
  loadObjectsFromYaml,
  startSimServer,
  type KubeObject,
  type SimServer,
  type SimServerOptions,
} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {humanDuration} from '../../src/sim/table.js'

const FIXTURES = join(import.meta.dirname, '../fixtures')
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'

async function start(opts: SimServerOptions = {objects: loadObjectsFromYaml(HOMELAB_YAML)}): Promise<SimServer> {
  const sim = await startSimServer(opts)
  onTestFinished(() => sim.close())
  return sim
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests poke at arbitrary JSON
type Json = any

async function get(
  sim: SimServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<{status: number; body: Json}> {
  const res = await fetch(sim.url + path, {headers})
  const text = await res.text()
  return {status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text}
}

const names = (list: {items: KubeObject[]}) => list.items.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`)

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A raw watch stream: parsed events, raw lines, and a promise for the end of the stream. */
function openWatch(sim: SimServer, path: string, headers: Record<string, string> = {}) {
  const events: Json[] = []
  const lines: string[] = []
  let status = 0
  let ended = false
  const req = http.get(sim.url + path, {headers}, (res) => {
    status = res.statusCode ?? 0
    let buffer = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buffer += chunk
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        lines.push(buffer.slice(0, i))
        buffer = buffer.slice(i + 1)
        try {
          events.push(JSON.parse(lines.at(-1)!))
        } catch {
          // kept in `lines` for the corrupt-line test
        }
      }
    })
    res.on('close', () => (ended = true))
  })
  req.on('error', () => (ended = true))
  onTestFinished(() => void req.destroy())
  return {
    events,
    lines,
    status: () => status,
    ended: () => ended,
    types: () => events.map((e) => `${e.type} ${e.object.metadata?.name ?? e.object.reason}`),
  }
}

const service = (name: string, namespace: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {name, namespace, labels},
  spec: {type: 'ClusterIP', ports: [{port: 80}]},
})

describe('discovery', () => {
  it('serves the core group, the built-in groups and version info', async () => {
    const sim = await start()
    expect((await get(sim, '/api')).body.versions).toEqual(['v1'])
    const groups = (await get(sim, '/apis')).body.groups.map((g: Json) => g.name)
    expect(groups).toEqual(
      expect.arrayContaining(['apps', 'discovery.k8s.io', 'networking.k8s.io', 'apiextensions.k8s.io']),
    )
    expect(groups).not.toContain('metallb.io')
    const core = (await get(sim, '/api/v1')).body
    expect(core.resources).toContainEqual({
      name: 'services',
      singularName: 'service',
      namespaced: true,
      kind: 'Service',
      verbs: ['get', 'list', 'watch'],
      shortNames: ['svc'],
    })
    expect(core.resources).toContainEqual(
      expect.objectContaining({name: 'nodes', namespaced: false, shortNames: ['no']}),
    )
    expect((await get(sim, '/version')).body.gitVersion).toBe('v1.32.0')
    expect(await get(sim, '/healthz')).toEqual({status: 200, body: 'ok'})
    expect((await get(sim, '/readyz')).status).toBe(200)
  })

  it('advertises a custom group only once an object of that group exists', async () => {
    const sim = await start()
    expect((await get(sim, '/apis/metallb.io/v1beta1')).status).toBe(404)
    sim.apply({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: {name: 'home', namespace: 'metallb-system'},
      spec: {addresses: ['192.168.1.240-192.168.1.250']},
    })
    const metallb = (await get(sim, '/apis')).body.groups.find((g: Json) => g.name === 'metallb.io')
    expect(metallb.preferredVersion).toEqual({groupVersion: 'metallb.io/v1beta1', version: 'v1beta1'})
    const resources = (await get(sim, '/apis/metallb.io/v1beta1')).body.resources.map((r: Json) => r.name)
    expect(resources).toEqual(['ipaddresspools', 'l2advertisements', 'bgpadvertisements'])
    expect(names((await get(sim, '/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools')).body)).toEqual([
      'metallb-system/home',
    ])
  })

  it('advertises a group defined by a CRD, and serves kinds it does not know from the CRD', async () => {
    const crd: KubeObject = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {name: 'widgets.example.com'},
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: {kind: 'Widget', plural: 'widgets', shortNames: ['wd']},
        versions: [
          {name: 'v1alpha1', served: true},
          {name: 'v1', served: true},
        ],
      },
    }
    const widget: KubeObject = {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: {name: 'w1', namespace: 'default'},
    }
    const sim = await start({objects: [widget, crd]}) // order does not matter: CRDs load first
    const group = (await get(sim, '/apis')).body.groups.find((g: Json) => g.name === 'example.com')
    expect(group.versions.map((v: Json) => v.version)).toEqual(['v1', 'v1alpha1'])
    expect(names((await get(sim, '/apis/example.com/v1/widgets')).body)).toEqual(['default/w1'])
    // The same object through the other served version, converted as a real server would.
    expect((await get(sim, '/apis/example.com/v1alpha1/namespaces/default/widgets/w1')).body.apiVersion).toBe(
      'example.com/v1alpha1',
    )
  })

  it('answers aggregated discovery when asked for it', async () => {
    const sim = await start()
    const accept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json'
    const {body} = await get(sim, '/api', {accept})
    expect(body.kind).toBe('APIGroupDiscoveryList')
    const v1 = body.items[0].versions[0]
    expect(v1.resources).toContainEqual(
      expect.objectContaining({
        resource: 'services',
        scope: 'Namespaced',
        responseKind: {group: '', version: 'v1', kind: 'Service'},
      }),
    )
  })
})

describe('list and get', () => {
  it('lists across namespaces and in one namespace, with the global resourceVersion', async () => {
    const sim = await start()
    const all = (await get(sim, '/api/v1/services')).body
    expect(all.kind).toBe('ServiceList')
    expect(all.apiVersion).toBe('v1')
    expect(names(all)).toEqual([
      'default/homer',
      'default/kubernetes',
      'dns/pihole-dns',
      'iot/mosquitto',
      'media/radarr',
      'monitoring/grafana',
    ])
    expect(all.items[0]).toMatchObject({apiVersion: 'v1', kind: 'Service'})
    const rv = Number(all.metadata.resourceVersion)
    expect(Math.max(...all.items.map((o: KubeObject) => Number(o.metadata.resourceVersion)))).toBeLessThanOrEqual(rv)
    expect(names((await get(sim, '/api/v1/namespaces/media/services')).body)).toEqual(['media/radarr'])
    expect(names((await get(sim, '/api/v1/nodes')).body)).toEqual(['/node-a', '/node-b', '/node-c'])
    const slices = (await get(sim, '/apis/discovery.k8s.io/v1/namespaces/dns/endpointslices')).body
    expect(slices).toMatchObject({kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1'})
    expect(slices.items[0].endpoints).toEqual([
      expect.objectContaining({nodeName: 'node-b', conditions: expect.objectContaining({ready: true})}),
    ])
    expect(names((await get(sim, '/api/v1/namespaces')).body)).toEqual([
      '/default',
      '/dns',
      '/iot',
      '/media',
      '/monitoring',
    ])
  })

  it('gets one object, or a NotFound Status', async () => {
    const sim = await start()
    const radarr = (await get(sim, '/api/v1/namespaces/media/services/radarr')).body
    expect(radarr).toMatchObject({
      kind: 'Service',
      metadata: {name: 'radarr', namespace: 'media'},
      spec: {ports: [{name: 'http', port: 7878, nodePort: 30878}]},
    })
    expect((await get(sim, '/api/v1/nodes/node-b')).body.metadata.name).toBe('node-b')
    expect(await get(sim, '/api/v1/namespaces/media/services/sonarr')).toEqual({
      status: 404,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'services "sonarr" not found',
        reason: 'NotFound',
        details: {name: 'sonarr', kind: 'services'},
        code: 404,
      },
    })
  })

  it.each([
    ['app=radarr', ['media/radarr']],
    ['app==radarr', ['media/radarr']],
    ['app!=radarr', ['default/homer', 'default/kubernetes', 'dns/pihole-dns', 'iot/mosquitto', 'monitoring/grafana']],
    ['app', ['default/homer', 'dns/pihole-dns', 'iot/mosquitto', 'media/radarr']],
    ['!app', ['default/kubernetes', 'monitoring/grafana']],
    ['app in (homer, radarr)', ['default/homer', 'media/radarr']],
    ['app notin (homer,radarr)', ['default/kubernetes', 'dns/pihole-dns', 'iot/mosquitto', 'monitoring/grafana']],
    ['app in (homer,radarr),app!=homer', ['media/radarr']],
    ['component=apiserver,provider=kubernetes', ['default/kubernetes']],
  ])('labelSelector %s', async (selector, expected) => {
    const sim = await start()
    expect(names((await get(sim, `/api/v1/services?labelSelector=${encodeURIComponent(selector)}`)).body)).toEqual(
      expected,
    )
  })

  it('filters by metadata.name and metadata.namespace field selectors', async () => {
    const sim = await start()
    const q = (s: string) => get(sim, `/api/v1/services?fieldSelector=${encodeURIComponent(s)}`)
    expect(names((await q('metadata.name=grafana')).body)).toEqual(['monitoring/grafana'])
    expect(names((await q('metadata.namespace=default,metadata.name!=homer')).body)).toEqual(['default/kubernetes'])
    expect(names((await q('metadata.namespace==iot')).body)).toEqual(['iot/mosquitto'])
  })

  it('answers a bad selector with 400 BadRequest', async () => {
    const sim = await start()
    for (const path of [
      '/api/v1/services?labelSelector=a%20in%20b',
      '/api/v1/services?labelSelector=%3Dx',
      '/api/v1/services?fieldSelector=spec.fooBar%3D1',
    ]) {
      const {status, body} = await get(sim, path)
      expect(status, path).toBe(400)
      expect(body).toMatchObject({kind: 'Status', reason: 'BadRequest', code: 400})
    }
  })

  it('answers unknown paths with 404 and writes with 405, as Status objects', async () => {
    const sim = await start()
    expect((await get(sim, '/api/v1/widgets')).body).toMatchObject({kind: 'Status', reason: 'NotFound', code: 404})
    expect((await get(sim, '/nope')).status).toBe(404)
    expect((await get(sim, '/api/v1/services/radarr')).status).toBe(404) // namespaced resource without a namespace
    const res = await fetch(`${sim.url}/api/v1/namespaces/media/services`, {method: 'POST', body: '{}'})
    expect(res.status).toBe(405)
    expect(await res.json()).toMatchObject({kind: 'Status', reason: 'MethodNotAllowed', code: 405})
  })
})

describe('Table output', () => {
  it('prints services like kubectl: pending load balancers, node ports, ages', async () => {
    const sim = await start()
    const table = (await get(sim, '/api/v1/services', {accept: TABLE_ACCEPT})).body
    expect(table).toMatchObject({kind: 'Table', apiVersion: 'meta.k8s.io/v1'})
    expect(table.columnDefinitions.filter((c: Json) => c.priority === 0).map((c: Json) => c.name)).toEqual([
      'Name',
      'Type',
      'Cluster-IP',
      'External-IP',
      'Port(s)',
      'Age',
    ])
    const row = (name: string) => table.rows.find((r: Json) => r.cells[0] === name)
    expect(row('pihole-dns').cells.slice(0, 5)).toEqual([
      'pihole-dns',
      'LoadBalancer',
      '10.43.210.9',
      '<pending>',
      '53:30053/UDP,53:30053/TCP',
    ])
    expect(row('grafana').cells.slice(0, 5)).toEqual(['grafana', 'ClusterIP', '10.43.118.40', '<none>', '3000/TCP'])
    expect(row('radarr').object).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: {name: 'radarr', namespace: 'media'},
    })
    expect(row('radarr').object.spec).toBeUndefined()
    const full = (await get(sim, '/api/v1/namespaces/media/services?includeObject=Object', {accept: TABLE_ACCEPT})).body
    expect(full.rows[0].object.spec.type).toBe('NodePort')
  })

  it('prints load-balancer ingress and externalIPs in EXTERNAL-IP', async () => {
    const sim = await start({
      objects: loadObjectsFromYaml(
        readFileSync(join(FIXTURES, 'real-world/01-k3s-traefik-svc-ipv6-ingress.issue-k3s-5600.yaml'), 'utf8'),
      ),
    })
    sim.apply({
      ...service('unifi', 'unifi'),
      spec: {externalIPs: ['192.168.1.102'], ports: [{port: 8443}, {port: 3478, protocol: 'UDP'}]},
    })
    const cells = (await get(sim, '/api/v1/services', {accept: TABLE_ACCEPT})).body.rows.map((r: Json) =>
      r.cells.slice(0, 5),
    )
    expect(cells).toEqual([
      [
        'traefik',
        'LoadBalancer',
        '2022:aced:8::7356',
        '2600:1f1c:ab4:ee48:b0e8:6e19:17b:1cc7',
        '80:31718/TCP,443:30242/TCP',
      ],
      ['unifi', 'ClusterIP', '10.43.200.1', '192.168.1.102', '8443/TCP,3478/UDP'],
    ])
  })

  it('prints node status and roles', async () => {
    const sim = await start()
    const nodeB = loadObjectsFromYaml(HOMELAB_YAML).find((o) => o.metadata.name === 'node-b')!
    sim.apply({...nodeB, spec: {unschedulable: true}, status: {conditions: [{type: 'Ready', status: 'False'}]}})
    const rows = (await get(sim, '/api/v1/nodes', {accept: TABLE_ACCEPT})).body.rows.map((r: Json) =>
      r.cells.slice(0, 3).concat(r.cells[4]),
    )
    expect(rows).toEqual([
      ['node-a', 'Ready', 'control-plane', 'v1.32.0'],
      ['node-b', 'NotReady,SchedulingDisabled', '<none>', ''],
      ['node-c', 'Ready', '<none>', 'v1.32.0'],
    ])
  })

  it.each([
    [0, '0s'],
    [119_000, '119s'],
    [200_000, '3m20s'],
    [3 * 3600_000, '3h'],
    [(5 * 3600 + 7 * 60) * 1000, '5h7m'],
    [30 * 3600_000, '30h'],
    [(3 * 24 + 4) * 3600_000, '3d4h'],
    [400 * 24 * 3600_000, '400d'],
    [(3 * 365 + 20) * 24 * 3600_000, '3y20d'],
  ])('prints an age of %i ms as %s', (ms, expected) => {
    expect(humanDuration(ms)).toBe(expected)
  })
})

describe('watch', () => {
  it('without a resourceVersion sends ADDED for what exists, then live ADDED, MODIFIED and DELETED', async () => {
    const sim = await start()
    const w = openWatch(sim, '/api/v1/namespaces/media/services?watch=true')
    await waitFor(() => w.events.length === 1, 'the initial ADDED')
    sim.apply(service('sonarr', 'media'))
    sim.apply(service('other', 'iot')) // another namespace: not seen
    sim.apply({...service('sonarr', 'media'), spec: {type: 'NodePort', ports: [{port: 8989}]}})
    sim.remove('v1', 'Service', 'sonarr', 'media')
    await waitFor(() => w.events.length === 4, 'four events')
    expect(w.types()).toEqual(['ADDED radarr', 'ADDED sonarr', 'MODIFIED sonarr', 'DELETED sonarr'])
    const [, added, modified, deleted] = w.events.map((e) => Number(e.object.metadata.resourceVersion))
    expect(added! < modified! && modified! < deleted!).toBe(true)
    expect(w.events[3].object.spec.type).toBe('NodePort') // the last state
  })

  it('replays the events after a resourceVersion, then streams', async () => {
    const sim = await start()
    const rv = (await get(sim, '/api/v1/services')).body.metadata.resourceVersion
    sim.apply(service('a', 'default'))
    sim.remove('v1', 'Service', 'homer', 'default')
    const w = openWatch(sim, `/api/v1/services?watch=1&resourceVersion=${rv}`)
    await waitFor(() => w.events.length === 2, 'the replay')
    sim.apply(service('b', 'default'))
    await waitFor(() => w.events.length === 3, 'a live event')
    expect(w.types()).toEqual(['ADDED a', 'DELETED homer', 'ADDED b'])
  })

  it('turns objects entering or leaving a label selector into ADDED and DELETED', async () => {
    const sim = await start()
    const rv = (await get(sim, '/api/v1/services')).body.metadata.resourceVersion
    const w = openWatch(sim, `/api/v1/services?watch=true&resourceVersion=${rv}&labelSelector=tier%3Dweb`)
    sim.apply(service('x', 'default', {tier: 'db'}))
    sim.apply(service('x', 'default', {tier: 'web'}))
    sim.apply(service('x', 'default', {tier: 'web', v: '2'}))
    sim.apply(service('x', 'default', {tier: 'db'}))
    await waitFor(() => w.events.length === 3, 'three events')
    expect(w.types()).toEqual(['ADDED x', 'MODIFIED x', 'DELETED x'])
  })

  it('sends a BOOKMARK with the current resourceVersion when idle', async () => {
    const sim = await start()
    const w = openWatch(sim, '/api/v1/nodes?watch=true&allowWatchBookmarks=true')
    await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK'), 'a bookmark')
    const bookmark = w.events.find((e) => e.type === 'BOOKMARK')
    const rv = (await get(sim, '/api/v1/nodes')).body.metadata.resourceVersion
    expect(bookmark.object).toEqual({kind: 'Node', apiVersion: 'v1', metadata: {resourceVersion: rv}})
  })

  it('answers a resourceVersion older than the history with a 410 Expired ERROR event, then ends', async () => {
    const sim = await start()
    sim.apply(service('a', 'default'))
    sim.compact()
    sim.apply(service('b', 'default'))
    const rv = Number((await get(sim, '/api/v1/services')).body.metadata.resourceVersion)
    const w = openWatch(sim, '/api/v1/services?watch=true&resourceVersion=2')
    await waitFor(w.ended, 'the stream to end')
    expect(w.status()).toBe(200)
    expect(w.events).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: 2 (${rv - 1})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ])
    // Watching from the compaction point itself is still fine.
    const ok = openWatch(sim, `/api/v1/services?watch=true&resourceVersion=${rv - 1}`)
    await waitFor(() => ok.events.length === 1, 'the event after compaction')
    expect(ok.types()).toEqual(['ADDED b'])
  })

  it('ends the stream cleanly after timeoutSeconds', async () => {
    const sim = await start()
    const w = openWatch(sim, '/api/v1/nodes?watch=true&timeoutSeconds=1')
    await waitFor(w.ended, 'the timeout')
    expect(w.events.length).toBe(3)
  })

  it('ends open watch streams on close', async () => {
    const sim = await start()
    const w = openWatch(sim, '/api/v1/services?watch=true')
    await waitFor(() => w.status() === 200, 'the watch to open')
    await sim.close()
    await waitFor(w.ended, 'the stream to end')
  })
})

describe('authentication and RBAC', () => {
  const rbac = {
    alice: [{apiGroups: [''], resources: ['nodes'], verbs: ['list']}],
    root: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}],
  }
  const opts = (): SimServerOptions => ({
    objects: loadObjectsFromYaml(HOMELAB_YAML),
    tokens: {'t-alice': 'alice', 't-root': 'root'},
    rbac,
  })
  const as = (token: string) => ({authorization: `Bearer ${token}`})

  it('answers a missing or unknown token with 401 Unauthorized', async () => {
    const sim = await start(opts())
    const expected = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    }
    expect(await get(sim, '/api/v1/nodes')).toEqual({status: 401, body: expected})
    expect(await get(sim, '/api', as('wrong'))).toEqual({status: 401, body: expected})
    expect((await get(sim, '/api/v1/nodes', as('t-alice'))).status).toBe(200)
  })

  it('answers a denied request with 403 and the real server message', async () => {
    const sim = await start(opts())
    expect(await get(sim, '/api/v1/services', as('t-alice'))).toEqual({
      status: 403,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'services is forbidden: User "alice" cannot list resource "services" in API group "" at the cluster scope',
        reason: 'Forbidden',
        details: {group: '', kind: 'services'},
        code: 403,
      },
    })
    const inNamespace = await get(
      sim,
      '/apis/discovery.k8s.io/v1/namespaces/dns/endpointslices?watch=true',
      as('t-alice'),
    )
    expect(inNamespace.body).toMatchObject({
      message:
        'endpointslices.discovery.k8s.io is forbidden: User "alice" cannot watch resource "endpointslices" in API group "discovery.k8s.io" in the namespace "dns"',
      details: {group: 'discovery.k8s.io', kind: 'endpointslices'},
    })
    expect((await get(sim, '/api/v1/nodes/node-a', as('t-alice'))).body.message).toBe(
      'nodes "node-a" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope',
    )
    expect(sim.requests.at(-1)).toEqual({method: 'GET', path: '/api/v1/nodes/node-a', user: 'alice', status: 403})
  })

  it('lets any authenticated user read discovery', async () => {
    const sim = await start(opts())
    for (const path of ['/api', '/apis', '/api/v1', '/version', '/healthz'])
      expect((await get(sim, path, as('t-alice'))).status, path).toBe(200)
    expect((await get(sim, '/apis/apps/v1/deployments', as('t-root'))).status).toBe(200)
  })
})

describe('faults', () => {
  it('answers with the injected status and a Status body, and logs it', async () => {
    const sim = await start()
    sim.setFault((req) => (req.path === '/api/v1/nodes' ? {status: 503} : undefined))
    expect(await get(sim, '/api/v1/nodes')).toMatchObject({
      status: 503,
      body: {kind: 'Status', reason: 'ServiceUnavailable', code: 503},
    })
    expect((await get(sim, '/api/v1/services')).status).toBe(200)
    sim.setFault(() => ({status: 500, body: {custom: true}}))
    expect(await get(sim, '/api/v1/nodes')).toEqual({status: 500, body: {custom: true}})
    sim.setFault(undefined)
    expect((await get(sim, '/api/v1/nodes')).status).toBe(200)
    expect(sim.requests.map((r) => r.status)).toEqual([503, 200, 500, 200])
  })

  it('can hang a request, or a watch after its headers', async () => {
    const sim = await start()
    sim.setFault((req) => (req.watch || req.path === '/api/v1/nodes' ? 'hang' : undefined))
    await expect(fetch(`${sim.url}/api/v1/nodes`, {signal: AbortSignal.timeout(300)})).rejects.toThrow()
    const w = openWatch(sim, '/api/v1/services?watch=true')
    await waitFor(() => w.status() === 200, 'the watch headers')
    await new Promise((r) => setTimeout(r, 200))
    expect(w.lines).toEqual([])
    expect(sim.requests.map((r) => r.status)).toEqual([0, 200])
  })

  it('can send a watch line that is not JSON, then close', async () => {
    const sim = await start()
    sim.setFault((req) => (req.watch ? {corruptWatchLine: true} : undefined))
    const w = openWatch(sim, '/api/v1/services?watch=true')
    await waitFor(w.ended, 'the stream to end')
    expect(w.lines).toHaveLength(1)
    expect(() => JSON.parse(w.lines[0]!)).toThrow()
  })
})

describe('loadObjectsFromYaml', () => {
  it.each(readdirSync(join(FIXTURES, 'real-world')))('loads %s, and the server serves it', async (file) => {
    const objects = loadObjectsFromYaml(readFileSync(join(FIXTURES, 'real-world', file), 'utf8'))
    expect(objects.length).toBeGreaterThan(0)
    const sim = await start({objects})
    for (const obj of objects) {
      const path =
        obj.kind === 'Node'
          ? `/api/v1/nodes/${obj.metadata.name}`
          : `/api/v1/namespaces/${obj.metadata.namespace ?? 'default'}/services/${obj.metadata.name}`
      expect((await get(sim, path)).status, path).toBe(200)
    }
  })

  it('fills in what the API server would: namespace, ports, protocols, cluster IPs, node ports', async () => {
    const objects = loadObjectsFromYaml(
      readFileSync(
        join(FIXTURES, 'real-world/05-pihole-metallb-tcp-udp-etp-local-k3s.issue-MoJo2600-pihole-kubernetes-20.yaml'),
        'utf8',
      ),
    )
    const sim = await start({objects})
    const tcp = (await get(sim, '/api/v1/namespaces/default/services/pihole-tcp')).body
    expect(tcp.metadata).toMatchObject({
      namespace: 'default',
      uid: expect.any(String),
      creationTimestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    })
    expect(tcp.spec).toMatchObject({
      clusterIP: '10.43.200.1',
      ports: [
        {name: 'pihole-http', port: 9888, protocol: 'TCP', nodePort: 30000},
        {name: 'pihole-dns-tcp', port: 53, protocol: 'TCP', nodePort: 30001},
      ],
      healthCheckNodePort: 30002,
    })
    expect((await get(sim, '/api/v1/namespaces/default')).body.status).toEqual({phase: 'Active'})
  })

  it('unwraps lists, skips empty documents, and leaves unknown kinds to the caller', async () => {
    const text = `
---
# only a comment
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
  - {apiVersion: example.com/v1, kind: Gadget, metadata: {name: g}}
---
apiVersion: v1
kind: ServiceList
items:
  - {metadata: {name: s, namespace: x}, spec: {ports: [{port: 1}]}}
---
just a string
`
    const objects = loadObjectsFromYaml(text)
    expect(objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`)).toEqual([
      'v1 ConfigMap a',
      'example.com/v1 Gadget g',
      'v1 Service s',
    ])
    const sim = await start({objects})
    expect(
      sim
        .objects()
        .map((o) => o.kind)
        .sort(),
    ).toEqual(['ConfigMap', 'Namespace', 'Namespace', 'Service'])
    expect(() => sim.apply(objects[1]!)).toThrow(/not served/)
  })
})

describe('@kubernetes/client-node 1.4', () => {
  it('lists services and runs an informer that sees adds and deletes', async () => {
    const k8s = await import('@kubernetes/client-node')
    const sim = await start()
    const kc = new k8s.KubeConfig()
    kc.loadFromString(sim.kubeconfig())
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const list = await core.listServiceForAllNamespaces()
    expect(list.items.map((s) => s.metadata?.name)).toEqual([
      'homer',
      'kubernetes',
      'pihole-dns',
      'mosquitto',
      'radarr',
      'grafana',
    ])

    const informer = k8s.makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces())
    const seen: string[] = []
    informer.on('add', (s) => seen.push(`add ${s.metadata?.name}`))
    informer.on('delete', (s) => seen.push(`delete ${s.metadata?.name}`))
    informer.on('error', (err) => seen.push(`error ${String(err)}`))
    await informer.start()
    onTestFinished(() => informer.stop())
    await waitFor(() => seen.length === 6, 'the initial adds')
    await waitFor(
      () => sim.requests.filter((r) => r.path === '/api/v1/services').length === 3,
      'the list and the watch',
    )
    sim.apply(service('sonarr', 'media'))
    await waitFor(() => seen.includes('add sonarr'), 'the add')
    sim.remove('v1', 'Service', 'sonarr', 'media')
    await waitFor(() => seen.includes('delete sonarr'), 'the delete')
    expect(seen.filter((s) => s.startsWith('error'))).toEqual([])
  })

  it('relists when its watch resumes from a compacted resourceVersion', async () => {
    const k8s = await import('@kubernetes/client-node')
    const sim = await start()
    const kc = new k8s.KubeConfig()
    kc.loadFromString(sim.kubeconfig())
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode())
    const seen: string[] = []
    informer.on('add', (n) => seen.push(`add ${n.metadata?.name}`))
    await informer.start()
    onTestFinished(() => informer.stop())
    await waitFor(() => sim.requests.filter((r) => r.path === '/api/v1/nodes').length === 2, 'the list and the watch')
    // While the informer is disconnected, a change happens and the history is compacted away.
    sim.dropWatches()
    sim.apply({apiVersion: 'v1', kind: 'Node', metadata: {name: 'node-d'}})
    sim.compact()
    await waitFor(() => seen.includes('add node-d'), 'the add after the relist')
    expect(sim.requests.filter((r) => r.path === '/api/v1/nodes').length).toBeGreaterThanOrEqual(4) // list, watch, watch (410), list
  })

  it('works over HTTPS with a CA and a token', async () => {
    const k8s = await import('@kubernetes/client-node')
    const tls = {
      cert: readFileSync(join(FIXTURES, 'tls/server.crt'), 'utf8'),
      key: readFileSync(join(FIXTURES, 'tls/server.key'), 'utf8'),
    }
    const sim = await start({objects: loadObjectsFromYaml(HOMELAB_YAML), tls, tokens: {secret: 'admin'}})
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const kc = new k8s.KubeConfig()
    kc.loadFromString(sim.kubeconfig({token: 'secret', caPem: readFileSync(join(FIXTURES, 'tls/ca.crt'), 'utf8')}))
    const nodes = await kc.makeApiClient(k8s.CoreV1Api).listNode()
    expect(nodes.items.map((n) => n.metadata?.name)).toEqual(['node-a', 'node-b', 'node-c'])
    expect(sim.requests).toEqual([{method: 'GET', path: '/api/v1/nodes', user: 'admin', status: 200}])
  })
})

// serve's API-server path end to end: the real executable against the simulated API server, whose
// pods/portforward reaches Pods at loopback podIPs; real clients (curl, raw TCP, a WebSocket) reach a ClusterIP
// Service by Host and by its own address, and a NodePort Service falls back to the API server when its nodes go.
import {execFile} from 'node:child_process'
import net from 'node:net'
import {promisify} from 'node:util'
import WebSocket, {WebSocketServer} from 'ws'
import {afterAll, beforeAll, describe, expect, it, onTestFinished} from 'vitest'
import {REQUIRED_RULES} from '../../src/kube/rbac.js'
import {loadObjectsFromYaml, startSimServer, type KubeObject} from '../../src/sim/api-server.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {LoopbackNodes} from '../../src/sim/nodes.js'
import {writeKubeconfig} from './helpers.js'
import {startServe, tcpExchange, waitFor, type ServeProcess} from './serve-helpers.js'

const NODES = '127.0.33.' // this file's loopback nodes and Pods, apart from other test files
let demo: Demo
let serve: ServeProcess

/** A Running Pod at a loopback podIP; LoopbackNodes serves its container ports (HTTP for a port named http). */
function pod(namespace: string, name: string, ip: string, ports: Array<{name: string; containerPort: number}>) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {namespace, name, uid: `uid-${name}`, labels: {app: name.replace(/-[a-z]$/, '')}},
    spec: {nodeName: 'node-a', containers: [{name: 'main', image: 'example', ports}]},
    status: {phase: 'Running', podIP: ip},
  } as KubeObject
}

/** The EndpointSlice of `service`: one ready endpoint per Pod, ports named as the Service's. */
function slice(namespace: string, service: string, pods: string[], ports: Array<{name: string; port: number}>) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {namespace, name: `${service}-x1`, labels: {'kubernetes.io/service-name': service}},
    addressType: 'IPv4',
    endpoints: pods.map((p, i) => ({
      addresses: [`10.42.33.${i + 1}`],
      nodeName: 'node-a',
      conditions: {ready: true},
      targetRef: {kind: 'Pod', namespace, name: p},
    })),
    ports: ports.map((p) => ({...p, protocol: 'TCP'})),
  } as KubeObject
}

function svc(namespace: string, name: string, spec: Record<string, unknown>): KubeObject {
  return {apiVersion: 'v1', kind: 'Service', metadata: {namespace, name}, spec: {selector: {app: name}, ...spec}}
}

async function apply(objects: KubeObject[]): Promise<void> {
  for (const o of objects) demo.sim.apply(o)
  await demo.sync()
}

const ECHO_PORTS = [
  {name: 'tcp', port: 9000},
  {name: 'http', port: 9080},
]

beforeAll(async () => {
  demo = await startDemo({nodePrefix: NODES})
  // echo: ClusterIP, two Pods; the Service's ports name target ports the slice resolves (7000 → 9000, 80 → 9080).
  await apply([
    pod('apps', 'echo-a', `${NODES}101`, [
      {name: 'tcp', containerPort: 9000},
      {name: 'http', containerPort: 9080},
    ]),
    pod('apps', 'echo-b', `${NODES}102`, [
      {name: 'tcp', containerPort: 9000},
      {name: 'http', containerPort: 9080},
    ]),
    svc('apps', 'echo', {
      type: 'ClusterIP',
      clusterIP: '10.43.33.1',
      ports: [
        {name: 'tcp', port: 7000, targetPort: 'tcp'},
        {name: 'http', port: 80, targetPort: 'http'},
      ],
    }),
    slice('apps', 'echo', ['echo-a', 'echo-b'], ECHO_PORTS),
  ])
  serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.86.0.0/16'])
}, 30_000)
afterAll(async () => {
  await serve?.stop()
  await demo?.close()
})

const curl = async (...args: string[]) =>
  (await promisify(execFile)('curl', ['-sS', '--max-time', '10', ...args])).stdout
const address = async (name: string) => (await serve.resolver.resolve4(name))[0]!

describe('serve --paths auto: a ClusterIP Service through the API server', () => {
  it('marks the route in the start table and maps the demo grafana', () => {
    const lines = serve.stdout().split('\n')
    expect(lines.filter((l) => l.startsWith('echo.kube.internal '))).toEqual([
      expect.stringMatching(
        / 127\.86\.\d+\.\d+:7000 +tcp +api-server via API server: traffic and its cost go through the control plane$/,
      ),
      expect.stringMatching(/ 127\.86\.\d+\.\d+:80 +http +api-server via API server: traffic and its cost go through/),
    ])
    expect(lines.find((l) => l.startsWith('grafana.kube.internal '))).toContain('api-server via API server')
  })

  it('answers curl by Host on the router, from an endpoint Pod', async () => {
    const body = await curl('-H', 'Host: echo.apps.kube.internal', `http://127.0.0.1:${serve.httpPort}/hello`)
    expect(JSON.parse(body)).toMatchObject({node: expect.stringMatching(/^pod\/echo-[ab]$/), path: '/hello'})
  })

  it('answers curl on the per-service address and port', async () => {
    const at = await address('echo.apps.kube.internal')
    expect(at).toMatch(/^127\.86\./)
    const body = await curl(`http://${at}:80/x`)
    expect(JSON.parse(body)).toMatchObject({node: expect.stringMatching(/^pod\/echo-[ab]$/), path: '/x'})
  })

  it('carries raw TCP to the named target port and back, half-close included', async () => {
    const reply = await tcpExchange(await address('echo.apps.kube.internal'), 7000, 'ping\n')
    expect(reply).toMatch(/^pod\/echo-[ab] apps\/echo-[ab]\nping\n$/)
  })

  it('spreads connections over the endpoint Pods', async () => {
    const at = await address('echo.apps.kube.internal')
    const seen = new Set<string>()
    for (let i = 0; i < 6; i++) seen.add((await tcpExchange(at, 7000, '')).split(' ')[0]!)
    expect([...seen].sort()).toEqual(['pod/echo-a', 'pod/echo-b'])
  })

  it('answers curl for the demo grafana by name', async () => {
    const body = await curl('-H', 'Host: grafana.kube.internal', `http://127.0.0.1:${serve.httpPort}/login`)
    expect(JSON.parse(body)).toMatchObject({node: 'pod/grafana-6f4b8d7c9-mq2xz', path: '/login'})
  })

  it('carries a WebSocket end to end', async () => {
    // A Pod whose server is a real WebSocket echo, at its podIP.
    const wss = new WebSocketServer({host: `${NODES}103`, port: 9090})
    onTestFinished(() => wss.close())
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, {binary})))
    await new Promise((resolve) => wss.once('listening', resolve))
    await apply([
      pod('apps', 'chat-a', `${NODES}103`, []),
      svc('apps', 'chat', {type: 'ClusterIP', clusterIP: '10.43.33.2', ports: [{name: 'http', port: 80}]}),
      slice('apps', 'chat', ['chat-a'], [{name: 'http', port: 9090}]),
    ])
    await waitFor(() => serve.stderr().includes('route added: chat.kube.internal'), 10_000, 'the chat route')
    const ws = new WebSocket(`ws://127.0.0.1:${serve.httpPort}/`, {headers: {host: 'chat.apps.kube.internal'}})
    onTestFinished(() => ws.terminate())
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const echoed = new Promise<string>((resolve) => ws.once('message', (m: Buffer) => resolve(m.toString())))
    ws.send('hello over the API server')
    expect(await echoed).toBe('hello over the API server')
  })

  it('closes the streams of a Pod that leaves the endpoints, and sends new ones to the rest', async () => {
    const at = await address('echo.apps.kube.internal')
    // An open stream on echo-a.
    let socket: net.Socket | undefined
    for (let i = 0; i < 10 && !socket; i++) {
      const s = net.connect(7000, at)
      const greeting = await new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())))
      if (greeting.startsWith('pod/echo-a')) socket = s
      else s.destroy()
    }
    expect(socket).toBeDefined()
    const closed = new Promise<void>((resolve) => socket!.once('close', () => resolve()))
    // echo-a stops being ready; the Pod itself still runs, so only serve can close the stream.
    const notReady = slice('apps', 'echo', ['echo-a', 'echo-b'], ECHO_PORTS)
    ;(notReady.endpoints as Array<{conditions: {ready: boolean}}>)[0]!.conditions.ready = false
    demo.sim.apply(notReady)
    await closed
    const seen = new Set<string>()
    for (let i = 0; i < 4; i++) seen.add((await tcpExchange(at, 7000, '')).split(' ')[0]!)
    expect(seen).toEqual(new Set(['pod/echo-b']))
    demo.sim.apply(slice('apps', 'echo', ['echo-a', 'echo-b'], ECHO_PORTS))
  })

  it('retries on the next Pod when an endpoint Pod is deleted under traffic: no request fails', async () => {
    await waitFor(
      async () => (await tcpExchange(await address('echo.apps.kube.internal'), 7000, '')).startsWith('pod/echo-a'),
      10_000,
      'echo-a back in the endpoints',
    )
    // The Pod goes first (its listeners and connections with it; port-forward to it answers 404), the endpoint later.
    demo.sim.remove('v1', 'Pod', 'echo-a', 'apps')
    await demo.sync()
    const served: string[] = []
    for (let i = 0; i < 10; i++) {
      const body = await curl('-H', 'Host: echo.apps.kube.internal', `http://127.0.0.1:${serve.httpPort}/`)
      served.push((JSON.parse(body) as {node: string}).node)
    }
    demo.sim.apply(slice('apps', 'echo', ['echo-b'], ECHO_PORTS))
    expect(new Set(served)).toEqual(new Set(['pod/echo-b']))
    expect(serve.stderr()).toMatch(
      /apps\/echo: port-forward to apps\/echo-a:9080: 404 pods "echo-a" not found; trying the next Pod/,
    )
  })

  it('ends streams cleanly when the API server drops them, and opens the next connection anew', async () => {
    const at = await address('echo.apps.kube.internal')
    const socket = net.connect(7000, at)
    await new Promise((resolve) => socket.once('data', resolve))
    const outcome = new Promise<string>((resolve) => {
      socket.once('end', () => resolve('end'))
      socket.once('error', (e) => resolve(`error ${e.message}`))
    })
    demo.sim.dropPortForwards()
    expect(await outcome).toBe('end')
    expect(await tcpExchange(at, 7000, 'again\n')).toMatch(/^pod\/echo-b apps\/echo-b\nagain\n$/)
  })
})

describe('serve --paths auto: a NodePort Service whose nodes are all down', () => {
  it('falls back to the API server, logs it, and returns to its nodes when they answer', async () => {
    await apply([
      pod('apps', 'web-a', `${NODES}111`, [{name: 'http', containerPort: 8080}]),
      svc('apps', 'web', {type: 'NodePort', ports: [{name: 'http', port: 80, nodePort: 31180}]}),
      slice('apps', 'web', ['web-a'], [{name: 'http', port: 8080}]),
    ])
    const at = await waitFor(() => address('web.apps.kube.internal').catch(() => false), 10_000, 'web')
    const servedBy = async () => (JSON.parse(await curl(`http://${at}:80/`)) as {node: string}).node
    await waitFor(async () => /^node-[abc]$/.test(await servedBy()), 10_000, 'a node answers')

    for (const node of ['node-a', 'node-b', 'node-c']) await demo.nodes.stopNode(node)
    await waitFor(
      () => serve.stderr().includes('apps/web: every node target is down; via API server'),
      20_000,
      'the fallback log line',
    )
    expect(await servedBy()).toBe('pod/web-a')

    for (const node of ['node-a', 'node-b', 'node-c']) await demo.nodes.startNode(node)
    await waitFor(() => /apps\/web: node-[abc] answers again; back on the node path/.test(serve.stderr()), 20_000)
    expect(await servedBy()).toMatch(/^node-[abc]$/)
  })
})

describe('serve without RBAC for pods/portforward', () => {
  it('reports the Service as not reachable, naming verb and resource and the ClusterRole lines to add', async () => {
    const prefix = '127.0.34.'
    const objects = [
      ...loadObjectsFromYaml(HOMELAB_YAML.replaceAll('127.0.10.', prefix)),
      pod('apps', 'echo-a', `${prefix}101`, [{name: 'http', containerPort: 9080}]),
      svc('apps', 'echo', {type: 'ClusterIP', clusterIP: '10.43.34.1', ports: [{name: 'http', port: 80}]}),
      slice('apps', 'echo', ['echo-a'], [{name: 'http', port: 9080}]),
    ]
    const sim = await startSimServer({objects, tokens: {t: 'reader'}, rbac: {reader: REQUIRED_RULES}})
    onTestFinished(() => sim.close())
    const nodes = new LoopbackNodes()
    onTestFinished(() => nodes.close())
    await nodes.sync(sim.objects())
    const denied = await startServe([
      '--kubeconfig',
      writeKubeconfig(sim.kubeconfig({token: 't'})),
      '--ip-range',
      'none',
    ])
    onTestFinished(async () => void (await denied.stop()))

    const status = await curl(
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'Host: echo.kube.internal',
      `http://127.0.0.1:${denied.httpPort}/`,
    )
    expect(status).toBe('502')
    await waitFor(() => denied.stderr().includes('add to the ClusterRole'), 10_000, 'the RBAC warning')
    expect(denied.stderr()).toContain(
      'apps/echo: not reachable: forbidden to create pods/portforward in namespace apps (port-forward to apps/echo-a:9080: 403 pods "echo-a" is forbidden: User "reader" cannot create resource "pods/portforward" in API group "" in the namespace "apps"); add to the ClusterRole (README "RBAC"):\n- apiGroups: [""]\n  resources: [pods/portforward]\n  verbs: [create, get]\n- apiGroups: [""]\n  resources: [pods]\n  verbs: [get]',
    )
    const routes = await waitFor(
      async () => {
        const doc = JSON.parse(
          await curl('-H', 'Host: expose-lb.localhost', `http://127.0.0.1:${denied.httpPort}/api/routes`),
        )
        const echo = (doc.services as Array<{service: string; ports: Array<{note?: string}>}>).find(
          (s) => s.service === 'apps/echo',
        )
        return echo?.ports[0]?.note?.includes('forbidden') ? echo : false
      },
      10_000,
      'the route note',
    )
    expect(routes.ports[0]).toMatchObject({
      path: 'api-server',
      note: '80/TCP: not reachable: forbidden to create pods/portforward in namespace apps',
      targets: [],
    })
    // Only the one refused stream was tried: no Pod was reached.
    expect(sim.requests.filter((r) => r.path.endsWith('/portforward')).map((r) => r.status)).toEqual([403])
  })
})

describe('serve while the API server restarts', () => {
  it('closes open streams cleanly, and the next connection opens on the restarted server', async () => {
    const prefix = '127.0.35.'
    const objects = [
      ...loadObjectsFromYaml(HOMELAB_YAML.replaceAll('127.0.10.', prefix)),
      pod('apps', 'echo-a', `${prefix}101`, [{name: 'tcp', containerPort: 9000}]),
      svc('apps', 'echo', {type: 'ClusterIP', clusterIP: '10.43.35.1', ports: [{name: 'tcp', port: 7000}]}),
      slice('apps', 'echo', ['echo-a'], [{name: 'tcp', port: 9000}]),
    ]
    let sim = await startSimServer({objects})
    onTestFinished(() => sim.close())
    const nodes = new LoopbackNodes()
    onTestFinished(() => nodes.close())
    await nodes.sync(sim.objects())
    const restarting = await startServe([
      '--kubeconfig',
      writeKubeconfig(sim.kubeconfig()),
      '--ip-range',
      '127.88.0.0/16',
    ])
    onTestFinished(async () => void (await restarting.stop()))
    const at = (await restarting.resolver.resolve4('echo.kube.internal'))[0]!

    const socket = net.connect(7000, at)
    await new Promise((resolve) => socket.once('data', resolve))
    const outcome = new Promise<string>((resolve) => {
      socket.once('end', () => resolve('end'))
      socket.once('error', (e) => resolve(`error ${e.message}`))
    })
    const port = Number(new URL(sim.url).port)
    await sim.close()
    expect(await outcome).toBe('end')
    sim = await startSimServer({objects, port})
    expect(await tcpExchange(at, 7000, 'after the restart\n')).toBe('pod/echo-a apps/echo-a\nafter the restart\n')
  })
})

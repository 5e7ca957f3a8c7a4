// `kubectl expose-lb serve` end to end: the real executable (found by kubectl) against the simulated API server,
// with loopback nodes answering on their NodePorts; real clients: Node's resolver, dig, HTTP, TCP and UDP sockets.
import {execFile} from 'node:child_process'
import net from 'node:net'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {KubeObject} from '../../src/sim/api-server.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {EXIT} from '../../src/errors.js'
import {kubectl} from './helpers.js'
import {get, startServe, tcpExchange, udpExchange, waitFor, type ServeProcess} from './serve-helpers.js'

const NODES = '127.0.21.' // this file's loopback nodes, apart from other test files
const RANGE = /^127\.78\.\d+\.\d+$/
let demo: Demo
let serve: ServeProcess

beforeAll(async () => {
  demo = await startDemo({nodePrefix: NODES})
  serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.78.0.0/16'])
}, 30_000)
afterAll(async () => {
  await serve?.stop()
  await demo?.close()
})

/** A Service with its EndpointSlice (endpoints on the given nodes). */
function service(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  endpointNodes: string[],
  annotations: Record<string, string> = {},
): KubeObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {namespace, name, annotations},
      spec: {selector: {app: name}, ...spec},
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {namespace, name: `${name}-x1`, labels: {'kubernetes.io/service-name': name}},
      addressType: 'IPv4',
      endpoints: endpointNodes.map((node, i) => ({
        addresses: [`10.42.9.${i + 1}`],
        nodeName: node,
        conditions: {ready: true},
      })),
    },
  ]
}

async function apply(objects: KubeObject[]): Promise<void> {
  for (const o of objects) demo.sim.apply(o)
  await demo.sync()
}

const resolve4 = (name: string) => serve.resolver.resolve4(name)
const notFound = (name: string) =>
  resolve4(name).then(
    () => false,
    (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND',
  )
const dig = async (...args: string[]) =>
  (
    await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(serve.dnsPort), '+time=2', '+tries=1', ...args])
  ).stdout.trim()
const viaRouter = (host: string, path = '/') => get(`http://127.0.0.1:${serve.httpPort}${path}`, {host})

describe('serve: start-up', () => {
  it('prints one table with every Service, its address, mode and targets with health', () => {
    const lines = serve.stdout().trimEnd().split('\n')
    expect(lines[0]).toMatch(/^NAME +ADDRESS +MODE +TARGETS$/)
    expect(lines.find((l) => l.startsWith('radarr.kube.internal'))).toMatch(
      /^radarr\.kube\.internal +127\.78\.\d+\.\d+:7878 +http +node-a\(up\),node-b\(up\),node-c\(up\),api-server\(fallback\)$/,
    )
    expect(lines.find((l) => l.startsWith('kubernetes.default'))).toMatch(
      /no selector: its endpoints are not Pods, and the API server forwards only to Pods$/,
    )
  })
})

describe('serve: DNS', () => {
  it('answers mapped names through Node resolver and dig, over UDP and TCP alike', async () => {
    const [address] = await resolve4('radarr.kube.internal')
    expect(address).toMatch(RANGE)
    expect(await resolve4('radarr.media.kube.internal')).toEqual([address])
    expect(await resolve4('RADARR.Kube.Internal')).toEqual([address])
    expect(await dig('radarr.kube.internal', '+short')).toBe(address)
    expect(await dig('radarr.kube.internal', '+short', '+tcp')).toBe(address)
    // toMatchObject: Node 24's resolver adds `type: 'SRV'` to each record; the SRV fields are what is served.
    expect(await serve.resolver.resolveSrv('_mqtt._tcp.mosquitto.iot.kube.internal')).toMatchObject([
      {name: 'mosquitto.iot.kube.internal', port: 1883, priority: 0, weight: 0},
    ])
    expect(await notFound('nothing.kube.internal')).toBe(true)
    expect(await dig('example.com', 'A')).toMatch(/status: REFUSED/)
  })
})

describe('serve: HTTP', () => {
  it('routes by Host on the router, by .localhost names, and by name on the per-service address', async () => {
    const byHost = await viaRouter('radarr.kube.internal')
    expect(byHost.status).toBe(200)
    expect(JSON.parse(byHost.body)).toMatchObject({
      service: 'media/radarr',
      headers: {'x-forwarded-host': 'radarr.kube.internal', 'x-forwarded-proto': 'http'},
    })
    expect(JSON.parse((await viaRouter('Homer.Localhost.:8080')).body).service).toBe('default/homer')
    expect(JSON.parse((await viaRouter('radarr.media.localhost')).body).service).toBe('media/radarr')
    const [address] = await resolve4('radarr.kube.internal')
    const byName = await get(`http://radarr.kube.internal:${serve.httpPort}/`, {}, address)
    expect(JSON.parse(byName.body).service).toBe('media/radarr')
    const ownPort = await get(`http://radarr.kube.internal:7878/`, {}, address)
    expect(JSON.parse(ownPort.body).service).toBe('media/radarr')
  })

  it('answers an unknown Host with 404 listing the known names', async () => {
    const res = await get(`http://127.0.0.1:${serve.httpPort}/`, {
      host: 'nope.kube.internal',
      accept: 'application/json',
    })
    expect(res.status).toBe(404)
    expect(JSON.parse(res.body).names).toEqual(expect.arrayContaining(['radarr.kube.internal', 'homer.kube.internal']))
  })

  it('answers `printf … | nc -N` (a FIN right after the request) on the router and on the per-service address', async () => {
    const [address] = await resolve4('radarr.kube.internal')
    const nc = async (host: string, port: number, request: string): Promise<string> => {
      const child = promisify(execFile)('nc', ['-N', '-w', '5', host, String(port)])
      child.child.stdin!.end(request)
      return (await child).stdout
    }
    const requests = [
      'GET /old HTTP/1.0\r\nHost: radarr.localhost\r\n\r\n',
      'GET /close HTTP/1.1\r\nHost: radarr.kube.internal\r\nConnection: close\r\n\r\n',
    ]
    for (const [host, port] of [
      ['127.0.0.1', serve.httpPort],
      [address!, 7878],
    ] as const) {
      for (const request of requests) {
        const reply = await nc(host, port, request)
        expect([host, request, reply]).toEqual([host, request, expect.stringMatching(/^HTTP\/1\.1 200 OK\r\n/)])
        expect(reply).toContain('"service":"media/radarr"')
      }
    }
  })

  it('passes WebSocket upgrades through', async () => {
    const socket = net.connect(serve.httpPort, '127.0.0.1')
    let data = ''
    socket.on('data', (d) => (data += d.toString()))
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: radarr.kube.internal\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    await waitFor(() => data.includes('\r\n\r\n'), 5000, '101')
    expect(data).toMatch(/^HTTP\/1\.1 101 /)
    socket.write('ping-through-the-tunnel')
    await waitFor(() => data.includes('ping-through-the-tunnel'), 5000, 'echo')
    socket.destroy()
  })
})

describe('serve: TCP and UDP on per-service addresses', () => {
  it('forwards TCP on the Service port number, passing half-closes through', async () => {
    const [address] = await resolve4('mosquitto.kube.internal')
    const reply = await tcpExchange(address!, 1883, 'hello mqtt\n')
    expect(reply).toMatch(/^node-[abc] iot\/mosquitto\nhello mqtt\n$/)
  })

  it('forwards UDP on the Service port number', async () => {
    await apply(
      service(
        'iot',
        'syslog',
        {type: 'NodePort', ports: [{name: 'syslog', port: 5514, protocol: 'UDP', nodePort: 31514}]},
        ['node-a'],
      ),
    )
    const [address] = await waitFor(() => resolve4('syslog.kube.internal'), 5000, 'syslog in DNS')
    await waitFor(
      async () => (await udpExchange(address!, 5514, Buffer.from('hi'))).toString().match(/^node-[abc] hi$/),
      5000,
      'UDP reply',
    )
  })
})

describe('serve: changes while serving', () => {
  it('adds, changes and deletes a Service live', async () => {
    await apply(
      service('default', 'whoami', {type: 'NodePort', ports: [{name: 'http', port: 8088, nodePort: 31088}]}, [
        'node-a',
      ]),
    )
    await waitFor(async () => (await viaRouter('whoami.kube.internal')).status === 200, 5000, 'whoami routed')
    await apply(
      service(
        'default',
        'whoami',
        {type: 'NodePort', ports: [{name: 'http', port: 8088, nodePort: 31088}]},
        ['node-a'],
        {'expose-lb/hostname': 'hello'},
      ),
    )
    await waitFor(() => resolve4('hello.kube.internal'), 5000, 'hello.kube.internal')
    expect(JSON.parse((await viaRouter('hello.kube.internal')).body).service).toBe('default/whoami')
    demo.sim.remove('v1', 'Service', 'whoami', 'default')
    await waitFor(() => notFound('whoami.kube.internal'), 5000, 'whoami gone from DNS')
    expect((await viaRouter('whoami.kube.internal')).status).toBe(404)
    expect(serve.stderr()).toMatch(/route added: whoami\.kube\.internal → 127\.78\.\d+\.\d+:8088 \(http\)/)
    expect(serve.stderr()).toMatch(/route removed: (whoami|hello)\.kube\.internal/)
  })

  it('with externalTrafficPolicy Local uses only nodes with a ready endpoint', async () => {
    await apply(
      service(
        'default',
        'local-web',
        {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          healthCheckNodePort: 32099,
          ports: [{name: 'http', port: 8099, nodePort: 31099}],
        },
        ['node-c'],
      ),
    )
    await waitFor(async () => (await viaRouter('local-web.kube.internal')).status === 200, 5000, 'local-web routed')
    const nodes = new Set<string | undefined>()
    for (let i = 0; i < 9; i++) nodes.add((await viaRouter('local-web.kube.internal')).node)
    expect([...nodes]).toEqual(['node-c'])
  })
})

describe('serve: failover', () => {
  it('moves traffic off a stopped node without failing a request, and uses it again when it is back', async () => {
    const statuses: number[] = []
    const used: Array<string | undefined> = []
    for (let i = 0; i < 30; i++) {
      if (i === 10) await demo.nodes.stopNode('node-a')
      const res = await viaRouter('radarr.kube.internal')
      statuses.push(res.status)
      if (i > 12) used.push(res.node)
    }
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(used).not.toContain('node-a')
    await waitFor(() => /target down: node-a/.test(serve.stderr()), 10_000, 'target down log')
    await demo.nodes.startNode('node-a')
    await waitFor(async () => (await viaRouter('radarr.kube.internal')).node === 'node-a', 15_000, 'node-a used again')
  })
})

describe('serve: flapping nodes under load', () => {
  it('fails no request while a node goes down and up repeatedly, and uses it again afterwards', async () => {
    let stop = false
    const statuses = new Map<number, number>()
    const clients = Array.from({length: 6}, async () => {
      while (!stop) {
        const res = await viaRouter('radarr.kube.internal').catch(() => ({status: 0}))
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      }
    })
    for (let i = 0; i < 4; i++) {
      await demo.nodes.stopNode('node-b')
      await new Promise((r) => setTimeout(r, 400))
      await demo.nodes.startNode('node-b')
      await new Promise((r) => setTimeout(r, 400))
    }
    stop = true
    await Promise.all(clients)
    expect([...statuses.keys()]).toEqual([200])
    expect(statuses.get(200)).toBeGreaterThan(20)
    await waitFor(async () => (await viaRouter('radarr.kube.internal')).node === 'node-b', 15_000, 'node-b used again')
  })
})

describe('serve: the API server goes away', () => {
  it('keeps serving the last map, says so once, and after reconnecting equals a fresh start', async () => {
    await apply(
      service('default', 'doomed', {type: 'NodePort', ports: [{name: 'http', port: 8077, nodePort: 31077}]}, [
        'node-b',
      ]),
    )
    await waitFor(() => resolve4('doomed.kube.internal'), 5000, 'doomed in DNS')
    demo.sim.setFault(() => ({status: 503}))
    demo.sim.dropWatches()
    await waitFor(() => /watch lost/.test(serve.stderr()), 10_000, 'watch lost')
    expect((await viaRouter('radarr.kube.internal')).status).toBe(200)
    demo.sim.remove('v1', 'Service', 'doomed', 'default')
    await apply(
      service('default', 'newcomer', {type: 'NodePort', ports: [{name: 'http', port: 8066, nodePort: 31066}]}, [
        'node-b',
      ]),
    )
    demo.sim.compact() // the history is gone: only a relist sees the delete
    demo.sim.setFault(undefined)
    await waitFor(() => /watch restored/.test(serve.stderr()), 30_000, 'watch restored')
    await waitFor(() => resolve4('newcomer.kube.internal'), 5000, 'newcomer in DNS')
    expect(await notFound('doomed.kube.internal')).toBe(true)
    expect(serve.stderr().match(/watch lost/g)).toHaveLength(1)
  }, 60_000)
})

describe('serve: stopping', () => {
  it('on SIGTERM stops accepting, lets an open connection finish, and exits 0', async () => {
    const [address] = await resolve4('mosquitto.kube.internal')
    const socket = net.connect({host: address!, port: 1883, allowHalfOpen: true})
    let data = ''
    socket.on('data', (d) => (data += d.toString()))
    await waitFor(() => data.includes('iot/mosquitto'), 5000, 'greeting')
    const exited = serve.stop('SIGTERM')
    await waitFor(() => /SIGTERM: stopping/.test(serve.stderr()), 5000, 'stopping log')
    const refused = await new Promise<boolean>((resolve) => {
      const late = net.connect(serve.httpPort, '127.0.0.1')
      late.on('connect', () => resolve(false))
      late.on('error', () => resolve(true))
    })
    expect(refused).toBe(true)
    socket.write('still here\n')
    await waitFor(() => data.includes('still here'), 5000, 'echo after SIGTERM')
    socket.end()
    expect(await exited).toBe(0)
  })
})

describe('serve: ports it cannot bind', () => {
  it('names the address, port and remedies in one line and exits with the bind status', async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as net.AddressInfo).port
    try {
      const run = await kubectl([
        'expose-lb',
        'serve',
        '--kubeconfig',
        demo.kubeconfig,
        '--dns-port',
        '0',
        '--http-port',
        String(port),
        '--ip-range',
        'none',
      ])
      expect(run.code).toBe(EXIT.bind)
      expect(run.stderr.trimEnd().split('\n')).toEqual([
        `error: cannot bind HTTP on 127.0.0.1:${port}/tcp: address already in use — stop what holds it, or use --dns-port 5353 --http-port 8080`,
      ])
    } finally {
      holder.close()
    }
  })
})

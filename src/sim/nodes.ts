// Loopback "nodes": for every Node of a simulated cluster, real listeners on its InternalIP at each Service's
// NodePort, so serve has something to proxy to in tests and in `serve --demo`. Each answers with its node name:
// HTTP ports with a small page (and WebSocket upgrades echoed back), TCP ports with a greeting then an echo, UDP
// ports as a DNS server that answers any A query with the node address (or an echo for other datagrams). For
// externalTrafficPolicy Local it also serves the healthCheckNodePort the way kube-proxy does (200 with a local
// ready endpoint, 503 without), and every node answers kube-proxy's /healthz on 10256. Running Pods whose podIP is a
// loopback address get the same kind of listener on each TCP container port, named `pod/<name>`: what the
// simulator's pods/portforward reaches (src/sim/port-forward.ts). stopNode leaves them up: it stands for a node the
// workstation cannot reach, while the API server still can.
import dgram from 'node:dgram'
import http from 'node:http'
import net from 'node:net'
import {toEndpointSlice, toNode, toService} from '../kube/convert.js'
import {portMode} from '../plan/plan.js'
import {KUBE_PROXY_HEALTHZ_PORT} from '../servemap/map.js'
import type {KubeObject} from './kinds.js'

interface Listener {
  key: string
  close(): void
}

interface Spec {
  key: string
  node: string
  address: string
  port: number
  kind: 'http' | 'tcp' | 'udp' | 'health' | 'healthz'
  service: string
  /** For health listeners: whether this node hosts a ready endpoint. */
  healthy?: boolean
}

/** Starts listeners for the objects given; `sync` follows later changes; `stopNode`/`startNode` simulate outages. */
export class LoopbackNodes {
  private listeners = new Map<string, Listener>()
  private stopped = new Set<string>()
  private specs: Spec[] = []
  /** Connections served per node, for tests that check where traffic went. */
  readonly hits = new Map<string, number>()

  /** Brings listeners in line with the objects: opens new ones, closes ones no longer wanted. */
  async sync(objects: KubeObject[]): Promise<void> {
    this.specs = specsFor(objects)
    await this.reconcile()
  }

  async stopNode(node: string): Promise<void> {
    this.stopped.add(node)
    await this.reconcile()
  }

  async startNode(node: string): Promise<void> {
    this.stopped.delete(node)
    await this.reconcile()
  }

  async close(): Promise<void> {
    this.specs = []
    await this.reconcile()
  }

  private async reconcile(): Promise<void> {
    const wanted = new Map(this.specs.filter((s) => !this.stopped.has(s.node)).map((s) => [s.key, s]))
    for (const [key, l] of this.listeners) {
      if (!wanted.has(key)) {
        l.close()
        this.listeners.delete(key)
      }
    }
    await Promise.all(
      [...wanted.values()]
        .filter((s) => !this.listeners.has(s.key))
        .map(async (s) => this.listeners.set(s.key, await this.open(s))),
    )
  }

  private count(node: string): void {
    this.hits.set(node, (this.hits.get(node) ?? 0) + 1)
  }

  private open(s: Spec): Promise<Listener> {
    if (s.kind === 'udp') return openUdp(s, () => this.count(s.node))
    const sockets = new Set<net.Socket>()
    let server: net.Server
    if (s.kind === 'tcp') {
      server = net.createServer({allowHalfOpen: true}, (socket) => {
        this.count(s.node)
        socket.write(`${s.node} ${s.service}\n`)
        socket.on('error', () => socket.destroy())
        socket.pipe(socket)
      })
    } else {
      const web = http.createServer((req, res) => {
        if (s.kind === 'healthz') {
          res.writeHead(200, {'content-type': 'application/json'})
          res.end(JSON.stringify({nodeEligible: true, healthy: true}))
          return
        }
        if (s.kind === 'health') {
          res.writeHead(s.healthy ? 200 : 503, {'content-type': 'application/json'})
          res.end(JSON.stringify({service: s.service, localEndpoints: s.healthy ? 1 : 0, serviceProxyHealthy: true}))
          return
        }
        this.count(s.node)
        const body = JSON.stringify({service: s.service, node: s.node, path: req.url, headers: req.headers})
        res.writeHead(200, {'content-type': 'application/json', 'x-served-by': s.node})
        res.end(body)
      })
      web.on('upgrade', (req, socket: net.Socket) => {
        this.count(s.node)
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade ?? 'websocket'}\r\nConnection: Upgrade\r\nX-Served-By: ${s.node}\r\n\r\n`,
        )
        socket.on('error', () => socket.destroy())
        socket.pipe(socket)
      })
      server = web
    }
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(s.port, s.address, () =>
        resolve({
          key: s.key,
          close: () => {
            server.close()
            // A node going down takes its connections with it.
            for (const socket of sockets) socket.destroy()
          },
        }),
      )
    })
  }
}

function openUdp(s: Spec, count: () => void): Promise<Listener> {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (msg, rinfo) => {
    count()
    socket.send(dnsAnswer(msg, s.address) ?? Buffer.concat([Buffer.from(`${s.node} `), msg]), rinfo.port, rinfo.address)
  })
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(s.port, s.address, () => resolve({key: s.key, close: () => socket.close()}))
  })
}

/** A minimal DNS answer: the query's question with one A record holding `address`; undefined if not a query. */
export function dnsAnswer(query: Buffer, address: string): Buffer | undefined {
  if (query.length < 17 || (query[2]! & 0x80) !== 0 || query.readUInt16BE(4) !== 1) return undefined
  let end = 12
  while (end < query.length && query[end] !== 0) end += query[end]! + 1
  end += 5 // root label, type, class
  if (end > query.length) return undefined
  const header = Buffer.from(query.subarray(0, 12))
  header[2] = 0x84 | (query[2]! & 0x01) // QR, AA, RD copied
  header[3] = 0
  header.writeUInt16BE(1, 6) // ANCOUNT
  header.writeUInt32BE(0, 8) // NSCOUNT, ARCOUNT
  const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, ...address.split('.').map(Number)])
  return Buffer.concat([header, query.subarray(12, end), answer])
}

function specsFor(objects: KubeObject[]): Spec[] {
  const nodes = objects.filter((o) => o.kind === 'Node').map(toNode)
  const services = objects.filter((o) => o.kind === 'Service').map(toService)
  const slices = objects.filter((o) => o.kind === 'EndpointSlice').map(toEndpointSlice)
  const specs: Spec[] = []
  for (const node of nodes) {
    const address = node.addresses.find((a) => a.type === 'InternalIP')?.address
    if (!address || address.includes(':')) continue
    // kube-proxy's node health server, which UDP targets are probed on.
    specs.push({
      key: `${address}:${KUBE_PROXY_HEALTHZ_PORT}/healthz`,
      node: node.name,
      address,
      port: KUBE_PROXY_HEALTHZ_PORT,
      kind: 'healthz',
      service: 'kube-proxy',
    })
    for (const svc of services) {
      if (svc.type !== 'NodePort' && svc.type !== 'LoadBalancer') continue
      const id = `${svc.namespace}/${svc.name}`
      for (const p of svc.ports) {
        if (!p.nodePort) continue
        const kind = p.protocol === 'UDP' ? 'udp' : portMode(p) === 'http' ? 'http' : 'tcp'
        specs.push({
          key: `${address}:${p.nodePort}/${p.protocol}`,
          node: node.name,
          address,
          port: p.nodePort,
          kind,
          service: id,
        })
      }
      if (svc.externalTrafficPolicy === 'Local' && svc.healthCheckNodePort) {
        const healthy = slices.some(
          (sl) =>
            sl.namespace === svc.namespace &&
            sl.serviceName === svc.name &&
            sl.endpoints.some((e) => e.ready && e.nodeName === node.name),
        )
        specs.push({
          key: `${address}:${svc.healthCheckNodePort}/health/${healthy}`,
          node: node.name,
          address,
          port: svc.healthCheckNodePort,
          kind: 'health',
          service: id,
          healthy,
        })
      }
    }
  }
  specs.push(...podSpecs(objects))
  // One listener per address:port/protocol: the first Service claiming it wins (as in a real cluster).
  const seen = new Set<string>()
  return specs.filter((s) => {
    const k = s.key.replace(/\/health\/.*$/, '/TCP')
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** Listeners for Running Pods with a loopback podIP: one per TCP container port, HTTP when the port name says so. */
function podSpecs(objects: KubeObject[]): Spec[] {
  const specs: Spec[] = []
  for (const pod of objects.filter((o) => o.kind === 'Pod')) {
    const status = (pod.status ?? {}) as {phase?: string; podIP?: string}
    const spec = (pod.spec ?? {}) as {containers?: Array<{ports?: Array<Record<string, unknown>>}>}
    if (status.phase !== 'Running' || !status.podIP?.startsWith('127.')) continue
    const name = `pod/${pod.metadata.name}`
    for (const c of spec.containers ?? []) {
      for (const p of c.ports ?? []) {
        const port = typeof p.containerPort === 'number' ? p.containerPort : 0
        if (!port || (p.protocol !== undefined && p.protocol !== 'TCP')) continue
        const portName = typeof p.name === 'string' ? p.name : undefined
        const kind =
          portMode({port, protocol: 'TCP', ...(portName ? {name: portName} : {})}) === 'http' ? 'http' : 'tcp'
        const service = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`
        specs.push({key: `${status.podIP}:${port}/TCP`, node: name, address: status.podIP, port, kind, service})
      }
    }
  }
  return specs
}

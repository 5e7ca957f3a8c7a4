// Loopback "nodes" for the proxy tests: per-node servers on distinct 127.0.10.x addresses sharing one port number,
// the way a NodePort is open on every node. Every server registers its cleanup with the running test.
import {createHash} from 'node:crypto'
import dgram from 'node:dgram'
import http from 'node:http'
import net from 'node:net'

import {onTestFinished} from 'vitest'

import type {HealthSubject, TargetHealth} from '../../src/proxy/health.js'
import type {ProbedTarget} from '../../src/servemap/types.js'

export interface NodeSpec {
  node: string
  address: string
}

/** node-a … on 127.0.10.1 …: `nodes(3)`. */
export function nodes(count: number, firstHost = 1): NodeSpec[] {
  return Array.from({length: count}, (_, i) => ({
    node: `node-${String.fromCharCode(97 + i)}`,
    address: `127.0.10.${firstHost + i}`,
  }))
}

export function makeTargets(specs: NodeSpec[], port: number): ProbedTarget[] {
  return specs.map(({node, address}) => ({node, address, port, probe: {kind: 'tcp', address, port}}))
}

/** Health that says what the test wants and records what the data path reports. */
export class FakeHealth implements TargetHealth {
  readonly down = new Set<string>()
  readonly reported: HealthSubject[] = []

  isHealthy(subject: HealthSubject): boolean {
    return !this.down.has(subject.address)
  }

  reportFailure(subject: HealthSubject): void {
    this.reported.push(subject)
  }
}

/** Polls `condition` until it holds; fails after a generous limit rather than asserting on timing. */
export async function waitFor(condition: () => boolean, what = 'condition', limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Resolves with the first argument of `event`. */
export function once<T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (value: T) => resolve(value)))
}

function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 40_000)
}

/**
 * Binds one server per address on one shared random high port, retrying with another port on EADDRINUSE.
 * `bind` must reject with the bind error and clean up after itself when it fails.
 */
export async function onSharedPort<T>(
  addresses: string[],
  bind: (address: string, port: number) => Promise<T>,
  close: (item: T) => Promise<void>,
): Promise<{port: number; items: T[]}> {
  for (let tries = 0; tries < 50; tries++) {
    const port = randomPort()
    const items: T[] = []
    try {
      for (const address of addresses) items.push(await bind(address, port))
      return {port, items}
    } catch (error) {
      await Promise.all(items.map(close))
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
    }
  }
  throw new Error('no free shared port found')
}

/** A random free port on each of `addresses`, for listeners the code under test binds itself. */
export async function freeSharedPort(addresses: string[]): Promise<number> {
  const {port, items} = await onSharedPort(
    addresses,
    (address, port) => listenNet(net.createServer(), address, port),
    (server) => closeNet(server),
  )
  await Promise.all(items.map(closeNet))
  return port
}

const openSockets = new WeakMap<net.Server, Set<net.Socket>>()

function listenNet<S extends net.Server>(server: S, address: string, port: number): Promise<S> {
  const sockets = new Set<net.Socket>()
  openSockets.set(server, sockets)
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({host: address, port}, () => {
      server.removeListener('error', reject)
      resolve(server)
    })
  })
}

/** Closes the server and cuts every connection it accepted, upgraded ones included. */
function closeNet(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    for (const socket of openSockets.get(server) ?? []) socket.destroy()
  })
}

/** Per-node counters a backend keeps. */
export interface NodeStats {
  connections: number
  requests: number
  closedRequests: number
}

export interface HttpNodes {
  port: number
  targets: ProbedTarget[]
  stats: Map<string, NodeStats>
  servers: Map<string, http.Server>
}

export type NodeHandler = (node: string, req: http.IncomingMessage, res: http.ServerResponse) => void

/**
 * HTTP backends: by default each answers with JSON naming the node and echoing method, URL, headers and body.
 * They also accept WebSocket upgrades and echo text frames as `<node>:<text>`.
 */
export async function startHttpNodes(specs: NodeSpec[], handler?: NodeHandler): Promise<HttpNodes> {
  const stats = new Map<string, NodeStats>()
  const {port, items} = await onSharedPort(
    specs.map((s) => s.address),
    (address, port) => {
      const spec = specs.find((s) => s.address === address) as NodeSpec
      const counters: NodeStats = {connections: 0, requests: 0, closedRequests: 0}
      stats.set(spec.node, counters)
      const server = http.createServer((req, res) => {
        counters.requests++
        res.on('close', () => counters.closedRequests++)
        if (handler) return handler(spec.node, req, res)
        echo(spec.node, req, res)
      })
      server.on('connection', () => counters.connections++)
      server.on('upgrade', (req, socket) => acceptWebSocket(spec.node, req, socket as net.Socket))
      return listenNet(server, address, port).then((s) => ({node: spec.node, server: s}))
    },
    ({server}) => closeNet(server),
  )
  onTestFinished(() => Promise.all(items.map(({server}) => closeNet(server))).then(() => {}))
  return {
    port,
    targets: makeTargets(specs, port),
    stats,
    servers: new Map(items.map(({node, server}) => [node, server])),
  }
}

function echo(node: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    const body = JSON.stringify({
      node,
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    })
    res.writeHead(200, {'content-type': 'application/json'})
    res.end(body)
  })
}

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11' // RFC 6455 §1.3

export function websocketAccept(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64')
}

function acceptWebSocket(node: string, req: http.IncomingMessage, socket: net.Socket): void {
  socket.on('error', () => socket.destroy())
  const key = req.headers['sec-websocket-key'] ?? ''
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${websocketAccept(String(key))}\r\nX-Node: ${node}\r\n\r\n`,
  )
  let buffered = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    for (;;) {
      const frame = decodeFrame(buffered)
      if (!frame) return
      buffered = buffered.subarray(frame.length)
      socket.write(encodeFrame(`${node}:${frame.text}`, false))
    }
  })
}

/** A single-frame text message (RFC 6455 §5.2); clients must mask, servers must not. Payloads < 126 bytes. */
export function encodeFrame(text: string, masked: boolean): Buffer {
  const payload = Buffer.from(text)
  if (payload.length >= 126) throw new Error('test frames are short')
  if (!masked) return Buffer.concat([Buffer.from([0x81, payload.length]), payload])
  const mask = Buffer.from([1, 2, 3, 4])
  const body = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)))
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, body])
}

export function decodeFrame(data: Buffer): {text: string; length: number} | undefined {
  if (data.length < 2) return undefined
  const second = data[1] as number
  const masked = (second & 0x80) !== 0
  const size = second & 0x7f
  const start = 2 + (masked ? 4 : 0)
  if (data.length < start + size) return undefined
  const payload = Buffer.from(data.subarray(start, start + size))
  if (masked) {
    const mask = data.subarray(2, 6)
    for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number)
  }
  return {text: payload.toString(), length: start + size}
}

export interface TcpNodes {
  port: number
  targets: ProbedTarget[]
  /** Accepted connections per node. */
  accepted: Map<string, number>
}

/**
 * TCP backends that answer each chunk with `<node>:<chunk>` and, once the client half-closes, one more
 * `<node>:bye` before ending their side — a reply only possible if the FIN was passed through and the
 * connection stayed half-open.
 */
export async function startTcpNodes(specs: NodeSpec[]): Promise<TcpNodes> {
  const accepted = new Map<string, number>()
  const sockets = new Set<net.Socket>()
  const {port, items} = await onSharedPort(
    specs.map((s) => s.address),
    (address, port) => {
      const spec = specs.find((s) => s.address === address) as NodeSpec
      accepted.set(spec.node, 0)
      const server = net.createServer({allowHalfOpen: true}, (socket) => {
        accepted.set(spec.node, (accepted.get(spec.node) ?? 0) + 1)
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => socket.destroy())
        socket.on('data', (chunk: Buffer) => socket.write(`${spec.node}:${chunk.toString()}`))
        socket.on('end', () => socket.end(`${spec.node}:bye`))
      })
      return listenNet(server, address, port)
    },
    (server) => closeNet(server),
  )
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy()
    await Promise.all(items.map(closeNet))
  })
  return {port, targets: makeTargets(specs, port), accepted}
}

export interface UdpNodes {
  port: number
  targets: ProbedTarget[]
}

/** UDP backends that answer each datagram with `<node>:<datagram>`. */
export async function startUdpNodes(specs: NodeSpec[]): Promise<UdpNodes> {
  const {port, items} = await onSharedPort(
    specs.map((s) => s.address),
    (address, port) =>
      new Promise<dgram.Socket>((resolve, reject) => {
        const spec = specs.find((s) => s.address === address) as NodeSpec
        const socket = dgram.createSocket('udp4')
        socket.on('message', (message, remote) => socket.send(`${spec.node}:${message}`, remote.port, remote.address))
        socket.once('error', (error) => {
          socket.close()
          reject(error)
        })
        socket.bind({address, port}, () => resolve(socket))
      }),
    (socket) => new Promise((resolve) => socket.close(() => resolve())),
  )
  onTestFinished(async () => {
    await Promise.all(items.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  })
  return {port, targets: makeTargets(specs, port)}
}

/** Writes `text` on a fresh connection and collects everything until the server closes it. */
export function rawExchange(port: number, text: string | Buffer, address = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: address, port})
    onTestFinished(() => {
      socket.destroy()
    })
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A server that resets after replying still replied: report what arrived.
      if (error.code === 'ECONNRESET' && received !== '') resolve(received)
      else reject(error)
    })
    socket.on('close', () => resolve(received))
    socket.write(text)
  })
}

/**
 * Sends `text` and then a FIN at once (`socket.end(text)`, as `printf … | nc -N` does) and collects everything until
 * the server closes the connection.
 */
export function halfClosedExchange(port: number, text: string, address = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: address, port})
    onTestFinished(() => {
      socket.destroy()
    })
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    socket.on('error', reject)
    socket.on('close', () => resolve(received))
    socket.end(text)
  })
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One request on its own connection (agent: false), like a browser's first visit. */
export function request(
  port: number,
  options: {method?: string; path?: string; headers?: Record<string, string>; body?: string; address?: string} = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: options.address ?? '127.0.0.1',
      port,
      method: options.method ?? 'GET',
      path: options.path ?? '/',
      headers: options.headers,
      agent: false,
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString()}),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

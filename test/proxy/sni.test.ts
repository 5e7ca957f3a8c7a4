// The SNI listener over real loopback sockets: a hello written in pieces, bytes after it, a dead first target, and
// refusals that never reach a node.
import net from 'node:net'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {SniRouter} from '../../src/proxy/sni.js'
import {stalledNode} from './stalled-node.js'
import {captureClientHello} from './tls-hello.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** A node that echoes everything it receives and counts its connections. */
async function echoNode(): Promise<{port: number; connections: () => number}> {
  let count = 0
  const server = net.createServer({allowHalfOpen: true}, (socket) => {
    count++
    socket.on('error', () => socket.destroy())
    socket.pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise((resolve) => server.close(() => resolve())))
  return {port: (server.address() as net.AddressInfo).port, connections: () => count}
}

/** Both paths run every test: on Node's TCP handles (raw-tcp.ts), and on net.Socket, its fallback. */
const PATHS = ['TCP handles', 'net.Socket'] as const
let rawHandles = true

async function router(targets: Array<{port: number}>, log: string[], maxConnections?: number): Promise<number> {
  return (await routerWith(targets, log, maxConnections)).port
}

async function routerWith(
  targets: Array<{port: number}>,
  log: string[],
  maxConnections?: number,
  connectTimeoutMs?: number,
): Promise<{port: number; sni: SniRouter}> {
  const health = {isHealthy: () => true, reportFailure: () => {}}
  const sni = new SniRouter({health, log: (line) => log.push(line), rawHandles, maxConnections, connectTimeoutMs})
  sni.setRoutes([
    {
      service: 'kube-system/traefik',
      hosts: ['radarr.home.example.com', '*.apps.example.com'],
      targets: targets.map((t, i) => ({node: `node-${i}`, address: '127.0.0.1', port: t.port})),
    },
  ])
  const {port} = await sni.listen('127.0.0.1', 0)
  closers.push(() => sni.close(0))
  return {port, sni}
}

/** A client that sends `hello` and keeps the connection open; `received` is what came back so far. */
function openClient(port: number, hello: Buffer): {received: () => number; closed: () => boolean} {
  const socket = net.connect({host: '127.0.0.1', port}, () => socket.write(hello))
  closers.push(async () => void socket.destroy())
  let received = 0
  let closed = false
  socket.on('data', (d: Buffer) => (received += d.length))
  socket.on('error', () => {})
  socket.on('close', () => (closed = true))
  return {received: () => received, closed: () => closed}
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Writes `pieces` one by one (a turn apart), half-closes, and returns everything received. */
function exchange(port: number, pieces: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: '127.0.0.1', port, allowHalfOpen: true})
    const got: Buffer[] = []
    socket.on('data', (d: Buffer) => got.push(d))
    socket.on('close', () => resolve(Buffer.concat(got)))
    socket.on('error', reject)
    socket.on('connect', async () => {
      for (const piece of pieces) {
        socket.write(piece)
        await new Promise((r) => setTimeout(r, 20))
      }
      socket.end()
    })
  })
}

describe.each(PATHS)('SniRouter on %s', (path) => {
  beforeEach(() => void (rawHandles = path === 'TCP handles'))

  it('passes a hello written in pieces, and the bytes after it, byte for byte; a dead first target is skipped', async () => {
    const hello = await captureClientHello('radarr.home.example.com')
    const node = await echoNode()
    const dead = await echoNode()
    const log: string[] = []
    // The first target's port is closed before use: its connect is refused and the next one is tried.
    const deadPort = dead.port
    await closers.pop()!()
    const port = await router([{port: deadPort}, node], log)
    const payload = Buffer.from('after the hello')
    const pieces = [hello.subarray(0, 3), hello.subarray(3, 100), Buffer.concat([hello.subarray(100), payload])]
    expect(await exchange(port, pieces)).toEqual(Buffer.concat([hello, payload]))
    expect(node.connections()).toBe(1)
    expect(log.some((l) => l.includes('connection refused'))).toBe(true)
  })

  it('keeps bytes and a FIN sent after the hello while the connect to a node is under way, and passes them on', async () => {
    const hello = await captureClientHello('radarr.home.example.com')
    const node = await echoNode()
    const log: string[] = []
    // The first target never answers its connect: the client's next bytes and its FIN come during the 300 ms.
    const stalled = await stalledNode('127.0.0.1')
    const {port} = await routerWith([stalled, node], log, undefined, 300)
    const payload = Buffer.from('early data, then a FIN')
    expect(await exchange(port, [hello, payload])).toEqual(Buffer.concat([hello, payload]))
    expect(log.some((l) => l.includes('no answer in 0.3 s'))).toBe(true)
    expect(node.connections()).toBe(1)
  })

  it('routes a name under a wildcard host', async () => {
    const hello = await captureClientHello('grafana.apps.example.com')
    const node = await echoNode()
    const port = await router([node], [])
    expect(await exchange(port, [hello])).toEqual(hello)
  })

  it.each([
    ['an unknown name', 'nope.example.com', 'unknown server name nope.example.com'],
    ['two labels under a wildcard', 'a.b.apps.example.com', 'unknown server name a.b.apps.example.com'],
    ['no name', '', 'no server name (SNI) in its ClientHello'],
  ])('closes %s with a log line and reaches no node', async (_case, servername, line) => {
    const hello = await captureClientHello(servername)
    const node = await echoNode()
    const log: string[] = []
    const port = await router([node], log)
    expect(await exchange(port, [hello])).toEqual(Buffer.alloc(0))
    expect(node.connections()).toBe(0)
    expect(log).toEqual([expect.stringContaining(line)])
  })

  it('closes a client that is not TLS', async () => {
    const node = await echoNode()
    const log: string[] = []
    const port = await router([node], log)
    expect(await exchange(port, [Buffer.from('GET / HTTP/1.1\r\n\r\n')])).toEqual(Buffer.alloc(0))
    expect(log).toEqual([expect.stringContaining('not a TLS handshake')])
    expect(node.connections()).toBe(0)
  })

  it('closes a client that ends before its ClientHello is whole, and reaches no node', async () => {
    const hello = await captureClientHello('radarr.home.example.com')
    const node = await echoNode()
    const log: string[] = []
    const port = await router([node], log)
    expect(await exchange(port, [hello.subarray(0, 50)])).toEqual(Buffer.alloc(0))
    expect(log).toEqual([expect.stringContaining('it ended before its ClientHello was complete')])
    expect(node.connections()).toBe(0)
  })

  it('refuses connections beyond maxConnections while the others go on', async () => {
    const hello = await captureClientHello('radarr.home.example.com')
    const node = await echoNode()
    const port = await router([node], [], 1)
    const first = openClient(port, hello)
    await until(() => first.received() === hello.length, 'the first echo')
    const second = openClient(port, hello)
    await until(() => second.closed(), 'the second connection refused')
    expect(second.received()).toBe(0)
    expect(first.closed()).toBe(false)
    expect(node.connections()).toBe(1)
  })

  it('waits at close for open connections, and cuts them when the grace period ends', async () => {
    const hello = await captureClientHello('radarr.home.example.com')
    const node = await echoNode()
    const {port, sni} = await routerWith([node], [])
    const client = openClient(port, hello)
    await until(() => client.received() === hello.length, 'the echo')
    let closed = false
    const closing = sni.close().then(() => (closed = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(closed).toBe(false)
    expect(client.closed()).toBe(false)
    await sni.close(10)
    await closing
    await until(() => client.closed(), 'the client cut')
  })
})

describe('SniRouter on TCP handles', () => {
  beforeEach(() => void (rawHandles = true))

  it('stops trying targets for a client that reset its connection during a connect', async () => {
    const hello = await captureClientHello('radarr.home.example.com')
    const node = await echoNode()
    const log: string[] = []
    const stalled = await stalledNode('127.0.0.1')
    const {port, sni} = await routerWith([stalled, node], log, undefined, 300)
    const socket = net.connect({host: '127.0.0.1', port}, () => {
      socket.write(hello)
      setTimeout(() => socket.resetAndDestroy(), 50)
    })
    socket.on('error', () => {})
    await until(() => log.some((l) => l.includes('no answer in 0.3 s')), 'the stalled connect to give up')
    await sni.close()
    // A connect to the node would have started at once; give its accept a moment to show.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(node.connections()).toBe(0)
  })
})

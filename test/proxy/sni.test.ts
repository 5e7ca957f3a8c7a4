// The SNI listener over real loopback sockets: a hello written in pieces, bytes after it, a dead first target, and
// refusals that never reach a node.
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {SniRouter} from '../../src/proxy/sni.js'
import {captureClientHello} from './tls-hello.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
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

async function router(targets: Array<{port: number}>, log: string[]): Promise<number> {
  const health = {isHealthy: () => true, reportFailure: () => {}}
  const sni = new SniRouter({health, log: (line) => log.push(line)})
  sni.setRoutes([
    {
      service: 'kube-system/traefik',
      hosts: ['radarr.home.example.com', '*.apps.example.com'],
      targets: targets.map((t, i) => ({node: `node-${i}`, address: '127.0.0.1', port: t.port})),
    },
  ])
  const {port} = await sni.listen('127.0.0.1', 0)
  closers.push(() => sni.close(0))
  return port
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

describe('SniRouter', () => {
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
})

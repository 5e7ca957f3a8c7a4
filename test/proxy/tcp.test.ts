import {createHash, randomBytes} from 'node:crypto'
import net from 'node:net'

import {beforeEach, describe, expect, it, onTestFinished} from 'vitest'

import {HostSplicer} from '../../src/proxy/host-splice.js'
import {adoptWithPooledReads} from '../../src/proxy/socket.js'
import {TcpForwarder} from '../../src/proxy/tcp.js'
import type {TcpForwarderOptions} from '../../src/proxy/tcp.js'
import {
  FakeHealth,
  freeSharedPort,
  makeTargets,
  nodes,
  onSharedPort,
  startHttpNodes,
  startTcpNodes,
  waitFor,
  type NodeSpec,
} from './backends.js'
import {stalledNode} from './stalled-node.js'

/** Both relays run every forwarder test: on Node's TCP handles (raw-tcp.ts), and on net.Socket, its fallback. */
const PATHS = ['TCP handles', 'net.Socket'] as const
let rawHandles = true

async function forwarder(options: Omit<TcpForwarderOptions, 'address' | 'port'>): Promise<{
  forwarder: TcpForwarder
  port: number
}> {
  const f = new TcpForwarder({address: '127.0.0.1', port: 0, rawHandles, ...options})
  onTestFinished(() => f.close(0))
  const {port} = await f.listen()
  return {forwarder: f, port}
}

/** A client connection that collects what it receives and notes the FIN and the close. */
function connect(port: number): {
  socket: net.Socket
  received: () => string
  ended: () => boolean
  /** The forwarder ended or dropped the connection (a FIN or a reset arrived). */
  gone: () => boolean
} {
  const socket = net.connect({host: '127.0.0.1', port, allowHalfOpen: true})
  onTestFinished(() => {
    socket.destroy()
  })
  let data = ''
  let ended = false
  let closed = false
  socket.on('data', (chunk: Buffer) => (data += chunk.toString()))
  socket.on('end', () => (ended = true))
  socket.on('close', () => (closed = true))
  socket.on('error', () => {})
  return {socket, received: () => data, ended: () => ended, gone: () => ended || closed}
}

/** A TCP server on one node address that handles each connection with `handle`; resolves with its port. */
async function startNode(spec: NodeSpec, handle: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>()
  const close = (server: net.Server): Promise<void> => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  }
  const {port, items} = await onSharedPort(
    [spec.address],
    (address, port) =>
      new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer((socket) => {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          handle(socket)
        })
        server.once('error', reject)
        server.listen(port, address, () => resolve(server))
      }),
    close,
  )
  onTestFinished(() => Promise.all(items.map(close)).then(() => {}))
  return port
}

// listeners.ts hands an HTTP port a factory rather than a splicer: thousands of listeners at scale never see a client.
describe('TcpForwarder with a splicer made on demand', () => {
  it('keeps Node’s accept, makes its splicer on the first connection, once, and serves that connection through it', async () => {
    const web = await startHttpNodes(nodes(1, 121))
    let made = 0
    const f: TcpForwarder = new TcpForwarder({
      address: '127.0.0.1',
      port: 0,
      targets: web.targets,
      health: new FakeHealth(),
    })
    onTestFinished(() => f.close(0))
    f.makeSplicer = () => {
      made++
      return new HostSplicer({
        pick: () => {
          const ordered = f.pick()
          return ordered && {service: f.service, ordered}
        },
        serviceOf: () => f.service,
        health: new FakeHealth(),
        connectTimeoutMs: 1000,
        headersTimeoutMs: 500,
        transparent: true,
        log: () => {},
        verbose: false,
      })
    }
    const {port} = await f.listen()
    expect([made, f.splicer, f.connectionCount]).toEqual([0, undefined, 0])
    for (const path of ['/one', '/two']) {
      const client = connect(port)
      client.socket.end(`GET ${path} HTTP/1.1\r\nHost: anything\r\n\r\n`)
      await waitFor(() => client.gone(), `answer to ${path}`)
      expect(client.received()).toMatch(/^HTTP\/1\.1 200 /)
    }
    expect(made).toBe(1)
    // Both requests went through the splicer's kept node connection: one connection to the node.
    expect(web.stats.get('node-a')).toMatchObject({connections: 1, requests: 2})
  })
})

describe.each(PATHS)('TcpForwarder on %s', (path) => {
  beforeEach(() => void (rawHandles = path === 'TCP handles'))

  it('forwards a conversation both ways', async () => {
    const backend = await startTcpNodes(nodes(1, 31))
    const {port} = await forwarder({targets: backend.targets, health: new FakeHealth()})
    const client = connect(port)
    client.socket.write('ping')
    await waitFor(() => client.received() === 'node-a:ping', 'echo')
  })

  it('passes a half-close through: the node still answers after reading EOF', async () => {
    const backend = await startTcpNodes(nodes(1, 32))
    const {port} = await forwarder({targets: backend.targets, health: new FakeHealth()})
    const client = connect(port)
    client.socket.write('last words')
    await waitFor(() => client.received() === 'node-a:last words', 'echo')
    client.socket.end()
    await waitFor(() => client.ended(), 'FIN from the node')
    expect(client.received()).toEqual('node-a:last wordsnode-a:bye')
  })

  it('passes on what a node sends the moment it accepts, before the client says a word, and its FIN', async () => {
    // The node's handle reads from the start of its connect (raw-tcp.ts ConnectAttempts): nothing may be lost.
    const [spec] = nodes(1, 43)
    const greeting = randomBytes(300 * 1024).toString('hex')
    const port = await startNode(spec!, (socket) => socket.end(greeting))
    const {port: listening} = await forwarder({targets: makeTargets([spec!], port), health: new FakeHealth()})
    const client = connect(listening)
    await waitFor(() => client.ended(), 'FIN from the node')
    expect(client.received()).toBe(greeting)
  })

  it('resets the client when the node resets the connection (not a clean close)', async () => {
    const [spec] = nodes(1, 42)
    const port = await startNode(spec!, (socket) => socket.once('data', () => socket.resetAndDestroy()))
    const {port: listening} = await forwarder({targets: makeTargets([spec!], port), health: new FakeHealth()})
    const client = connect(listening)
    const error = new Promise<string>((resolve) =>
      client.socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    )
    client.socket.write('hi')
    expect(await error).toBe('ECONNRESET')
    expect(client.ended()).toBe(false)
  })

  it('forwards between IPv6 addresses (a node on ::1, a listener on ::1)', async () => {
    const node = net.createServer((socket) => socket.on('data', (chunk: Buffer) => socket.write(`v6:${chunk}`)))
    onTestFinished(() => void node.close())
    await new Promise<void>((resolve) => node.listen(0, '::1', resolve))
    const nodePort = (node.address() as net.AddressInfo).port
    const f = new TcpForwarder({
      address: '::1',
      port: 0,
      rawHandles,
      targets: makeTargets([{node: 'node-a', address: '::1'}], nodePort),
      health: new FakeHealth(),
    })
    onTestFinished(() => f.close(0))
    const {port} = await f.listen()
    const client = net.connect({host: '::1', port})
    onTestFinished(() => void client.destroy())
    let answer = ''
    client.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    client.write('hi')
    await waitFor(() => answer === 'v6:hi', 'the answer over IPv6')
  })

  it('tries the next node when the first refuses, without the client noticing', async () => {
    const [dead, alive] = nodes(2, 33)
    const backend = await startTcpNodes([alive!])
    const targets = makeTargets([dead!, alive!], backend.port)
    const health = new FakeHealth()
    const {port} = await forwarder({targets, health})
    const client = connect(port)
    client.socket.write('hello')
    await waitFor(() => client.received() === 'node-b:hello', 'echo from the live node')
    expect(health.reported).toEqual([targets[0]])
  })

  it('tries the next node when the first does not answer its connect within connectTimeoutMs', async () => {
    const [stalled, alive] = nodes(2, 48)
    const backend = await startTcpNodes([alive!])
    const {port: stalledPort} = await stalledNode(stalled!.address)
    const targets = [...makeTargets([stalled!], stalledPort), ...backend.targets]
    const health = new FakeHealth()
    const log: string[] = []
    const {port} = await forwarder({targets, health, connectTimeoutMs: 300, log: (line) => log.push(line)})
    const client = connect(port)
    client.socket.write('hello')
    await waitFor(() => client.received() === 'node-b:hello', 'echo from the node that answers')
    expect(health.reported).toEqual([targets[0]])
    expect(log.filter((line) => line.includes('node-a'))).toEqual([
      `tcp 127.0.0.1:0 (127.0.0.1:0): node-a (127.0.10.48:${stalledPort}): no answer in 0.3 s`,
    ])
  })

  it('sends new connections to new targets and leaves open ones alone', async () => {
    const [first, second] = nodes(2, 35)
    const backendA = await startTcpNodes([first!])
    const backendB = await startTcpNodes([second!])
    const {forwarder: f, port} = await forwarder({targets: backendA.targets, health: new FakeHealth()})
    const old = connect(port)
    old.socket.write('1')
    await waitFor(() => old.received() === 'node-a:1', 'first connection answered')

    f.setTargets(backendB.targets)
    const fresh = connect(port)
    fresh.socket.write('2')
    await waitFor(() => fresh.received() === 'node-b:2', 'new connection on the new target')
    old.socket.write('3')
    await waitFor(() => old.received() === 'node-a:1node-a:3', 'old connection still on its node')
  })

  it('closes the client at once when no target is healthy', async () => {
    const backend = await startTcpNodes(nodes(1, 37))
    const health = new FakeHealth()
    health.down.add(backend.targets[0]!.address)
    const {port} = await forwarder({targets: backend.targets, health})
    const client = connect(port)
    await waitFor(() => client.gone(), 'client closed')
    expect(client.received()).toEqual('')
    expect(backend.accepted.get('node-a')).toEqual(0)
  })

  it('closes the client when every target fails', async () => {
    const specs = nodes(2, 38)
    const port0 = await freeSharedPort(specs.map((s) => s.address))
    const health = new FakeHealth()
    const {port} = await forwarder({targets: makeTargets(specs, port0), health})
    const client = connect(port)
    await waitFor(() => client.gone(), 'client closed')
    expect(health.reported.map((p) => p.address)).toEqual(['127.0.10.38', '127.0.10.39'])
  })

  it('closes the client at once with no targets at all', async () => {
    const {port} = await forwarder({targets: [], health: new FakeHealth()})
    const client = connect(port)
    await waitFor(() => client.gone(), 'client closed')
  })

  it('stops accepting on close and lets open connections finish', async () => {
    const backend = await startTcpNodes(nodes(1, 40))
    const {forwarder: f, port} = await forwarder({targets: backend.targets, health: new FakeHealth()})
    const open = connect(port)
    open.socket.write('a')
    await waitFor(() => open.received() === 'node-a:a', 'echo')

    let closed = false
    const closing = f.close().then(() => (closed = true))
    const refused = await new Promise<string>((resolve) => {
      const late = net.connect({host: '127.0.0.1', port})
      late.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? ''))
      late.on('connect', () => resolve('connected'))
    })
    expect(refused).toEqual('ECONNREFUSED')

    open.socket.write('b')
    await waitFor(() => open.received() === 'node-a:anode-a:b', 'open connection still works')
    expect(closed).toBe(false)
    open.socket.end()
    await closing
  })

  it('destroys connections still open when the grace period ends', async () => {
    const backend = await startTcpNodes(nodes(1, 41))
    const {forwarder: f, port} = await forwarder({targets: backend.targets, health: new FakeHealth()})
    const open = connect(port)
    open.socket.write('a')
    await waitFor(() => open.received() === 'node-a:a', 'echo')
    await f.close(10)
    await waitFor(() => open.gone(), 'client cut')
  })
})

describe.each(PATHS)('TcpForwarder bounds on %s', (path) => {
  beforeEach(() => void (rawHandles = path === 'TCP handles'))

  it('refuses clients beyond maxConnections, and serves again once one closes', async () => {
    const backend = await startTcpNodes(nodes(1, 91))
    const {forwarder: f, port} = await forwarder({
      targets: backend.targets,
      health: new FakeHealth(),
      maxConnections: 2,
    })
    const first = connect(port)
    const second = connect(port)
    first.socket.write('1')
    second.socket.write('2')
    await waitFor(() => first.received() === 'node-a:1' && second.received() === 'node-a:2', 'two connections')
    const third = connect(port)
    await waitFor(() => third.gone(), 'third refused')
    expect(f.connectionCount).toBe(2)
    second.socket.write('still')
    await waitFor(() => second.received().endsWith('node-a:still'), 'the others keep working')
    first.socket.destroy()
    await waitFor(() => f.connectionCount === 1, 'first gone')
    const fourth = connect(port)
    fourth.socket.write('4')
    await waitFor(() => fourth.received() === 'node-a:4', 'served again')
  })

  it('delivers large downloads intact to readers that start late, several at once (pooled read buffers)', async () => {
    // Each connection gets its own random bytes: a read buffer reused too early would mix them up.
    const sent = new Map<number, string>()
    const [spec] = nodes(1, 114)
    const nodePort = await startNode(spec!, (socket) => {
      const id = sent.size
      const body = randomBytes(24 * 1024 * 1024)
      sent.set(id, createHash('sha256').update(body).digest('hex'))
      const head = Buffer.alloc(4)
      head.writeUInt32BE(id)
      socket.end(Buffer.concat([head, body]))
    })
    const {port} = await forwarder({targets: makeTargets([spec!], nodePort), health: new FakeHealth()})
    const download = (): Promise<{id: number; hash: string}> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({host: '127.0.0.1', port})
        onTestFinished(() => void socket.destroy())
        const chunks: Buffer[] = []
        // A reader that starts late: once the kernel's socket buffers are full, the forwarder's writes queue up.
        socket.pause()
        setTimeout(() => socket.resume(), 300)
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.on('error', reject)
        socket.on('end', () => {
          const all = Buffer.concat(chunks)
          resolve({id: all.readUInt32BE(0), hash: createHash('sha256').update(all.subarray(4)).digest('hex')})
        })
      })
    const results = await Promise.all([download(), download(), download()])
    expect(results.map((r) => r.hash).sort()).toEqual([...sent.values()].sort())
    for (const r of results) expect(r.hash).toEqual(sent.get(r.id))
  })

  it('delivers large uploads intact to a node that starts reading late, several at once (pooled reads)', async () => {
    // The node answers with a hash of what it got; a read buffer reused before the node socket took it would show.
    const [spec] = nodes(1, 118)
    const nodePort = await startNode(spec!, (socket) => {
      const hash = createHash('sha256')
      socket.pause()
      setTimeout(() => socket.resume(), 300)
      socket.on('data', (chunk: Buffer) => hash.update(chunk))
      socket.on('end', () => socket.end(hash.digest('hex')))
    })
    const {port} = await forwarder({targets: makeTargets([spec!], nodePort), health: new FakeHealth()})
    const upload = async (): Promise<{sent: string; got: string}> => {
      const body = randomBytes(24 * 1024 * 1024)
      const client = connect(port)
      client.socket.end(body)
      await waitFor(() => client.ended(), "the node's answer")
      return {sent: createHash('sha256').update(body).digest('hex'), got: client.received()}
    }
    for (const {sent, got} of await Promise.all([upload(), upload(), upload()])) expect(got).toBe(sent)
  })

  it('carries a large exchange both ways at once, and a half-close after it, intact', async () => {
    // The node echoes everything: both directions are full at the same time, each waiting on the other's reader.
    const [spec] = nodes(1, 115)
    const nodePort = await startNode(spec!, (socket) => socket.pipe(socket))
    const {port} = await forwarder({targets: makeTargets([spec!], nodePort), health: new FakeHealth()})
    const body = randomBytes(16 * 1024 * 1024)
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const socket = net.connect({host: '127.0.0.1', port, allowHalfOpen: true})
      onTestFinished(() => void socket.destroy())
      const chunks: Buffer[] = []
      socket.on('data', (chunk: Buffer) => chunks.push(chunk))
      socket.on('error', reject)
      socket.on('end', () => resolve(Buffer.concat(chunks)))
      // Written in uneven pieces, then the FIN: the node's pipe ends its side once it has echoed everything.
      let offset = 0
      const writeMore = (): void => {
        while (offset < body.length) {
          const piece = body.subarray(offset, offset + 1 + ((offset * 7919) % 300_000))
          offset += piece.length
          if (!socket.write(piece)) return void socket.once('drain', writeMore)
        }
        socket.end()
      }
      writeMore()
    })
    expect(echoed.length).toBe(body.length)
    expect(createHash('sha256').update(echoed).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'))
  })

  it('counts an upload from the client as activity, not idleness', async () => {
    const [spec] = nodes(1, 120)
    const nodePort = await startNode(spec!, (socket) => socket.resume())
    const {port} = await forwarder({
      targets: makeTargets([spec!], nodePort),
      health: new FakeHealth(),
      idleTimeoutMs: 600,
    })
    const talker = connect(port)
    const timer = setInterval(() => talker.socket.write('.'), 50)
    onTestFinished(() => clearInterval(timer))
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(talker.gone()).toBe(false)
  })

  it('counts a download from the node as activity, not idleness', async () => {
    const [spec] = nodes(1, 115)
    const nodePort = await startNode(spec!, (socket) => {
      const timer = setInterval(() => socket.write('.'), 50)
      socket.on('close', () => clearInterval(timer))
      socket.on('error', () => {})
    })
    // Dots every 50 ms against a 600 ms idle timeout: a test process stalled for less than half a second (a loaded
    // machine) cannot pass for idleness.
    const {port} = await forwarder({
      targets: makeTargets([spec!], nodePort),
      health: new FakeHealth(),
      idleTimeoutMs: 600,
    })
    const listener = connect(port)
    await waitFor(() => listener.received().length >= 40, 'a stream of dots for three idle periods')
    expect(listener.gone()).toBe(false)
  })

  it('closes a connection silent both ways for idleTimeoutMs, but not one that talks', async () => {
    const backend = await startTcpNodes(nodes(1, 92))
    const {port} = await forwarder({targets: backend.targets, health: new FakeHealth(), idleTimeoutMs: 600})
    const quiet = connect(port)
    const chatty = connect(port)
    quiet.socket.write('hi')
    chatty.socket.write('hi')
    await waitFor(() => quiet.received() === 'node-a:hi', 'quiet echo')
    const timer = setInterval(() => chatty.socket.write('.'), 100)
    onTestFinished(() => clearInterval(timer))
    await waitFor(() => quiet.gone(), 'quiet connection closed')
    expect(chatty.gone()).toBe(false)
  })
})

describe('adoptWithPooledReads', () => {
  it('moves an accepted connection to a socket that reads into pooled buffers; its server still counts it', async () => {
    const chunks: Buffer[] = []
    const sizes: number[] = []
    let adopted: net.Socket | undefined
    const server = net.createServer({pauseOnConnect: true, allowHalfOpen: true}, (accepted) => {
      adopted = adoptWithPooledReads(accepted, (chunk, done) => {
        chunks.push(Buffer.from(chunk))
        sizes.push(chunk.buffer.byteLength)
        done()
        if (Buffer.concat(chunks).toString() === 'hello') adopted!.write('bye')
        return true
      })
      adopted?.resume()
    })
    onTestFinished(() => void server.close())
    await new Promise<void>((resolve) => server.listen(0, '127.0.10.119', resolve))
    const client = net.connect({host: '127.0.10.119', port: (server.address() as net.AddressInfo).port})
    onTestFinished(() => void client.destroy())
    let answer = ''
    client.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    client.write('hel')
    setTimeout(() => client.write('lo'), 20)
    await waitFor(() => answer === 'bye', 'the answer')
    expect(new Set(sizes)).toEqual(new Set([256 * 1024]))

    // close() waits for the adopted connection, not for the accepted socket it came from.
    let closed = false
    server.close(() => (closed = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(closed).toBe(false)
    adopted!.destroy()
    await waitFor(() => closed, 'the server closed once the adopted socket did')
  })

  it('leaves a socket without a stream handle alone', () => {
    expect(adoptWithPooledReads(new net.Socket(), () => true)).toBeUndefined()
  })
})

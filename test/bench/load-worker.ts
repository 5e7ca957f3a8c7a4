// The child-process side of the TCP bench (see load.ts): backends and load clients run here, in their own
// processes, so neither their CPU nor their event loop is shared with serve or with each other.
//   node load-worker.mjs backends '{"sink":[{"host":…,"port":…}],"echo":[…]}'   prints "ready", runs until killed
//   node load-worker.mjs stream  '{"host":…,"port":…,"connections":8,"bytesPerConnection":…}'  prints JSON
//   node load-worker.mjs connect '{"host":…,"port":…,"concurrency":32,"durationMs":5000}'      prints JSON
//   node load-worker.mjs download '{"host":…,"port":…,"connections":1,"bytesPerConnection":…}' prints JSON
//   node load-worker.mjs splice '[{"listen":{"host":…,"port":…},"target":{"host":…,"port":…}},…]'  prints "ready"
//   node load-worker.mjs raw-splice '[…the same…]'  prints "ready"
//   node load-worker.mjs dns-floor '{"host":…,"port":…}'  prints "ready"
// (splice: the plainest Node proxy, each client piped to a new connection to the target; raw-splice: the same on
// Node's stream handles, without net.Socket and streams (what a proxy built that way could reach); dns-floor: the plainest
// Node UDP responder, each query sent back as an empty NOERROR answer. The HTTP, TCP, SNI and DNS sections'
// references for what Node's own sockets cost on this machine, whatever a proxy or responder does on top)
// (backends also take "source": servers that send as many bytes as the first line asks for, then close: what a
// path without half-close, such as port-forward's v4 WebSocket channels, can carry in full)
// With "hello" (a TLS ClientHello, base64) stream and connect send it first, as a TLS client would: the SNI section
// routes on it (serve's --https-port, HAProxy's req.ssl_sni); the backends take it as payload.
import dgram from 'node:dgram'
import net from 'node:net'
import {performance} from 'node:perf_hooks'

interface Address {
  host: string
  port: number
}

/** A sink: reads everything, and when the client half-closes, answers the byte count (8 bytes) and closes. */
function sink(address: Address): Promise<net.Server> {
  const server = net.createServer({allowHalfOpen: true}, (socket) => {
    let received = 0
    socket.on('data', (chunk) => (received += chunk.length))
    socket.on('end', () => {
      const count = Buffer.alloc(8)
      count.writeBigUInt64BE(BigInt(received))
      socket.end(count)
    })
    socket.on('error', () => socket.destroy())
  })
  return listen(server, address)
}

/** Echo-once: sends the first chunk back and closes, so each connection is one short exchange. */
function echoOnce(address: Address): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.once('data', (chunk) => socket.end(chunk))
    socket.on('error', () => socket.destroy())
  })
  return listen(server, address)
}

/** A source: reads one line holding a byte count, sends that many bytes, then closes. */
function source(address: Address): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let line = ''
    const onData = (chunk: Buffer) => {
      line += chunk.toString('latin1')
      if (!line.includes('\n')) return
      socket.off('data', onData)
      let left = Number(line.slice(0, line.indexOf('\n')))
      const pump = () => {
        while (left > 0) {
          const n = Math.min(CHUNK.length, left)
          left -= n
          if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void socket.once('drain', pump)
        }
        socket.end()
      }
      pump()
    }
    socket.on('data', onData)
    socket.on('error', () => socket.destroy())
  })
  return listen(server, address)
}

/** Asks a source for `bytes` and resolves once they all arrived and the source closed. */
function downloadOne(address: Address, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(address)
    let received = 0
    socket.on('connect', () => socket.write(`${bytes}\n`))
    socket.on('data', (d) => (received += d.length))
    socket.on('close', () => (received === bytes ? resolve() : reject(new Error(`got ${received} of ${bytes} bytes`))))
    socket.on('error', reject)
  })
}

async function download(opts: Address & {connections: number; bytesPerConnection: number}) {
  const start = performance.now()
  const results = await Promise.allSettled(
    Array.from({length: opts.connections}, () => downloadOne(opts, opts.bytesPerConnection)),
  )
  const seconds = (performance.now() - start) / 1000
  const ok = results.filter((r) => r.status === 'fulfilled').length
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))
  const bytes = ok * opts.bytesPerConnection
  return {bytes, seconds, mbPerS: bytes / seconds / 1e6, errors}
}

function listen(server: net.Server, address: Address): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({host: address.host, port: address.port, backlog: 4096}, () => resolve(server))
  })
}

const CHUNK = Buffer.alloc(1 << 20, 0x61)

/** Streams `bytes` to a sink and resolves once the sink has confirmed receiving them all. */
function streamOne(address: Address, bytes: number, hello?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({...address, allowHalfOpen: true})
    if (hello) socket.write(hello)
    let sent = 0
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(CHUNK.length, bytes - sent)
        sent += n
        if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          socket.once('drain', pump)
          return
        }
      }
      socket.end()
    }
    const reply: Buffer[] = []
    socket.on('connect', pump)
    socket.on('data', (d) => reply.push(d))
    socket.on('end', () => {
      socket.destroy()
      const body = Buffer.concat(reply)
      const confirmed = body.length === 8 ? Number(body.readBigUInt64BE(0)) : -1
      const expected = bytes + (hello?.length ?? 0)
      if (confirmed === expected) resolve()
      else reject(new Error(`sink confirmed ${confirmed} of ${expected} bytes`))
    })
    socket.on('error', reject)
  })
}

async function stream(opts: Address & {connections: number; bytesPerConnection: number; hello?: string}) {
  const hello = opts.hello ? Buffer.from(opts.hello, 'base64') : undefined
  const start = performance.now()
  const results = await Promise.allSettled(
    Array.from({length: opts.connections}, () => streamOne(opts, opts.bytesPerConnection, hello)),
  )
  const seconds = (performance.now() - start) / 1000
  const ok = results.filter((r) => r.status === 'fulfilled').length
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))
  const bytes = ok * opts.bytesPerConnection
  return {bytes, seconds, mbPerS: bytes / seconds / 1e6, errors}
}

const PING = Buffer.from('ping\n')

/**
 * One connection: connect, send a line, read the echo until the server closes. With a ClientHello first, the echo
 * sends back the first chunk it read: the hello, or the hello and the line, depending on how the path in between
 * passed them on.
 */
function exchangeOnce(address: Address, hello?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(address)
    let received = 0
    const first = hello ? Buffer.concat([hello, PING]) : PING
    const ok = (n: number) => (hello ? n >= hello.length : n === PING.length)
    socket.on('connect', () => socket.write(first))
    socket.on('data', (d) => (received += d.length))
    socket.on('close', () => (ok(received) ? resolve() : reject(new Error(`echo got ${received} bytes`))))
    socket.on('error', reject)
  })
}

async function connect(opts: Address & {concurrency: number; durationMs: number; hello?: string}) {
  const hello = opts.hello ? Buffer.from(opts.hello, 'base64') : undefined
  const start = performance.now()
  const deadline = start + opts.durationMs
  let connections = 0
  let errors = 0
  let firstError: string | undefined
  const loop = async () => {
    while (performance.now() < deadline) {
      try {
        await exchangeOnce(opts, hello)
        connections++
      } catch (error) {
        errors++
        firstError ??= String(error)
      }
    }
  }
  await Promise.all(Array.from({length: opts.concurrency}, loop))
  const seconds = (performance.now() - start) / 1000
  return {connections, seconds, perS: connections / seconds, errors, firstError}
}

/**
 * Pipes each client both ways to a new connection to `target`: nothing read, parsed or kept. Half-open, so that a
 * client's FIN reaches the target and the answer still comes back (the TCP section's sink).
 */
function splice(listenOn: Address, target: Address): Promise<net.Server> {
  const server = net.createServer({noDelay: true, allowHalfOpen: true}, (client) => {
    const node = net.connect({...target, noDelay: true, allowHalfOpen: true})
    client.pipe(node)
    node.pipe(client)
    client.on('error', () => node.destroy())
    node.on('error', () => client.destroy())
  })
  return listen(server, listenOn)
}

/** What raw-splice uses of Node's internal bindings (lib/net.js and lib/internal/stream_base_commons.js do the same). */
interface StreamHandle {
  onread: (this: StreamHandle, arrayBuffer: ArrayBuffer) => void
  onconnection: (status: number, client?: StreamHandle) => void
  readStart(): number
  readStop(): number
  writeBuffer(req: object, data: Uint8Array): number
  shutdown(req: object): number
  close(): void
  setNoDelay(on: boolean): number
  bind(address: string, port: number): number
  listen(backlog: number): number
  connect(req: object, address: string, port: number): number
}
interface Relay {
  peer: StreamHandle
  /** The peer's FIN came, or ours was sent; both: the pair is closed. */
  ended: boolean
  closed: boolean
}

/**
 * The plainest proxy on Node's TCP handles (process.binding, Node 20): each read written to the peer as is, reading
 * stopped while a write waits, FIN passed on as shutdown. No net.Socket, no streams, no timers.
 */
function rawSplice(pairs: Array<{listen: Address; target: Address}>): void {
  const binding = (process as unknown as {binding: (name: string) => Record<string, unknown>}).binding
  const tcp = binding('tcp_wrap') as {
    TCP: new (type: number) => StreamHandle
    TCPConnectWrap: new () => {oncomplete: (status: number) => void; address: string; port: number}
    constants: {SOCKET: number; SERVER: number}
  }
  const stream = binding('stream_wrap') as {
    WriteWrap: new () => {handle: StreamHandle; oncomplete: (status: number) => void; async: boolean}
    ShutdownWrap: new () => {handle: StreamHandle; oncomplete: (status: number) => void}
    streamBaseState: Int32Array
    kReadBytesOrError: number
    kArrayBufferOffset: number
    kLastWriteWasAsync: number
  }
  const UV_EOF = -4095
  const state = new WeakMap<StreamHandle, Relay>()
  const closePair = (a: StreamHandle): void => {
    for (const h of [a, state.get(a)!.peer]) {
      const relay = state.get(h)!
      if (!relay.closed) h.close()
      relay.closed = true
    }
  }
  function onread(this: StreamHandle, arrayBuffer: ArrayBuffer): void {
    const nread = stream.streamBaseState[stream.kReadBytesOrError]!
    const relay = state.get(this)!
    const {peer} = relay
    if (nread > 0) {
      const bytes = new Uint8Array(arrayBuffer, stream.streamBaseState[stream.kArrayBufferOffset], nread)
      const req = new stream.WriteWrap()
      req.handle = peer
      req.async = false
      req.oncomplete = (status) => (status < 0 ? closePair(this) : !relay.closed && this.readStart())
      if (peer.writeBuffer(req, bytes) < 0) return closePair(this)
      if (stream.streamBaseState[stream.kLastWriteWasAsync]) this.readStop()
      return
    }
    if (nread !== UV_EOF) return closePair(this)
    this.readStop()
    relay.ended = true
    if (state.get(peer)!.ended) return closePair(this)
    const req = new stream.ShutdownWrap()
    req.handle = peer
    req.oncomplete = (status) => status < 0 && closePair(this)
    peer.shutdown(req)
  }
  const relay = (a: StreamHandle, b: StreamHandle): void => {
    state.set(a, {peer: b, ended: false, closed: false})
    state.set(b, {peer: a, ended: false, closed: false})
    for (const h of [a, b]) {
      h.onread = onread
      h.readStart()
    }
  }
  for (const {listen, target} of pairs) {
    const server = new tcp.TCP(tcp.constants.SERVER)
    if (server.bind(listen.host, listen.port) < 0 || server.listen(511) < 0) {
      throw new Error(`raw-splice: cannot listen on ${listen.host}:${listen.port}`)
    }
    server.onconnection = (status, client) => {
      if (status < 0 || !client) return
      const node = new tcp.TCP(tcp.constants.SOCKET)
      client.setNoDelay(true)
      node.setNoDelay(true)
      const req = new tcp.TCPConnectWrap()
      req.address = target.host
      req.port = target.port
      req.oncomplete = (status) => {
        if (status < 0) {
          client.close()
          node.close()
        } else relay(client, node)
      }
      if (node.connect(req, target.host, target.port) < 0) {
        client.close()
        node.close()
      }
    }
  }
}

/**
 * Answers every DNS query with its own question and no records (RFC 1035 §4.1.1: QR set, RA copied from nothing,
 * RCODE 0): the receive and send a UDP responder cannot avoid, and nothing else.
 */
function dnsFloor(address: Address): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (query, peer) => {
    if (query.length < 12) return
    query[2] = (query[2]! | 0x80) & ~0x02 // QR, and never TC
    query[3] = 0 // RA 0, Z 0, RCODE NOERROR
    query.writeUInt32BE(0, 6) // no answer, authority …
    query.writeUInt16BE(0, 10) // … or additional records (an EDNS OPT record is cut off with them)
    const end = questionEnd(query)
    if (end > 0) socket.send(query.subarray(0, end), peer.port, peer.address)
  })
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(address.port, address.host, () => resolve(socket))
  })
}

/** Where the first question of a message ends (its name, type and class), or -1 when it is cut short. */
function questionEnd(message: Buffer): number {
  let at = 12
  while (at < message.length && message[at]! !== 0) at += message[at]! + 1
  return at + 5 <= message.length ? at + 5 : -1
}

const [role, json] = process.argv.slice(2)
const args = JSON.parse(json ?? '{}')
if (role === 'backends') {
  const servers = await Promise.all([
    ...(args.sink as Address[]).map(sink),
    ...(args.echo as Address[]).map(echoOnce),
    ...((args.source ?? []) as Address[]).map(source),
  ])
  process.on('SIGTERM', () => {
    for (const s of servers) s.close()
    process.exit(0)
  })
  console.log('ready')
} else if (role === 'splice') {
  const pairs = args as Array<{listen: Address; target: Address}>
  await Promise.all(pairs.map((pair) => splice(pair.listen, pair.target)))
  console.log('ready')
} else if (role === 'raw-splice') {
  rawSplice(args as Array<{listen: Address; target: Address}>)
  console.log('ready')
} else if (role === 'dns-floor') {
  await dnsFloor(args as Address)
  console.log('ready')
} else if (role === 'stream') {
  console.log(JSON.stringify(await stream(args)))
} else if (role === 'download') {
  console.log(JSON.stringify(await download(args)))
} else if (role === 'connect') {
  console.log(JSON.stringify(await connect(args)))
} else {
  console.error(`unknown role ${role}`)
  process.exitCode = 2
}

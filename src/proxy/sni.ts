// serve's --https-port: TLS connections routed by the server name in their ClientHello (SNI, RFC 6066 §3) and passed
// through byte for byte, never decrypted: the node (an ingress controller, an app) presents its own certificate. An
// unknown name, no name, or anything that is not a ClientHello is closed with a log line and forwarded nowhere.
// Target choice, retries on connect failure and failover are the TCP forwarder's (pick.ts, socket.ts).
import net from 'node:net'

import {hostPort} from '../net/address.js'
import {describeErrno} from '../net/errno.js'
import type {ProbedTarget, TlsRoute} from '../servemap/types.js'
import {noteAccept} from './accept-turns.js'
import {scanClientHello} from './client-hello.js'
import type {TargetHealth} from './health.js'
import {formatTarget, formatTargets, orderHealthy} from './pick.js'
import {acceptOnHandles, connectFirstRaw, peerOf, RawRelay, readFirstBytes, type TcpHandle} from './raw-tcp.js'
import {
  adoptWithPooledReads,
  connectFirst,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  splice,
  writeChunk,
} from './socket.js'

/** A client gets this long to send its ClientHello (as the router's headers timeout guards against slow heads). */
const HELLO_TIMEOUT_MS = 10_000

export interface SniRouterOptions {
  health: TargetHealth
  connectTimeoutMs?: number
  maxConnections?: number
  /** A connection with no bytes either way for this long is closed (0: never). */
  idleTimeoutMs?: number
  log?: (line: string) => void
  verbose?: boolean
  /** Take connections and relay them on Node's TCP handles (raw-tcp.ts) where this Node offers them: the default. */
  rawHandles?: boolean
}

/** A connection taken as a TCP handle: cut() closes it, whatever phase it is in. */
interface HandleConnection {
  cut: () => void
}

interface RouteEntry {
  route: TlsRoute
  counter: number
}

/** Routes TLS connections by SNI to the targets of a Service's TLS port. */
export class SniRouter {
  private routes = new Map<string, RouteEntry>()
  private hasWildcards = false
  private readonly health: TargetHealth
  private readonly connectTimeoutMs: number
  private readonly maxConnections: number
  private readonly idleTimeoutMs: number
  private readonly log: (line: string) => void
  private readonly verbose: boolean
  private server?: net.Server
  private label = ''
  private readonly sockets = new Set<net.Socket>()
  private readonly rawHandles: boolean
  /** Connections taken as TCP handles: the server does not count them, so close() waits for them here. */
  private readonly handles = new Set<HandleConnection>()
  private onNoHandles?: () => void
  private closing?: Promise<void>

  constructor(options: SniRouterOptions) {
    this.health = options.health
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    this.log = options.log ?? (() => {})
    this.verbose = options.verbose ?? false
    this.rawHandles = options.rawHandles ?? true
  }

  /** Replaces the table; open connections stay where they are. The first route naming a host keeps it. */
  setRoutes(routes: TlsRoute[]): void {
    const next = new Map<string, RouteEntry>()
    const previous = new Map([...this.routes.values()].map((e) => [e.route.service, e.counter]))
    for (const route of routes) {
      const entry = {route, counter: previous.get(route.service) ?? 0}
      for (const host of route.hosts) if (!next.has(host)) next.set(host, entry)
    }
    this.routes = next
    this.hasWildcards = [...next.keys()].some((h) => h.startsWith('*.'))
  }

  /** The route of a server name: its own, or a wildcard covering its first label. */
  private lookup(name: string): RouteEntry | undefined {
    const entry = this.routes.get(name)
    if (entry || !this.hasWildcards) return entry
    const dot = name.indexOf('.')
    return dot < 0 ? undefined : this.routes.get(`*${name.slice(dot)}`)
  }

  /** Binds `address:port`; rejects with the bind error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
  listen(address: string, port: number): Promise<net.AddressInfo> {
    // pauseOnConnect: the accepted socket moves to pooled reads before anything is read (see accept).
    const server = net.createServer({allowHalfOpen: true, pauseOnConnect: true}, (socket) => this.accept(socket))
    server.maxConnections = this.maxConnections
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({host: address, port}, () => {
        server.removeListener('error', reject)
        const bound = server.address() as net.AddressInfo
        this.label = `https ${hostPort(address, bound.port)}`
        server.on('error', (error) => this.log(`${this.label}: ${error.message}`))
        if (this.rawHandles) acceptOnHandles(server, (handle) => this.acceptHandle(handle))
        this.server = server
        resolve(bound)
      })
    })
  }

  /** Stops accepting; open connections get `graceMs` (default: as long as they take), then are cut. */
  close(graceMs?: number): Promise<void> {
    const server = this.server
    if (!server) return Promise.resolve()
    // Once: a second call (a grace period at shutdown) waits for the same end.
    this.closing ??= new Promise<void>((resolve) =>
      server.close(() => {
        if (this.handles.size === 0) resolve()
        else this.onNoHandles = resolve
      }),
    )
    if (graceMs !== undefined) {
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy()
        for (const connection of this.handles) connection.cut()
      }, graceMs).unref()
      void this.closing.then(() => clearTimeout(timer))
    }
    return this.closing
  }

  /**
   * A connection taken as a TCP handle (acceptOnHandles): its ClientHello is read on the handle, then the handle is
   * relayed to the node on handles (raw-tcp.ts). The same checks, logs and limits as accept() on net.Socket.
   */
  private acceptHandle(handle: TcpHandle): void {
    noteAccept()
    if (this.handles.size + this.sockets.size >= this.maxConnections) return handle.close()
    // The client's address, asked of the kernel only for a log line.
    const from = (): string | undefined => peerOf(handle).address
    let relay: RawRelay | undefined
    let gone = false
    const connection: HandleConnection = {
      cut: () => (relay ? relay.cut() : close()),
    }
    this.handles.add(connection)
    const forget = (): void => {
      this.handles.delete(connection)
      if (this.handles.size === 0 && this.onNoHandles) this.onNoHandles()
    }
    const close = (): void => {
      if (gone) return
      gone = true
      clearTimeout(timer)
      stopReading()
      handle.close(forget)
    }
    const refuse = (why: string): void => {
      if (!gone) this.log(`${this.label}: closing a connection from ${from()}: ${why}`)
      close()
    }
    const timer = setTimeout(() => refuse('no ClientHello within 10 s'), HELLO_TIMEOUT_MS).unref()
    let read: Buffer = Buffer.alloc(0)
    const stopReading = readFirstBytes(
      handle,
      (bytes) => {
        if (!bytes) return refuse('it ended before its ClientHello was complete')
        read = read.length === 0 ? bytes : Buffer.concat([read, bytes])
        const scan = scanClientHello(read)
        if (scan.kind === 'more') return
        stopReading()
        clearTimeout(timer)
        if (scan.kind === 'invalid') return refuse(scan.reason)
        if (!scan.serverName) return refuse('no server name (SNI) in its ClientHello')
        const name = scan.serverName
        const entry = this.lookup(name)
        if (!entry) return refuse(`unknown server name ${name}`)
        const ordered = orderHealthy(entry.route.targets, (t) => this.health.isHealthy(t), entry.counter++)
        const {service} = entry.route
        if (!ordered) {
          this.log(
            `${this.label}: ${name}: no healthy target for ${service} (${formatTargets(entry.route.targets)}); closing the connection`,
          )
          return close()
        }
        const onFailure = ({target, error}: {target: ProbedTarget; error: Error}): void => {
          this.health.reportFailure(target)
          this.log(`${this.label}: ${name}: ${formatTarget(target)}: ${describeErrno(error)}`)
        }
        connectFirstRaw(ordered, {timeoutMs: this.connectTimeoutMs, onFailure, cancelled: () => gone}, (result) => {
          const {handle: node, target} = result
          if (!node || !target || gone) {
            node?.close()
            if (!gone) {
              const tried = result.failures.map((f) => formatTarget(f.target)).join(', ')
              this.log(
                `${this.label}: ${name}: every target of ${service} failed (tried ${tried}); closing the connection`,
              )
            }
            return close()
          }
          gone = true // from here the relay closes the handle
          const client = this.verbose ? from() : undefined
          relay = new RawRelay(handle, node, {
            first: read,
            idleTimeoutMs: this.idleTimeoutMs,
            onClose: (error) => {
              if (error && this.verbose) this.log(`${this.label}: ${client} ${name}: ${error.message}`)
              forget()
            },
          })
          if (this.verbose) this.log(`${this.label}: ${client} ${name} → ${service} ${formatTarget(target)}`)
        })
      },
      (error) => {
        if (this.verbose) this.log(`${this.label}: client ${from()}: ${error.message}`)
        close()
      },
    )
  }

  private accept(accepted: net.Socket): void {
    noteAccept()
    // The client's bytes are read through pooled buffers (socket.ts adoptWithPooledReads, as the TCP forwarder does):
    // the hello is copied out while it is scanned, then every chunk goes to the node without a copy.
    let upstream: net.Socket | undefined
    let scanning = true
    let read: Buffer = Buffer.alloc(0)
    const onChunk = (chunk: Buffer): boolean => {
      if (!scanning) return true
      read = Buffer.concat([read, chunk])
      return this.onHello(client, read, (socket) => {
        upstream = socket
        scanning = false
      })
    }
    const adopted = adoptWithPooledReads(accepted, (chunk, done, from) => {
      if (upstream) return writeChunk(upstream, chunk, done, from)
      const reading = onChunk(chunk)
      done()
      return reading
    })
    const client = adopted ?? accepted
    if (!adopted) client.on('data', (chunk: Buffer) => void (onChunk(chunk) || client.pause()))
    this.sockets.add(client)
    client.once('close', () => this.sockets.delete(client))
    client.on('error', (error) => {
      if (this.verbose) this.log(`${this.label}: client ${client.remoteAddress}: ${error.message}`)
    })
    const timer = setTimeout(() => {
      if (scanning) this.refuse(client, 'no ClientHello within 10 s')
    }, HELLO_TIMEOUT_MS).unref()
    client.once('close', () => clearTimeout(timer))
    client.once('end', () => {
      if (scanning) this.refuse(client, 'it ended before its ClientHello was complete')
    })
    client.resume()
  }

  /**
   * Scans what the client sent so far; once the ClientHello is whole, refuses it or starts connecting to a target.
   * Returns whether to keep reading (false: the client is paused until its node connection is up).
   */
  private onHello(client: net.Socket, read: Buffer, connected: (upstream: net.Socket) => void): boolean {
    const scan = scanClientHello(read)
    if (scan.kind === 'more') return true
    if (scan.kind === 'invalid') return this.refuse(client, scan.reason)
    if (!scan.serverName) return this.refuse(client, 'no server name (SNI) in its ClientHello')
    const entry = this.lookup(scan.serverName)
    if (!entry) return this.refuse(client, `unknown server name ${scan.serverName}`)
    const ordered = orderHealthy(entry.route.targets, (t) => this.health.isHealthy(t), entry.counter++)
    if (!ordered) {
      this.log(
        `${this.label}: ${scan.serverName}: no healthy target for ${entry.route.service} (${formatTargets(entry.route.targets)}); closing the connection`,
      )
      client.destroy()
      return false
    }
    void this.connect(client, ordered, read, scan.serverName, entry.route.service, connected)
    return false
  }

  /** Closes a client whose first bytes are not a ClientHello for a known name; returns false (stop reading). */
  private refuse(client: net.Socket, why: string): false {
    if (!client.destroyed) this.log(`${this.label}: closing a connection from ${client.remoteAddress}: ${why}`)
    client.destroy()
    return false
  }

  private async connect(
    client: net.Socket,
    ordered: ProbedTarget[],
    hello: Buffer,
    name: string,
    service: string,
    connected: (upstream: net.Socket) => void,
  ): Promise<void> {
    const {socket, target, failures} = await connectFirst(ordered, {
      timeoutMs: this.connectTimeoutMs,
      cancelled: () => client.destroyed,
      onData: (chunk, done, from) => writeChunk(client, chunk, done, from),
      onFailure: ({target, error}) => {
        this.health.reportFailure(target)
        this.log(`${this.label}: ${name}: ${formatTarget(target)}: ${describeErrno(error)}`)
      },
    })
    if (!socket || !target) {
      if (!client.destroyed) {
        const tried = failures.map((f) => formatTarget(f.target)).join(', ')
        this.log(`${this.label}: ${name}: every target of ${service} failed (tried ${tried}); closing the connection`)
      }
      client.destroy()
      return
    }
    if (client.destroyed) {
      socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    socket.on('error', (error) => {
      if (this.verbose) this.log(`${this.label}: ${formatTarget(target)}: ${error.message}`)
    })
    socket.setNoDelay(true)
    client.setNoDelay(true)
    if (this.idleTimeoutMs > 0) {
      // Every byte either way passes the client socket, so its timeout is the connection's idle time.
      client.setTimeout(this.idleTimeoutMs, () => {
        client.destroy()
        socket.destroy()
      })
    }
    if (this.verbose) this.log(`${this.label}: ${client.remoteAddress} ${name} → ${service} ${formatTarget(target)}`)
    socket.write(hello)
    connected(socket)
    splice(client, socket) // resumes the client: its next reads go to the node
  }
}

// serve's --https-port: TLS connections routed by the server name in their ClientHello (SNI, RFC 6066 §3) and passed
// through byte for byte, never decrypted: the node (an ingress controller, an app) presents its own certificate. An
// unknown name, no name, or anything that is not a ClientHello is closed with a log line and forwarded nowhere.
// Target choice, retries on connect failure and failover are the TCP forwarder's (pick.ts, socket.ts).
import net from 'node:net'

import {hostPort} from '../net/address.js'
import {describeErrno} from '../net/errno.js'
import type {ProbedTarget, TlsRoute} from '../servemap/types.js'
import {noteAccept} from './accept-turns.js'
import {MAX_HELLO_BYTES, scanClientHello} from './client-hello.js'
import type {TargetHealth} from './health.js'
import {formatTarget, formatTargets, orderHealthy} from './pick.js'
import {RouteTable} from './route-table.js'
import {deadlineWheel, type Deadline} from './deadlines.js'
import {
  connectFirstRaw,
  type FirstBytesReader,
  peerOf,
  type RawConnecter,
  type RawConnectResult,
  RawRelay,
  type RawRelayOptions,
  readFirstBytes,
  type TcpHandle,
} from './raw-tcp.js'
import {
  adoptWithPooledReads,
  connectFirst,
  type ConnectFailure,
  relaySettings,
  type RelayOptions,
  type RelaySettings,
  splice,
  writeChunk,
} from './socket.js'
import {listenTcp, type ConnectionSink, type TcpListener} from './tcp-listener.js'

/** A client gets this long to send its ClientHello (as the router's headers timeout guards against slow heads). */
const HELLO_TIMEOUT_MS = 10_000
/** The hello deadlines of connections taken as TCP handles (deadlines.ts: no timer per connection). */
const helloWheel = deadlineWheel(HELLO_TIMEOUT_MS)

export interface SniRouterOptions extends RelayOptions {
  health: TargetHealth
}

/** What the bytes a client sent so far decide (SniRouter.route). */
type Routing =
  | {kind: 'more'}
  | {kind: 'refuse'; why: string}
  /** No healthy target: logged already, the client is closed. */
  | {kind: 'none'}
  | {kind: 'connect'; name: string; service: string; ordered: ProbedTarget[]}

/** Routes TLS connections by SNI to the targets of a Service's TLS port. */
export class SniRouter implements ConnectionSink {
  /** Server names to routes, wildcards included (the router's table: route-table.ts). */
  private readonly routes = new RouteTable<TlsRoute>()
  private readonly health: TargetHealth
  private readonly settings: RelaySettings
  private listener?: TcpListener
  private label = ''
  /** Connections accepted as net.Sockets, and those taken as TCP handles: the cap counts both, close() waits for both. */
  private readonly clients = new Set<net.Socket>()
  private readonly handles = new Set<HandleConnection>()
  /** The node sockets of `clients` (cut with them when a grace period ends). */
  private readonly nodes = new Set<net.Socket>()
  /** What connections taken as handles need of this router, made once listening (it holds the label). */
  private handleSide?: HandleListener
  /** Called when the last connection closes (close() waits for it). */
  private onEmpty?: () => void
  private closing?: Promise<void>

  constructor(options: SniRouterOptions) {
    this.health = options.health
    this.settings = relaySettings(options)
  }

  /** Replaces the table; open connections stay where they are. The first route naming a host keeps it. */
  setRoutes(routes: TlsRoute[]): void {
    this.routes.set(routes)
  }

  /** Binds `address:port`; rejects with the bind error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
  async listen(address: string, port: number): Promise<{address: string; port: number}> {
    // Connections come as TCP handles where the bindings allow (tcp-listener.ts), else as paused net.Sockets that
    // move to pooled reads before anything is read (see accept).
    const listener = await listenTcp({address, port, handles: this.settings.rawHandles, sink: this})
    this.listener = listener
    this.label = `https ${hostPort(address, listener.bound.port)}`
    this.handleSide = this.handleListener()
    if (this.settings.rawHandles) this.handleSide.noDelayPreset = listener.presetAccepted({})
    // close() came while binding: the socket is not kept.
    if (this.closing) void listener.close()
    return listener.bound
  }

  /** Stops accepting; open connections get `graceMs` (default: as long as they take), then are cut. */
  close(graceMs?: number): Promise<void> {
    // Once: a second call (a grace period at shutdown) waits for the same end.
    this.closing ??= (this.listener?.close() ?? Promise.resolve()).then(
      () =>
        new Promise<void>((resolve) => {
          if (this.isEmpty()) resolve()
          else this.onEmpty = resolve
        }),
    )
    if (graceMs !== undefined) {
      const timer = setTimeout(() => {
        for (const socket of [...this.clients, ...this.nodes]) socket.destroy()
        for (const connection of this.handles) connection.cut()
      }, graceMs).unref()
      void this.closing.then(() => clearTimeout(timer))
    }
    return this.closing
  }

  private isEmpty(): boolean {
    return this.clients.size === 0 && this.handles.size === 0
  }

  /** Resolves close() once the last connection is gone. */
  private emptied(): void {
    if (!this.onEmpty || !this.isEmpty()) return
    const onEmpty = this.onEmpty
    this.onEmpty = undefined
    onEmpty()
  }

  /** Whether the connection cap is reached: the new connection is then closed unread. */
  private full(): boolean {
    return this.handles.size + this.clients.size >= this.settings.maxConnections
  }

  /** What the connections taken as TCP handles need of this router (one object per listener). */
  private handleListener(): HandleListener {
    return {
      settings: this.settings,
      label: this.label,
      noDelayPreset: false,
      route: (read) => this.route(read),
      reportFailure: (name, failure) => this.reportFailure(name, failure),
      everyTargetFailed: (name, service, failures) => this.everyTargetFailed(name, service, failures),
      forget: (connection) => {
        this.handles.delete(connection)
        this.emptied()
      },
    }
  }

  /**
   * A connection taken as a TCP handle (ConnectionSink): its ClientHello is read on the handle, then the handle is
   * relayed to the node on handles (raw-tcp.ts). The same checks, logs and limits as accept() on net.Socket.
   */
  acceptHandle(handle: TcpHandle): void {
    noteAccept()
    if (this.full()) return handle.close()
    const connection = new HandleConnection(this.handleSide!, handle)
    this.handles.add(connection)
    connection.start()
  }

  /** An accept that failed (ConnectionSink): logged, the listener goes on. */
  acceptFailed(error: NodeJS.ErrnoException): void {
    this.settings.log(`${this.label}: ${error.message}`)
  }

  /** A connection taken as a net.Socket (ConnectionSink). */
  accept(accepted: net.Socket): void {
    noteAccept()
    if (this.full()) return void accepted.destroy()
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
    this.clients.add(client)
    client.once('close', () => {
      this.clients.delete(client)
      this.emptied()
    })
    client.on('error', (error) => {
      if (this.settings.verbose) this.settings.log(`${this.label}: client ${client.remoteAddress}: ${error.message}`)
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
    const routing = this.route(read)
    if (routing.kind === 'more') return true
    if (routing.kind === 'refuse') return this.refuse(client, routing.why)
    if (routing.kind === 'none') {
      client.destroy()
      return false
    }
    void this.connect(client, routing, read, connected)
    return false
  }

  /** Scans what a client sent so far: the route of its server name once the ClientHello is whole, or why not. */
  private route(read: Buffer): Routing {
    const scan = scanClientHello(read)
    if (scan.kind === 'more') return {kind: 'more'}
    if (scan.kind === 'invalid') return {kind: 'refuse', why: scan.reason}
    const name = scan.serverName
    if (!name) return {kind: 'refuse', why: 'no server name (SNI) in its ClientHello'}
    const entry = this.routes.lookup(name)
    if (!entry) return {kind: 'refuse', why: `unknown server name ${name}`}
    const {service, targets} = entry.route
    const ordered = orderHealthy(targets, (t) => this.health.isHealthy(t), entry.counter++)
    if (ordered) return {kind: 'connect', name, service, ordered}
    this.settings.log(
      `${this.label}: ${name}: no healthy target for ${service} (${formatTargets(targets)}); closing the connection`,
    )
    return {kind: 'none'}
  }

  /** Reports a target that could not be reached (health, log), before the next one is tried. */
  private reportFailure(name: string, {target, error}: ConnectFailure): void {
    this.health.reportFailure(target)
    this.settings.log(`${this.label}: ${name}: ${formatTarget(target)}: ${describeErrno(error)}`)
  }

  private everyTargetFailed(name: string, service: string, failures: ConnectFailure[]): void {
    const tried = failures.map((f) => formatTarget(f.target)).join(', ')
    this.settings.log(
      `${this.label}: ${name}: every target of ${service} failed (tried ${tried}); closing the connection`,
    )
  }

  /** Closes a client whose first bytes are not a ClientHello for a known name; returns false (stop reading). */
  private refuse(client: net.Socket, why: string): false {
    if (!client.destroyed) this.settings.log(`${this.label}: closing a connection from ${client.remoteAddress}: ${why}`)
    client.destroy()
    return false
  }

  private async connect(
    client: net.Socket,
    {name, service, ordered}: Extract<Routing, {kind: 'connect'}>,
    hello: Buffer,
    connected: (upstream: net.Socket) => void,
  ): Promise<void> {
    const {socket, target, failures} = await connectFirst(ordered, {
      timeoutMs: this.settings.connectTimeoutMs,
      cancelled: () => client.destroyed,
      onData: (chunk, done, from) => writeChunk(client, chunk, done, from),
      onFailure: (failure) => this.reportFailure(name, failure),
    })
    if (!socket || !target) {
      if (!client.destroyed) this.everyTargetFailed(name, service, failures)
      client.destroy()
      return
    }
    if (client.destroyed) {
      socket.destroy()
      return
    }
    this.nodes.add(socket)
    socket.once('close', () => this.nodes.delete(socket))
    socket.on('error', (error) => {
      if (this.settings.verbose) this.settings.log(`${this.label}: ${formatTarget(target)}: ${error.message}`)
    })
    socket.setNoDelay(true)
    client.setNoDelay(true)
    if (this.settings.idleTimeoutMs > 0) {
      // Every byte either way passes the client socket, so its timeout is the connection's idle time.
      client.setTimeout(this.settings.idleTimeoutMs, () => {
        client.destroy()
        socket.destroy()
      })
    }
    if (this.settings.verbose)
      this.settings.log(`${this.label}: ${client.remoteAddress} ${name} → ${service} ${formatTarget(target)}`)
    socket.write(hello)
    connected(socket)
    splice(client, socket) // resumes the client: its next reads go to the node
  }
}

/** What a connection taken as a TCP handle needs of its listener (SniRouter.handleListener). */
interface HandleListener {
  readonly settings: RelaySettings
  readonly label: string
  /** Accepted handles have TCP_NODELAY from the listening socket (TcpListener.presetAccepted). */
  noDelayPreset: boolean
  route(read: Buffer): Routing
  reportFailure(name: string, failure: ConnectFailure): void
  everyTargetFailed(name: string, service: string, failures: ConnectFailure[]): void
  /** The connection's handles are closed. */
  forget(connection: HandleConnection): void
}

/** At most this many bytes after the ClientHello are kept while the node's connect is under way; then reading waits. */
const MAX_EARLY_BYTES = MAX_HELLO_BYTES

const EMPTY = Buffer.alloc(0)

/**
 * A connection the SNI listener took as a TCP handle, from its first byte to the end of its relay. It is one object
 * whose methods are the callbacks of every phase (the hello reads, the hello deadline, the connect to a node, the
 * relay's end) instead of a dozen closures per connection. The client's handle reads from the ClientHello on,
 * through the connect to the node, until the relay takes it over: bytes that come meanwhile (TLS early data, say)
 * are kept and sent after the hello, a FIN is seen again by the relay (a socket at its end stays readable), and the
 * handle is not stopped and started again (an ADD refused with EEXIST and a MOD, two epoll_ctl calls per connection).
 */
class HandleConnection implements Deadline, FirstBytesReader, RawConnecter, RawRelayOptions {
  /** The hello deadline (Deadline). */
  dueMs: number
  /** The connect timeout per target (RawConnecter). */
  readonly timeoutMs: number
  /** The relay's (RawRelayOptions). */
  readonly idleTimeoutMs: number
  readonly clientOptionsSet: boolean
  /** Everything read: the ClientHello, then what came after it before the relay started (sent to the node first). */
  first: Buffer = EMPTY
  private phase: 'hello' | 'connecting' | 'relayed' | 'closed' = 'hello'
  private name = ''
  private service = ''
  private relay?: RawRelay
  /** The client's address once relayed, for verbose logs. */
  private client?: string

  constructor(
    private readonly listener: HandleListener,
    private readonly handle: TcpHandle,
  ) {
    this.dueMs = Date.now() + HELLO_TIMEOUT_MS
    this.timeoutMs = listener.settings.connectTimeoutMs
    this.idleTimeoutMs = listener.settings.idleTimeoutMs
    this.clientOptionsSet = listener.noDelayPreset
  }

  start(): void {
    helloWheel.add(this)
    readFirstBytes(this.handle, this)
  }

  /** Closes the connection, whatever phase it is in (a grace period at close ran out). */
  cut(): void {
    if (this.relay) this.relay.cut()
    else this.close()
  }

  /** The hello deadline passed. */
  onDue(): undefined {
    this.refuse('no ClientHello within 10 s')
    return undefined
  }

  onFirstBytes(bytes: Buffer | undefined): void {
    if (this.phase === 'connecting') {
      // A FIN is left for the relay to read again.
      if (!bytes) return
      this.first = Buffer.concat([this.first, bytes])
      if (this.first.length > MAX_EARLY_BYTES) this.handle.readStop() // the relay starts reading again
      return
    }
    if (this.phase !== 'hello') return
    if (!bytes) return this.refuse('it ended before its ClientHello was complete')
    this.first = this.first.length === 0 ? bytes : Buffer.concat([this.first, bytes])
    const routing = this.listener.route(this.first)
    if (routing.kind === 'more') return
    helloWheel.remove(this)
    if (routing.kind === 'refuse') return this.refuse(routing.why)
    if (routing.kind === 'none') return this.close()
    this.phase = 'connecting'
    this.name = routing.name
    this.service = routing.service
    connectFirstRaw(routing.ordered, this)
  }

  onFirstReadError(error: Error): void {
    const {settings, label} = this.listener
    if (settings.verbose && this.phase !== 'closed') settings.log(`${label}: client ${this.peer()}: ${error.message}`)
    this.close()
  }

  onFailure(failure: ConnectFailure): void {
    this.listener.reportFailure(this.name, failure)
  }

  cancelled(): boolean {
    return this.phase === 'closed'
  }

  connected({handle: node, target, failures}: RawConnectResult): void {
    if (!node || !target || this.phase !== 'connecting') {
      node?.close()
      if (this.phase === 'connecting') this.listener.everyTargetFailed(this.name, this.service, failures)
      return this.close()
    }
    this.phase = 'relayed'
    const {settings, label} = this.listener
    if (settings.verbose) this.client = this.peer()
    this.relay = new RawRelay(this.handle, node, this)
    this.first = EMPTY
    if (settings.verbose)
      settings.log(`${label}: ${this.client} ${this.name} → ${this.service} ${formatTarget(target)}`)
  }

  /** The relay closed both ends (RawRelayOptions). */
  onClose(error?: Error): void {
    const {settings, label} = this.listener
    if (error && settings.verbose) settings.log(`${label}: ${this.client} ${this.name}: ${error.message}`)
    this.listener.forget(this)
  }

  /** The client's address, asked of the kernel only for a log line. */
  private peer(): string | undefined {
    return peerOf(this.handle).address
  }

  private refuse(why: string): void {
    const {settings, label} = this.listener
    if (this.phase !== 'closed') settings.log(`${label}: closing a connection from ${this.peer()}: ${why}`)
    this.close()
  }

  /** Closes the client before any relay exists, once (libuv closes its socket within the call: raw-tcp.ts Side). */
  private close(): void {
    if (this.phase === 'closed' || this.phase === 'relayed') return
    this.phase = 'closed'
    helloWheel.remove(this)
    this.handle.close()
    this.listener.forget(this)
  }
}

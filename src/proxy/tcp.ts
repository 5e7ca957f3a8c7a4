// A TCP listener on one (address, port) whose connections are spliced to node targets. The upstream connection is
// made before a byte is read from the client, so a dead node is skipped without the client noticing.
import net from 'node:net'

import {hostPort} from '../net/address.js'
import {describeErrno} from '../net/errno.js'
import type {ProbedTarget} from '../servemap/types.js'
import {noteAccept} from './accept-turns.js'
import type {TargetHealth} from './health.js'
import {checkRequestHost, isAllowedHost, type AllowedHosts, type HostVerdict} from './host-check.js'
import type {HostSplicer} from './host-splice.js'
import {formatTarget, formatTargets, orderHealthy} from './pick.js'
import {
  connectFirstRaw,
  peerOf,
  type RawConnecter,
  type RawConnectResult,
  RawRelay,
  type RawRelayOptions,
  socketFromHandle,
  type TcpHandle,
} from './raw-tcp.js'
import {replyRaw} from './reply.js'
import {
  adoptWithPooledReads,
  connectFirst,
  type ConnectFailure,
  relaySettings,
  type RelayOptions,
  type RelaySettings,
  pipeOneWay,
  splice,
  writeChunk,
} from './socket.js'
import {listenTcp, type ConnectionSink, type TcpListener} from './tcp-listener.js'
import {handOffToGateway} from './tunnels.js'

const TCP_KEEPALIVE_DELAY_MS = 60_000 // notices vanished peers on long-idle spliced connections

/** Whether a target list has an API-server gateway (handOff takes such clients as sockets). */
function hasGateway(targets: ProbedTarget[]): boolean {
  return targets.some((target) => target.via === 'api-server')
}

/** `address:port` of a client, as net.Socket's remoteAddress and remotePort give them. */
function formatPeer(peer: {address?: string; port?: number}): string {
  return `${peer.address}:${peer.port}`
}

export interface TcpForwarderOptions extends RelayOptions {
  address: string
  port: number
  targets: ProbedTarget[]
  health: TargetHealth
  /** `namespace/name`, for logs. */
  service?: string
}

interface Connection {
  /** Undefined for a relay on TCP handles. */
  client?: net.Socket
  upstream?: net.Socket
  /** The node has sent the client something (a server that speaks first). */
  answered?: boolean
  /** A relay on TCP handles, once its node connection is up. */
  raw?: RawRelay
  /** Cut before its node connection was up (close's grace period ran out). */
  cut?: boolean
}
type SocketConnection = Connection & {client: net.Socket}

const NOTHING = Buffer.alloc(0)
const PASS: HostVerdict = {pass: true}
/** Longer Host values are cut in the 421 text: the answer stays small. */
const MAX_HOST_SHOWN = 100

/** Forwards TCP connections accepted on one (address, port) to the targets, trying them in `orderTargets` order. */
export class TcpForwarder implements ConnectionSink {
  readonly address: string
  readonly port: number
  service: string
  /**
   * Set for a port that speaks HTTP (listeners.ts: `transparent`), so that node connections can outlive clients:
   * new clients go to it first, and it hands back, with the bytes it read, every client it does not splice itself.
   */
  splicer?: HostSplicer
  /**
   * Makes `splicer` on the first connection instead (listeners.ts): a HostSplicer with its node pool is about 700
   * bytes of heap, and serve at scale has thousands of HTTP listeners that may never see a client.
   */
  makeSplicer?: () => HostSplicer
  /**
   * A port in http mode (listeners.ts): the Host values its requests may carry, lowercase without port (host-check.ts,
   * the DNS rebinding guard); others are answered 421. Undefined: any.
   */
  allowedHosts?: AllowedHosts
  private targets: ProbedTarget[]
  /** Some target is an API-server gateway of this process (handOff), known per target list, not per connection. */
  private viaGateway: boolean
  private readonly health: TargetHealth
  private readonly settings: RelaySettings
  private refusedLogged = false
  private listener?: TcpListener
  /** Made with the first connection not left to the splicer (most listeners at scale never see one). */
  private connections?: Set<Connection>
  /**
   * Clients accepted as sockets that have not closed yet (those the splicer keeps are in no `connections`): close()
   * waits for them too.
   */
  private acceptedSockets = 0
  /** Called when the last connection closes (close() waits for it). */
  private onEmpty?: () => void
  private counter = 0
  private closing?: Promise<void>
  /** Accepted handles have TCP_NODELAY and keep-alive from the listening socket (TcpListener.presetAccepted). */
  private optionsPreset = false
  /** Made with the first relay on handles (makeHandleContext). */
  private handleContext?: HandleContext

  constructor(options: TcpForwarderOptions) {
    this.address = options.address
    this.port = options.port
    this.service = options.service ?? hostPort(options.address, options.port)
    this.targets = options.targets
    this.viaGateway = hasGateway(options.targets)
    this.health = options.health
    this.settings = relaySettings(options)
  }

  /** Binds the listener; rejects with the bind error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
  async listen(): Promise<{address: string; port: number}> {
    // A port that reads HTTP (the splicer) takes connections as sockets; the others as TCP handles, where it can.
    // Either way nothing is read from the client until a node connection exists, so a failed attempt loses no bytes
    // and the next target sees the stream from its first byte.
    const onHandles = this.settings.rawHandles && !this.splicer && !this.makeSplicer
    const listener = await listenTcp({address: this.address, port: this.port, handles: onHandles, sink: this})
    this.listener = listener
    if (onHandles) this.optionsPreset = listener.presetAccepted({keepAliveMs: TCP_KEEPALIVE_DELAY_MS})
    // close() came while binding: the socket is not kept.
    if (this.closing) void listener.close()
    return listener.bound
  }

  /** The bound address (useful with port 0), once listening. */
  boundAddress(): {address: string; port: number} | undefined {
    return this.listener?.bound
  }

  /** New connections go to `targets`; open ones stay where they are. */
  setTargets(targets: ProbedTarget[]): void {
    this.targets = targets
    this.viaGateway = hasGateway(targets)
  }

  /** Open client connections, including those still connecting upstream. */
  get connectionCount(): number {
    return (this.connections?.size ?? 0) + (this.splicer?.openConnections ?? 0)
  }

  /** Whether a request with this Host value may go to the node (allowedHosts). */
  allowsHost(host: string): boolean {
    return this.allowedHosts === undefined || isAllowedHost(host, this.allowedHosts)
  }

  /** The targets in the order to try them for a new connection, or undefined when none is healthy. */
  pick(): ProbedTarget[] | undefined {
    return orderHealthy(this.targets, (target) => this.health.isHealthy(target), this.counter++)
  }

  /** pick(), with a log line when no target is healthy (the client is then closed). */
  private pickOrLog(): ProbedTarget[] | undefined {
    const ordered = this.pick()
    if (!ordered) {
      this.settings.log(
        `tcp ${this.label()}: no healthy target (${formatTargets(this.targets)}); closing the connection`,
      )
    }
    return ordered
  }

  /** Reports a target that could not be reached (health, log), before the next one is tried. */
  private readonly onFailure = ({target, error}: ConnectFailure): void => {
    this.health.reportFailure(target)
    this.settings.log(`tcp ${this.label()}: ${formatTarget(target)}: ${describeErrno(error)}`)
  }

  private everyTargetFailed(failures: ConnectFailure[]): void {
    const tried = failures.map((f) => formatTarget(f.target)).join(', ')
    this.settings.log(`tcp ${this.label()}: every target failed (tried ${tried}); closing the connection`)
  }

  /**
   * Stops accepting; resolves once every open connection has ended. With `graceMs`, connections still open after
   * that long are destroyed. Calling it again (e.g. with a grace period at shutdown) applies the new grace period.
   */
  close(graceMs?: number): Promise<void> {
    this.closing ??= (this.listener?.close() ?? Promise.resolve()).then(
      () =>
        new Promise<void>((resolve) => {
          if (this.isEmpty()) resolve()
          else this.onEmpty = resolve
        }),
    )
    this.splicer?.closeIdle()
    if (graceMs !== undefined) {
      const timer = setTimeout(() => this.destroyAll(), graceMs).unref()
      void this.closing.then(() => clearTimeout(timer))
    }
    return this.closing
  }

  private destroyAll(): void {
    this.splicer?.cutAll()
    for (const connection of this.connections ?? []) {
      connection.cut = true
      if (connection.raw) {
        connection.raw.cut()
        continue
      }
      connection.upstream?.destroy()
      connection.client?.destroy()
    }
  }

  /** A connection accepted as a net.Socket (ConnectionSink). */
  accept(accepted: net.Socket): void {
    noteAccept()
    if (this.refuseOverCap()) return void accepted.destroy()
    this.acceptedSockets++
    accepted.once('close', () => {
      this.acceptedSockets--
      this.emptied()
    })
    const splicer = (this.splicer ??= this.makeSplicer?.())
    if (splicer) {
      splicer.accept(accepted, (socket, pending) => this.relay(socket, pending, false))
      accepted.resume() // accepted paused (pauseOnConnect); the splicer reads the first request head
      return
    }
    this.relay(accepted, NOTHING, true)
  }

  /** A connection accepted as a TCP handle (ConnectionSink; handles in listen): relayed on handles where it can be. */
  acceptHandle(handle: TcpHandle): void {
    noteAccept()
    if (this.refuseOverCap()) return handle.close()
    // The Host check reads HTTP, and an API-server gateway of this process takes a socket (handOff): net.Socket.
    if (this.allowedHosts || this.viaGateway) {
      return this.relay(socketFromHandle(handle), NOTHING, true)
    }
    this.relayOnHandles(handle)
  }

  /** An accept that failed (ConnectionSink): logged, the listener goes on. */
  acceptFailed(error: NodeJS.ErrnoException): void {
    this.settings.log(`tcp ${this.label()}: ${error.message}`)
  }

  /** Whether the connection cap is reached (logged once until a connection is taken again). */
  private refuseOverCap(): boolean {
    if (this.connectionCount < this.settings.maxConnections) {
      this.refusedLogged = false
      return false
    }
    // Refuse the client, not the process: the cap bounds memory and descriptors per listener.
    if (!this.refusedLogged)
      this.settings.log(
        `tcp ${this.label()}: ${this.settings.maxConnections} connections open; refusing new ones until some close`,
      )
    this.refusedLogged = true
    return true
  }

  private track(connection: Connection): void {
    const connections = (this.connections ??= new Set())
    connections.add(connection)
  }

  private forget(connection: Connection): void {
    this.connections?.delete(connection)
    this.emptied()
  }

  private isEmpty(): boolean {
    return (this.connections?.size ?? 0) === 0 && this.acceptedSockets === 0
  }

  /** Resolves close() once the last connection is gone. */
  private emptied(): void {
    if (!this.onEmpty || !this.isEmpty()) return
    const onEmpty = this.onEmpty
    this.onEmpty = undefined
    onEmpty()
  }

  /**
   * Splices `accepted` to a node; `pending` is what was read from it already, sent to the node first. Only a
   * `fresh` socket (never read) moves to pooled reads: one that was read may hold read bytes in its stream buffer.
   */
  private relay(accepted: net.Socket, pending: Buffer, fresh: boolean): void {
    // The splicer hands over what it does not splice itself: another protocol, a head that is not plain, a Host it
    // refused, a client that said nothing yet. Its first request is checked here, before a byte reaches the node.
    const verdict = this.allowedHosts ? checkRequestHost(pending, this.allowedHosts) : PASS
    if ('refuse' in verdict) return this.refuse(accepted, verdict)
    if (fresh && verdict === PASS && this.handOff(accepted)) return
    const activity = {lastMs: Date.now()}
    const connection: SocketConnection = {client: accepted}
    // The client's bytes go to the node through the same pooled reads as the node's to the client (see writeChunk).
    // Nothing is read before splice() starts both directions, and the upstream socket exists by then.
    const adopted =
      fresh &&
      adoptWithPooledReads(accepted, (chunk, done, from) => {
        activity.lastMs = Date.now()
        return writeChunk(connection.upstream!, chunk, done, from)
      })
    const client = adopted || accepted
    connection.client = client
    this.track(connection)
    client.on('error', (error) => {
      if (this.settings.verbose)
        this.settings.log(`tcp ${this.label()}: client ${client.remoteAddress}: ${error.message}`)
    })
    client.once('close', () => this.forget(connection))
    const ordered = this.pickOrLog()
    if (!ordered) {
      client.destroy()
      return
    }
    void this.connectUpstream(connection, ordered, activity, pending, 'wait' in verdict)
  }

  private async connectUpstream(
    connection: SocketConnection,
    ordered: ProbedTarget[],
    activity: {lastMs: number},
    pending: Buffer,
    screening: boolean,
  ): Promise<void> {
    const {client} = connection
    const {socket, target, failures} = await connectFirst(ordered, {
      timeoutMs: this.settings.connectTimeoutMs,
      cancelled: () => client.destroyed,
      onData: (chunk, done, from) => {
        activity.lastMs = Date.now()
        connection.answered = true
        return writeChunk(client, chunk, done, from)
      },
      onFailure: this.onFailure,
    })
    if (!socket || !target) {
      if (!client.destroyed) this.everyTargetFailed(failures)
      client.destroy()
      return
    }
    if (client.destroyed) {
      socket.destroy()
      return
    }
    connection.upstream = socket
    socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS)
    client.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS)
    // A relay must not add Nagle's delay to small request/response exchanges: each side already decided when to send.
    socket.setNoDelay(true)
    client.setNoDelay(true)
    if (this.settings.idleTimeoutMs > 0) this.closeWhenIdle(client, socket, activity)
    socket.on('error', (error) => {
      if (this.settings.verbose) this.settings.log(`tcp ${this.label()}: ${formatTarget(target)}: ${error.message}`)
    })
    if (this.settings.verbose)
      this.settings.log(`tcp ${this.label()}: ${client.remoteAddress}:${client.remotePort} → ${formatTarget(target)}`)
    if (screening) return this.screen(connection, socket, pending)
    if (pending.length > 0) socket.write(pending)
    splice(client, socket)
  }

  /**
   * Gives a client whose first choice is an API-server gateway of this process to that gateway (tunnels.ts
   * handOffToGateway), which carries it over pods/portforward without a loopback hop in between. Only a client not
   * read yet, on a port without the Host check; it still counts here (connection cap, close) and is closed when idle.
   */
  private handOff(client: net.Socket): boolean {
    // The order pick() would give (without moving the round-robin on unless the client is handed over).
    const first = orderHealthy(this.targets, (target) => this.health.isHealthy(target), this.counter)?.[0]
    if (first?.via !== 'api-server' || !handOffToGateway(first.address, first.port, client)) return false
    this.counter++
    const connection: Connection = {client}
    this.track(connection)
    client.once('close', () => this.forget(connection))
    client.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS)
    client.setNoDelay(true)
    if (this.settings.idleTimeoutMs > 0) this.closeWhenNoBytes(client)
    if (this.settings.verbose)
      this.settings.log(`tcp ${this.label()}: ${client.remoteAddress}:${client.remotePort} → ${formatTarget(first)}`)
    return true
  }

  /**
   * Splices a client accepted as a TCP handle to a node on handles (raw-tcp.ts), as relay() does on net.Socket:
   * the same target order, retries, logs, idle timeout and keep-alive.
   */
  private relayOnHandles(handle: TcpHandle): void {
    const connection = new HandleRelay((this.handleContext ??= this.makeHandleContext()), handle)
    this.track(connection)
    const ordered = this.pickOrLog()
    if (!ordered) return connection.drop()
    connectFirstRaw(ordered, connection)
  }

  /** What the relays on handles need of this forwarder: made with the first (most listeners at scale never see one). */
  private makeHandleContext(): HandleContext {
    return {
      settings: this.settings,
      optionsPreset: this.optionsPreset,
      label: () => this.label(),
      onFailure: this.onFailure,
      everyTargetFailed: (failures) => this.everyTargetFailed(failures),
      forget: (connection) => this.forget(connection),
    }
  }

  /** Closes a client that neither sent nor received a byte for a whole idleTimeoutMs (its socket's counters). */
  private closeWhenNoBytes(client: net.Socket): void {
    let seen = -1
    const timer = setInterval(() => {
      const now = client.bytesRead + client.bytesWritten
      if (now !== seen) return void (seen = now)
      if (this.settings.verbose)
        this.settings.log(
          `tcp ${this.label()}: ${client.remoteAddress}: idle for ${this.settings.idleTimeoutMs / 1000} s; closing`,
        )
      client.destroy()
    }, this.settings.idleTimeoutMs).unref()
    client.once('close', () => clearInterval(timer))
  }

  /**
   * Splices the node's side at once (a server that speaks first is heard) and holds the client's bytes until its
   * first request shows an allowed Host (checkRequestHost); then splices the client's side too, or refuses it.
   */
  private screen(connection: SocketConnection, upstream: net.Socket, first: Buffer): void {
    const {client} = connection
    const allowed = this.allowedHosts!
    let held = first
    const decide = (ended: boolean): void => {
      const verdict = checkRequestHost(held, allowed)
      if ('wait' in verdict && !ended) return
      client.off('data', onData)
      client.off('end', onEnd)
      client.off('close', onClose)
      if ('refuse' in verdict && !connection.answered) {
        this.refuse(client, verdict)
        client.once('close', () => upstream.destroy())
        return
      }
      // Refused after the node spoke (no HTTP answer fits in there), or a head cut short by the client's FIN.
      if ('refuse' in verdict || ('wait' in verdict && held.length > 0)) {
        client.destroy()
        upstream.destroy()
        return
      }
      // Allowed, or not HTTP, or a client that ended without a word (its FIN goes on).
      if (held.length > 0) upstream.write(held)
      pipeOneWay(client, upstream)
    }
    const onData = (chunk: Buffer): void => {
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk])
      decide(false)
    }
    const onEnd = (): void => decide(true)
    const onClose = (): void => void upstream.destroy()
    pipeOneWay(upstream, client)
    client.on('data', onData)
    client.once('end', onEnd)
    client.once('close', onClose)
    // A client handed over after its FIN (the splicer keeps half-closed clients) will send no 'end' again.
    if (client.readableEnded) decide(true)
    else client.resume()
  }

  /** Answers a request for another host (421) or one whose head is too large to check (431), and closes. */
  private refuse(client: net.Socket, verdict: Extract<HostVerdict, {refuse: number}>): void {
    const shown = verdict.host.length > MAX_HOST_SHOWN ? `${verdict.host.slice(0, MAX_HOST_SHOWN)}…` : verdict.host
    const body =
      verdict.refuse === 421
        ? `misdirected request: "${shown}" is not a name of ${this.service} (serve --no-host-check allows any)\n`
        : `request head too large: its Host cannot be checked (serve --no-host-check allows any)\n`
    if (this.settings.verbose)
      this.settings.log(`tcp ${this.label()}: client ${client.remoteAddress}: ${verdict.refuse} ${body.trim()}`)
    replyRaw(client, verdict.refuse, body, {'x-content-type-options': 'nosniff'})
  }

  /** Closes both ends once neither has sent a byte for idleTimeoutMs; one timer per connection, re-armed lazily. */
  private closeWhenIdle(client: net.Socket, upstream: net.Socket, activity: {lastMs: number}): void {
    // The onData handlers touch `activity`; a client that could not be adopted (adoptWithPooledReads) emits 'data'.
    client.on('data', () => void (activity.lastMs = Date.now()))
    const check = (): void => {
      const idleMs = Date.now() - activity.lastMs
      if (idleMs < this.settings.idleTimeoutMs) {
        timer = setTimeout(check, this.settings.idleTimeoutMs - idleMs).unref()
        return
      }
      if (this.settings.verbose)
        this.settings.log(
          `tcp ${this.label()}: ${client.remoteAddress}: idle for ${this.settings.idleTimeoutMs / 1000} s; closing`,
        )
      client.destroy()
      upstream.destroy()
    }
    let timer = setTimeout(check, this.settings.idleTimeoutMs).unref()
    client.once('close', () => clearTimeout(timer))
  }

  private label(): string {
    return `${hostPort(this.address, this.port)} (${this.service})`
  }
}

/** What a relay on TCP handles needs of its forwarder (TcpForwarder.makeHandleContext). */
interface HandleContext {
  readonly settings: RelaySettings
  /** Accepted handles have TCP_NODELAY and keep-alive from the listening socket (TcpListener.presetAccepted). */
  readonly optionsPreset: boolean
  label(): string
  onFailure(failure: ConnectFailure): void
  everyTargetFailed(failures: ConnectFailure[]): void
  forget(connection: Connection): void
}

/**
 * A client accepted as a TCP handle, from its connect to a node to the end of its relay: one object whose methods are
 * the callbacks of the connect and of the relay (raw-tcp.ts), instead of a closure for each per connection.
 */
class HandleRelay implements Connection, RawConnecter, RawRelayOptions {
  raw?: RawRelay
  cut?: boolean
  /** The connect timeout per target (RawConnecter). */
  readonly timeoutMs: number
  /** The relay's (RawRelayOptions). */
  readonly idleTimeoutMs: number
  readonly keepAliveMs = TCP_KEEPALIVE_DELAY_MS
  readonly clientOptionsSet: boolean
  /** The client's address, for verbose logs (asked of the kernel only then). */
  private readonly from: string

  constructor(
    private readonly context: HandleContext,
    private readonly handle: TcpHandle,
  ) {
    this.timeoutMs = context.settings.connectTimeoutMs
    this.idleTimeoutMs = context.settings.idleTimeoutMs
    this.clientOptionsSet = context.optionsPreset
    this.from = context.settings.verbose ? formatPeer(peerOf(handle)) : ''
  }

  /** Closes the client before any relay exists (libuv closes its socket within the call). */
  drop(): void {
    this.handle.close()
    this.context.forget(this)
  }

  cancelled(): boolean {
    return this.cut === true
  }

  onFailure(failure: ConnectFailure): void {
    this.context.onFailure(failure)
  }

  connected({handle: node, target, failures}: RawConnectResult): void {
    if (!node || !target || this.cut) {
      node?.close()
      if (!this.cut) this.context.everyTargetFailed(failures)
      return this.drop()
    }
    this.raw = new RawRelay(this.handle, node, this)
    const {settings, label} = this.context
    if (settings.verbose) settings.log(`tcp ${label()}: ${this.from} → ${formatTarget(target)}`)
  }

  onIdle(): void {
    const {settings, label} = this.context
    if (settings.verbose)
      settings.log(`tcp ${label()}: ${this.from}: idle for ${settings.idleTimeoutMs / 1000} s; closing`)
  }

  onClose(error?: Error): void {
    const {settings, label} = this.context
    if (error && settings.verbose) settings.log(`tcp ${label()}: ${this.from}: ${error.message}`)
    this.context.forget(this)
  }
}

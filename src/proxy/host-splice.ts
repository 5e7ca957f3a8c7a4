// The router's fast path. A keep-alive client whose requests are plain HTTP/1.1 (http-head.ts) is routed by the
// Host of its first request and spliced to one node connection, as a per-service address is: no request or
// response objects, no header maps, one write per request head. Each later request head on the connection is
// read too (bodies are skipped by Content-Length), so a request for another Service, or one that is not plain, is
// never sent to this node: once the node's responses are all through (ResponseTracker follows their framing), the
// connection moves to the http-proxy-3 path, between two exchanges.
//
// Node connections outlive their clients: one a client leaves between exchanges (or with a short response still
// coming) is kept for the next client routed to that node (node-pool.ts), as warm as it was.
//
// That path (http.ts) keeps everything else: unknown names and the dashboard, 503/502 pages, WebSockets, chunked
// uploads, Expect, absolute-form targets, smuggling refusals, and clients that send `Connection: close`, which gain
// more from its pooled node connections than from a splice of their own.
import type net from 'node:net'

import {describeErrno} from '../net/errno.js'
import type {ProbedTarget} from '../servemap/types.js'
import {deadlineWheel, type Deadline, type DeadlineWheel} from './deadlines.js'
import {readDirect, writeDirect, type DirectReader} from './direct-io.js'
import type {TargetHealth} from './health.js'
import {
  appendForwarded,
  forwardedHead,
  forwardedSuffix,
  hasForwardedFields,
  IDEMPOTENT_METHODS,
  ResponseTracker,
  scanRequestHead,
  type RequestHead,
  type ScanOptions,
} from './http-head.js'
import {NodePool, type NodeLink} from './node-pool.js'
import {formatTarget} from './pick.js'
import {replyRaw} from './reply.js'
import {connectFirst, DEFAULT_IDLE_TIMEOUT_MS, writeChunk, type NodeDataHandler} from './socket.js'

/** How long a node gets to finish its responses after we stop sending to it (moving a connection to the slow path). */
const DRAIN_LIMIT_MS = 30_000

/** Where a request goes: the Service (for logs and to tell routes apart) and its targets in the order to try. */
export interface SplicePick {
  service: string
  ordered: ProbedTarget[]
}

export interface HostSplicerOptions {
  /** The route for a Host value with a healthy target, or undefined: the slow path then answers. */
  pick: (host: string) => SplicePick | undefined
  /** The Service a Host value routes to now (no target choice), to notice a request for another one. */
  serviceOf: (host: string) => string | undefined
  health: TargetHealth
  connectTimeoutMs: number
  /** A client gets this long to send its first request head; then it is answered 408, or handed off (below). */
  headersTimeoutMs: number
  /**
   * A per-service address (tcp.ts): heads go to the node byte for byte (no X-Forwarded-* fields), and a client
   * that sends no head within headersTimeoutMs is handed off (to a TCP splice: a protocol whose server speaks
   * first) instead of answered 408.
   */
  transparent?: boolean
  /** A client with no bytes either way for this long is cut (0: never); DEFAULT_IDLE_TIMEOUT_MS by default. */
  idleTimeoutMs?: number
  log: (line: string) => void
  verbose: boolean
}

/** Hands a client socket, and the bytes already read from it, to the slow path. */
export type HandOff = (socket: net.Socket, pending: Buffer) => void

const EMPTY = Buffer.alloc(0)
/** scanRequestHead's options on a per-service address and on the router (one object each, not one per request). */
const HTTP10_TOO: ScanOptions = {http10: true}
const HTTP11_ONLY: ScanOptions = {}

/** Accepts client connections for one or more listening sockets and splices the plain ones. */
export class HostSplicer {
  private readonly open = new Set<SplicedConnection>()
  private readonly pool = new NodePool()

  constructor(private readonly options: HostSplicerOptions) {}

  /** Node connections kept for the next client. */
  get keptNodeConnections(): number {
    return this.pool.size
  }

  /** Client connections on the fast path now. */
  get openConnections(): number {
    return this.open.size
  }

  accept(client: net.Socket, handOff: HandOff): void {
    const connection = new SplicedConnection(client, this.options, handOff, this.pool)
    this.open.add(connection)
    connection.onDone = () => this.open.delete(connection)
  }

  /** Ends the connections that are between two exchanges now, and the others as soon as they are (shutdown). */
  closeIdle(): void {
    this.pool.close()
    for (const connection of this.open) connection.endWhenIdle()
  }

  /** Cuts every spliced connection (the end of a shutdown grace period). */
  cutAll(): void {
    this.pool.close()
    for (const connection of this.open) connection.cut()
  }
}

type Phase = 'head' | 'connecting' | 'open' | 'draining' | 'gone'

class SplicedConnection implements Deadline {
  onDone = (): void => {}
  /** The idle deadline (on a shared wheel, deadlines.ts): Date.now() when it is next checked. */
  dueMs = 0
  /** Date.now() of the last byte from the client or to it. */
  private lastActiveMs = Date.now()
  private readonly idle?: DeadlineWheel
  /** The client's reads, taken from its stream (direct-io.ts); undefined where they cannot be (then 'data'). */
  private readonly reader?: DirectReader
  /** Writes to the node that wait in libuv's queue (writeDirect): the client reads again once they are through. */
  private upstreamQueued = 0
  /** Called when a queued write to the current node connection is through (made per connection, in attach). */
  private onUpstreamDrained = (): void => {}
  private phase: Phase = 'head'
  /** Client bytes read but not forwarded yet. */
  private pending: Buffer = EMPTY
  /** The memory the reader reads into (DirectReader): bytes in it change with the next read; see kept(). */
  private readArea?: ArrayBufferLike
  /** Body bytes of the current request still to forward. */
  private bodyLeft = 0
  private service = ''
  private upstream?: net.Socket
  private link?: NodeLink
  private target?: ProbedTarget
  /** The route's targets in the order to try them, and those after the current one, for a retry. */
  private ordered: ProbedTarget[] = []
  private untried: ProbedTarget[] = []
  /** The node connection was kept from another client (the node may have closed it as it was taken). */
  private reused = false
  /** Everything sent to the node before its first response byte, while resending it is safe (RFC 9110 §9.2.2). */
  private replay: Buffer[] | undefined = []
  private clientEnded = false
  /** A request that ends the connection was forwarded: the node closes it after answering, so it is not kept. */
  private lastExchange = false
  /** Shutting down: end the connection once no exchange is under way. */
  private ending = false
  private readonly responses = new ResponseTracker()
  private timer?: NodeJS.Timeout
  /** The X-Forwarded-* lines for the last Host value on this connection (forwardedSuffix). */
  private suffix?: {host: string; bytes: Buffer}

  constructor(
    private readonly client: net.Socket,
    private readonly options: HostSplicerOptions,
    private readonly handOff: HandOff,
    private readonly pool: NodePool,
  ) {
    client.setNoDelay(true)
    this.reader = readDirect(client, this.onData)
    if (!this.reader) client.on('data', this.onData)
    client.on('end', this.onClientEnd)
    client.on('error', this.onClientError)
    client.on('close', this.onClientClose)
    // An idle deadline on a shared wheel instead of client.setTimeout: direct reads and writes do not refresh that.
    const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    if (idleMs > 0) {
      this.idle = deadlineWheel(idleMs)
      this.dueMs = this.lastActiveMs + idleMs
      this.idle.add(this)
    }
    this.reader?.resume()
    // RFC 9112 §9.6 leaves the head's time limit to the server; the slow path's is headersTimeout (→ 408).
    this.timer = setTimeout(() => this.headTimedOut(), options.headersTimeoutMs).unref()
  }

  cut(): void {
    this.upstream?.destroy()
    this.client.destroy()
  }

  endWhenIdle(): void {
    this.ending = true
    this.endIfIdle()
  }

  /** As Node's server does with idle keep-alive connections at close, but after the last response is written. */
  private endIfIdle(): void {
    if (!this.ending || this.pending.length > 0 || this.bodyLeft > 0) return
    if (this.phase !== 'head' && !(this.phase === 'open' && this.responses.idle)) return
    this.phase = 'gone'
    clearTimeout(this.timer)
    this.upstream?.destroy()
    this.client.end()
  }

  /** The idle deadline: a connection with a byte either way since waits until idleTimeoutMs after that byte. */
  onDue(nowMs: number): number | undefined {
    // Also once the connection is ending ('gone'), as the socket's timeout did; a hand-off removes it (moveToSlowPath).
    if (this.client.destroyed) return undefined
    const dueMs = this.lastActiveMs + this.idle!.delayMs
    if (dueMs > nowMs) return dueMs
    this.cut()
    return undefined
  }

  private pauseClient(): void {
    if (this.reader) this.reader.pause()
    else this.client.pause()
  }

  private resumeClient(): void {
    if (this.reader) this.reader.resume()
    else this.client.resume()
  }

  private clientPaused(): boolean {
    return this.reader ? this.reader.paused : this.client.isPaused()
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastActiveMs = Date.now()
    if (this.reader) this.readArea = chunk.buffer
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    this.pump()
    // What waits for the next read must not be in the memory that read lands in.
    this.pending = this.kept(this.pending)
  }

  /**
   * `bytes`, or a copy of them where they lie in the reader's memory. Bytes a write to the node holds need no copy
   * while it waits in libuv's queue: the client is not read meanwhile (send).
   */
  private kept(bytes: Buffer): Buffer {
    return bytes.length > 0 && bytes.buffer === this.readArea ? Buffer.from(bytes) : bytes
  }

  /** Forwards what can be forwarded: body bytes, then each complete request head, until a head is incomplete. */
  private pump(): void {
    while ((this.phase === 'open' || this.phase === 'head') && this.pending.length > 0) {
      if (this.bodyLeft > 0) {
        const part = this.pending.subarray(0, this.bodyLeft)
        this.pending = this.pending.subarray(part.length)
        this.bodyLeft -= part.length
        this.send(part)
        continue
      }
      const scan = scanRequestHead(this.pending, this.options.transparent ? HTTP10_TOO : HTTP11_ONLY)
      if ('partial' in scan) break
      if ('other' in scan) return this.leave()
      if (this.phase === 'head') return this.start(scan.head)
      if (this.options.serviceOf(scan.head.host) !== this.service) return this.leave()
      this.forward(scan.head)
    }
    // The client sent its FIN (an unfinished head is dropped). It is done once its responses are through, and the
    // node connection is kept. A node does not see that FIN: Node's server would abort a response in flight. Only a
    // node that must see an end does: in a request body, or with responses that cannot be followed (unless the node
    // ends the connection itself after its last answer).
    if (this.phase === 'open' && this.clientEnded) {
      if (this.responses.idle && this.bodyLeft === 0) return this.finish()
      if (this.bodyLeft > 0 || (!this.responses.framed && !this.lastExchange)) this.upstream!.end()
    }
  }

  /** The first request: pick the route and connect, or leave everything to the slow path. */
  private start(head: RequestHead): void {
    // On the router, a client that asks to close gains more from the slow path's pooled node connections. A
    // per-service address has only a TCP splice besides, which would pass a FIN right behind the request to the node.
    const pick = head.close && !this.options.transparent ? undefined : this.options.pick(head.host)
    if (!pick) return this.leave()
    clearTimeout(this.timer)
    this.service = pick.service
    // Only a request that may be sent again goes on a kept connection: the node may be closing it right now.
    void this.connect(pick.ordered, IDEMPOTENT_METHODS.has(head.method) && head.bodyLength === 0)
  }

  private async connect(ordered: ProbedTarget[], mayReuse: boolean): Promise<void> {
    this.phase = 'connecting'
    this.pauseClient()
    this.ordered = ordered
    const kept = mayReuse ? this.pool.take(ordered[0]!) : undefined
    if (kept) return this.attach(Object.assign(kept, {target: ordered[0]!}), true)
    const {options} = this
    const made: {link?: NodeLink} = {}
    const {socket, target, failures} = await connectFirst(ordered, {
      timeoutMs: options.connectTimeoutMs,
      cancelled: () => this.client.destroyed,
      onFailure: ({target, error}) => {
        options.health.reportFailure(target)
        options.log(`http: ${this.service}: ${formatTarget(target)}: ${describeErrno(error)}`)
      },
      // The handler changes when the connection is kept and taken by another client (NodeLink).
      onData: (chunk, done, from) => made.link!.handler(chunk, done, from),
    })
    if (!socket || !target || this.client.destroyed) {
      socket?.destroy()
      if (this.client.destroyed) return
      const tried = failures.map((f) => `${formatTarget(f.target)}: ${describeErrno(f.error)}`).join(', ')
      this.fail(`bad gateway: no node answered for ${this.service}: tried ${tried}\n`)
      return
    }
    socket.setNoDelay(true)
    socket.on('error', () => {}) // 'close' follows and decides
    // A node's FIN ends its part in HTTP: close our side too (the socket is half-open capable), so 'close' decides.
    socket.on('end', () => socket.end())
    made.link = {socket, target, handler: this.onUpstreamData}
    this.attach(made.link, false)
  }

  private attach(link: NodeLink, reused: boolean): void {
    link.handler = this.onUpstreamData
    this.link = link
    this.reused = reused
    this.target = link.target
    this.untried = this.ordered.slice(this.ordered.indexOf(link.target) + 1)
    this.upstream = link.socket
    // Writes still queued on a node connection before this one were dropped with it.
    this.upstreamQueued = 0
    const {socket} = link
    this.onUpstreamDrained = () => {
      if (this.upstream === socket) this.upstreamDrained()
    }
    link.socket.on('close', this.onUpstreamClose)
    for (const bytes of this.replay ?? []) link.socket.write(bytes)
    this.phase = 'open'
    this.resumeClient()
    this.pump()
  }

  /** The client is done: its node connection is kept for the next client (NodePool.release) unless mid-request. */
  private releaseNode(): void {
    const {link} = this
    if (!link) return
    this.link = undefined
    this.upstream = undefined
    link.socket.off('close', this.onUpstreamClose)
    // A connection with request bytes still in libuv's queue (a node that answered before reading a whole body) is
    // not kept: those bytes may lie in this client's read buffer, which goes to another client once this one closes.
    const unsent = this.upstreamQueued > 0
    if ((this.phase === 'open' || this.phase === 'draining') && this.bodyLeft === 0 && !this.lastExchange && !unsent)
      this.pool.release(link, this.responses)
    else link.socket.destroy()
  }

  /** Ends a client that sent its FIN and has every answer. */
  private finish(): void {
    clearTimeout(this.timer)
    this.releaseNode()
    this.phase = 'gone'
    this.client.end()
  }

  private forward(head: RequestHead): void {
    const bytes = this.options.transparent ? this.pending.subarray(0, head.length) : this.withForwardedFields(head)
    this.pending = this.pending.subarray(head.length)
    this.bodyLeft = head.bodyLength
    if (this.options.verbose) {
      this.options.log(`http: ${head.method} ${head.host}${head.target} → ${formatTarget(this.target!)} (spliced)`)
    }
    if (head.close) this.lastExchange = true
    if (!IDEMPOTENT_METHODS.has(head.method) || head.bodyLength > 0) this.replay = undefined
    this.replay?.push(this.kept(bytes))
    this.responses.request(head.method)
    this.send(bytes)
  }

  /** The head (at the start of `pending`) as the node receives it: with X-Forwarded-* fields (http-head.ts). */
  private withForwardedFields(head: RequestHead): Buffer {
    const address = this.client.remoteAddress ?? ''
    if (hasForwardedFields(head)) return forwardedHead(head, address)
    if (this.suffix?.host !== head.host) this.suffix = {host: head.host, bytes: forwardedSuffix(head.host, address)}
    return appendForwarded(this.pending, head, this.suffix.bytes)
  }

  private send(bytes: Buffer): void {
    const upstream = this.upstream!
    const took = writeDirect(upstream, bytes, this.onUpstreamDrained)
    if (took === false) {
      this.upstreamQueued++
      this.pauseClient()
      return
    }
    // A write to the stream may wait in it while the client is read: it gets bytes of their own.
    if (took || upstream.write(this.kept(bytes)) || this.clientPaused()) return
    this.pauseClient()
    upstream.once('drain', () => {
      if (this.phase === 'open' && this.upstreamQueued === 0) this.resumeClient()
    })
  }

  /** A write to the node that waited in libuv's queue is through: read on once none waits. */
  private upstreamDrained(): void {
    if (--this.upstreamQueued === 0 && this.phase === 'open' && this.upstream?.writableLength === 0) this.resumeClient()
  }

  /** Writes a node's read to the client (writeChunk, with a direct write where the socket takes one). */
  private toClient(chunk: Buffer, done: () => void, from: net.Socket): boolean {
    this.lastActiveMs = Date.now()
    const took = writeDirect(this.client, chunk, () => {
      done()
      from.resume()
    })
    if (took === undefined) return writeChunk(this.client, chunk, done, from)
    if (took) done()
    return took
  }

  private readonly onUpstreamData: NodeDataHandler = (chunk, done, socket) => {
    this.replay = undefined // the node answered: from here on a failure is the client's to see
    this.responses.feed(chunk)
    const reading = this.toClient(chunk, done, socket)
    if (this.phase === 'draining' && this.responses.idle) this.handOver()
    else if (this.clientEnded && this.phase === 'open') this.pump()
    else this.endIfIdle()
    return reading
  }

  private readonly onUpstreamClose = (hadError: boolean): void => {
    const upstream = this.upstream!
    if (this.phase === 'gone') return
    if (this.phase === 'draining') {
      // The node ended the connection after its last response (or one that ends at close): the client may go on.
      if (hadError || !upstream.readableEnded) return this.cut()
      return this.moveToSlowPath()
    }
    const replayable = this.replay !== undefined && this.replay.length > 0 && !this.client.destroyed
    // A kept connection closed before a byte of response: the node closed it as it was taken (an idle timeout),
    // which says nothing about the node. The same requests go on a new connection.
    if (replayable && this.reused) {
      if (this.options.verbose) {
        this.options.log(`http: ${this.service}: ${formatTarget(this.target!)}: kept connection closed; reconnecting`)
      }
      this.upstream = undefined
      this.link = undefined
      void this.connect(this.ordered, false)
      return
    }
    // Closed before a byte of response, with only requests that may be sent again: try the next node, as the
    // slow path retries an idempotent request reset before its response.
    if (replayable && this.untried.length > 0) {
      this.options.health.reportFailure(this.target!)
      this.options.log(
        `http: ${this.service}: ${formatTarget(this.target!)}: closed before responding; trying the next node`,
      )
      this.upstream = undefined
      this.link = undefined
      void this.connect(this.untried, false)
      return
    }
    // The node ended the connection: so does the client, after what it was sent; cut short, the client is cut.
    if (!hadError && upstream.readableEnded) this.client.end()
    else this.client.destroy()
  }

  /** Stops forwarding; once the node's responses are through, the slow path takes the connection over. */
  private leave(): void {
    if (!this.upstream) return this.moveToSlowPath()
    this.phase = 'draining'
    this.pauseClient()
    if (this.responses.idle) return this.handOver()
    // Responses that cannot be followed (one that ends at close): the node finishes when it sees our FIN.
    if (!this.responses.framed) this.upstream.end()
    this.timer = setTimeout(() => this.cut(), DRAIN_LIMIT_MS).unref()
  }

  /** Lets go of the node connection (kept), between two exchanges, and gives the client to the slow path. */
  private handOver(): void {
    this.releaseNode()
    this.moveToSlowPath()
  }

  private moveToSlowPath(): void {
    this.phase = 'gone'
    clearTimeout(this.timer)
    this.idle?.remove(this)
    const {client} = this
    client.off('data', this.onData)
    client.off('end', this.onClientEnd)
    client.off('error', this.onClientError)
    client.off('close', this.onClientClose)
    client.pause()
    this.reader?.restore()
    this.onDone()
    // A client that already sent its FIN goes too: the router replays the bytes for Node's parser (http.ts,
    // EndedClient), a TCP splice sends them and then the FIN.
    this.handOff(client, this.kept(this.pending))
  }

  private headTimedOut(): void {
    if (this.phase !== 'head') return
    if (this.options.transparent) this.leave()
    else this.fail('', 408)
  }

  /** Answers with an error status and closes (nothing has reached the client from a node yet). */
  private fail(body: string, status = 502): void {
    this.phase = 'gone'
    replyRaw(this.client, status, body)
  }

  private readonly onClientEnd = (): void => {
    this.clientEnded = true
    if (this.phase === 'head') this.client.destroy()
    else if (this.phase === 'open') this.pump()
  }

  private readonly onClientError = (): void => {
    this.client.destroy() // 'close' follows and decides about the node connection
  }

  private readonly onClientClose = (): void => {
    clearTimeout(this.timer)
    this.idle?.remove(this)
    if (this.phase !== 'gone') this.releaseNode()
    this.phase = 'gone'
    this.onDone()
  }
}

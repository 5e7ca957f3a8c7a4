// The router's fast path. A keep-alive client whose requests are plain HTTP/1.1 (http-head.ts) is routed by the
// Host of its first request and spliced to one node connection, as a per-service address is: no request or
// response objects, no header maps, one write per request head. Each later request head on the connection is
// read too (bodies are skipped by Content-Length), so a request for another Service, or one that is not plain, is
// never sent to this node: once the node's responses are all through (ResponseTracker follows their framing), the
// connection moves to the http-proxy-3 path, between two exchanges.
//
// That path (http.ts) keeps everything else: unknown names and the dashboard, 503/502 pages, WebSockets, chunked
// uploads, Expect, absolute-form targets, smuggling refusals, and clients that send `Connection: close`, which gain
// more from its pooled node connections than from a splice of their own.
import type net from 'node:net'

import type {ProbedTarget} from '../serve/types.js'
import type {TargetHealth} from './health.js'
import {forwardedHead, IDEMPOTENT_METHODS, ResponseTracker, scanRequestHead, type RequestHead} from './http-head.js'
import {formatTarget} from './pick.js'
import {replyRaw} from './raw-reply.js'
import {connectFirst, DEFAULT_IDLE_TIMEOUT_MS, describeError, writeChunk, type NodeDataHandler} from './tcp.js'

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
  headersTimeoutMs: number
  log: (line: string) => void
  verbose: boolean
}

/** Hands a client socket, and the bytes already read from it, to the slow path. */
export type HandOff = (socket: net.Socket, pending: Buffer) => void

const EMPTY = Buffer.alloc(0)

/** Accepts client connections for one or more listening sockets and splices the plain ones. */
export class HostSplicer {
  private readonly open = new Set<SplicedConnection>()

  constructor(private readonly options: HostSplicerOptions) {}

  accept(client: net.Socket, handOff: HandOff): void {
    const connection = new SplicedConnection(client, this.options, handOff)
    this.open.add(connection)
    connection.onDone = () => this.open.delete(connection)
  }

  /** Ends the connections that are between two exchanges now, and the others as soon as they are (shutdown). */
  closeIdle(): void {
    for (const connection of this.open) connection.endWhenIdle()
  }

  /** Cuts every spliced connection (the end of a shutdown grace period). */
  cutAll(): void {
    for (const connection of this.open) connection.cut()
  }
}

type Phase = 'head' | 'connecting' | 'open' | 'draining' | 'gone'

class SplicedConnection {
  onDone = (): void => {}
  private phase: Phase = 'head'
  /** Client bytes read but not forwarded yet. */
  private pending: Buffer = EMPTY
  /** Body bytes of the current request still to forward. */
  private bodyLeft = 0
  private service = ''
  private upstream?: net.Socket
  private target?: ProbedTarget
  /** Targets after the current one, for a retry. */
  private untried: ProbedTarget[] = []
  /** Everything sent to the node before its first response byte, while resending it is safe (RFC 9110 §9.2.2). */
  private replay: Buffer[] | undefined = []
  private clientEnded = false
  /** Shutting down: end the connection once no exchange is under way. */
  private ending = false
  private readonly responses = new ResponseTracker()
  private timer?: NodeJS.Timeout

  constructor(
    private readonly client: net.Socket,
    private readonly options: HostSplicerOptions,
    private readonly handOff: HandOff,
  ) {
    client.setNoDelay(true)
    client.on('data', this.onData)
    client.on('end', this.onClientEnd)
    client.on('error', this.onClientError)
    client.on('close', this.onClientClose)
    client.setTimeout(DEFAULT_IDLE_TIMEOUT_MS, this.onIdle)
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

  private readonly onData = (chunk: Buffer): void => {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    this.pump()
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
      const scan = scanRequestHead(this.pending)
      if ('partial' in scan) break
      if ('other' in scan) return this.leave()
      if (this.phase === 'head') return this.start(scan.head)
      if (this.options.serviceOf(scan.head.host) !== this.service) return this.leave()
      this.forward(scan.head)
    }
    // The client sent its FIN: pass it on once everything before it went (an unfinished head is dropped).
    if (this.phase === 'open' && this.clientEnded) this.upstream!.end()
  }

  /** The first request: pick the route and connect, or leave everything to the slow path. */
  private start(head: RequestHead): void {
    const pick = head.close ? undefined : this.options.pick(head.host)
    if (!pick) return this.leave()
    clearTimeout(this.timer)
    this.service = pick.service
    void this.connect(pick.ordered)
  }

  private async connect(ordered: ProbedTarget[]): Promise<void> {
    this.phase = 'connecting'
    this.client.pause()
    const {options} = this
    const {socket, target, failures} = await connectFirst(ordered, {
      timeoutMs: options.connectTimeoutMs,
      cancelled: () => this.client.destroyed,
      onFailure: ({target, error}) => {
        options.health.reportFailure(target)
        options.log(`http: ${this.service}: ${formatTarget(target)}: ${describeError(error)}`)
      },
      onData: this.onUpstreamData,
    })
    if (!socket || !target || this.client.destroyed) {
      socket?.destroy()
      if (this.client.destroyed) return
      const tried = failures.map((f) => `${formatTarget(f.target)}: ${describeError(f.error)}`).join(', ')
      this.fail(`bad gateway: no node answered for ${this.service}: tried ${tried}\n`)
      return
    }
    this.target = target
    this.untried = ordered.slice(ordered.indexOf(target) + 1)
    this.upstream = socket
    socket.setNoDelay(true)
    socket.on('error', () => {}) // 'close' follows and decides
    // A node's FIN ends its part in HTTP: close our side too (the socket is half-open capable), so 'close' decides.
    socket.on('end', () => socket.end())
    socket.on('close', this.onUpstreamClose)
    for (const bytes of this.replay ?? []) socket.write(bytes)
    this.phase = 'open'
    this.client.resume()
    this.pump()
  }

  private forward(head: RequestHead): void {
    const bytes = forwardedHead(head, this.client.remoteAddress ?? '')
    this.pending = this.pending.subarray(head.length)
    this.bodyLeft = head.bodyLength
    if (this.options.verbose) {
      this.options.log(`http: ${head.method} ${head.host}${head.target} → ${formatTarget(this.target!)} (spliced)`)
    }
    if (!IDEMPOTENT_METHODS.has(head.method) || head.bodyLength > 0) this.replay = undefined
    this.replay?.push(bytes)
    this.responses.request(head.method)
    this.send(bytes)
  }

  private send(bytes: Buffer): void {
    const upstream = this.upstream!
    if (!upstream.write(bytes) && !this.client.isPaused()) {
      this.client.pause()
      upstream.once('drain', () => {
        if (this.phase === 'open') this.client.resume()
      })
    }
  }

  private readonly onUpstreamData: NodeDataHandler = (chunk, done, socket) => {
    this.replay = undefined // the node answered: from here on a failure is the client's to see
    this.responses.feed(chunk)
    const reading = writeChunk(this.client, chunk, done, socket)
    if (this.phase === 'draining' && this.responses.idle) this.handOver()
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
    // Closed before a byte of response, with only requests that may be sent again: try the next node, as the
    // slow path retries an idempotent request reset before its response.
    if (this.replay && this.replay.length > 0 && this.untried.length > 0 && !this.client.destroyed) {
      this.options.health.reportFailure(this.target!)
      this.options.log(
        `http: ${this.service}: ${formatTarget(this.target!)}: closed before responding; trying the next node`,
      )
      this.upstream = undefined
      void this.connect(this.untried)
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
    this.client.pause()
    if (this.responses.idle) return this.handOver()
    // Responses that cannot be followed (one that ends at close): the node finishes when it sees our FIN.
    if (!this.responses.framed) this.upstream.end()
    this.timer = setTimeout(() => this.cut(), DRAIN_LIMIT_MS).unref()
  }

  /** Lets go of the node connection, between two exchanges, and gives the client to the slow path. */
  private handOver(): void {
    const upstream = this.upstream!
    upstream.off('close', this.onUpstreamClose)
    upstream.destroy()
    this.moveToSlowPath()
  }

  private moveToSlowPath(): void {
    this.phase = 'gone'
    clearTimeout(this.timer)
    const {client} = this
    client.off('data', this.onData)
    client.off('end', this.onClientEnd)
    client.off('error', this.onClientError)
    client.off('close', this.onClientClose)
    client.setTimeout(0)
    client.pause()
    this.onDone()
    // A client that already sent its FIN cannot have bytes put back for Node's parser: it is closed instead.
    if (this.clientEnded) {
      client.end()
      return
    }
    this.handOff(client, this.pending)
  }

  private headTimedOut(): void {
    if (this.phase !== 'head') return
    this.fail('', 408)
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
    this.cut()
  }

  private readonly onIdle = (): void => {
    this.cut()
  }

  private readonly onClientClose = (): void => {
    if (this.phase !== 'gone' && !this.upstream?.destroyed) this.upstream?.destroy()
    this.phase = 'gone'
    clearTimeout(this.timer)
    this.onDone()
  }
}

// The HTTP front door's lifecycle: binds the listeners, keeps the Host → route table, decides per request between a
// route, the dashboard, a 404 and a refusal (it must never act as an open proxy), and closes everything at shutdown.
// Plain keep-alive requests take the fast path in host-splice.ts, which hands everything else to this one; those
// requests go to a node through forward.ts (retried on the next target when safe), upgrades through upgrade.ts.
import http from 'node:http'
import net from 'node:net'
import {Duplex} from 'node:stream'

import {createProxyServer} from 'http-proxy-3'
import type {ProxyServer} from 'http-proxy-3'

import {renderNotFound} from '../dashboard/not-found.js'
import {hostPort} from '../net/address.js'
import {describeErrno} from '../net/errno.js'
import type {HttpRoute, ProbedTarget} from '../servemap/types.js'
import {noteAccept} from './accept-turns.js'
import {RetryingForward, type ForwardOptions} from './forward.js'
import type {TargetHealth} from './health.js'
import {HostSplicer, type HandOff, type SplicePick} from './host-splice.js'
import {formatTargets, orderHealthy} from './pick.js'
import {replyRaw, send, sendText} from './reply.js'
import {RouteTable, type RouteEntry} from './route-table.js'
import {
  countHostLines,
  hopByHopFields,
  isLoopbackHost,
  normalizeHost,
  parseAbsoluteForm,
  rawPath,
} from './request-target.js'
import {DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS} from './socket.js'
import {unsupportedUpgrade, UpgradeForwarder} from './upgrade.js'

/** Host values whose Service the router remembers between route changes (serviceOf). */
const SERVICE_CACHE_LIMIT = 1024
const DEFAULT_HEADERS_TIMEOUT_MS = 20_000 // a client gets this long to send its request head (slowloris guard)

/** Idle client connections between requests close after this long. */
const CLIENT_KEEP_ALIVE_MS = 5000

/**
 * Idle pooled connections to nodes are closed after this long: under the 5 s keepAliveTimeout of Node servers
 * (the commonest backend default), so a request rarely lands on a connection the node is closing, and a pooled
 * connection to a node that vanished is not kept for long.
 */
const FREE_SOCKET_TIMEOUT_MS = 4000

/**
 * A client the fast path hands over after its FIN: its stream has ended, so the request bytes already read cannot be
 * put back into it (Readable.unshift after 'end' throws). Node's server reads them, then the end, from this stand-in
 * (it takes any Duplex: https://nodejs.org/api/http.html#event-connection), and its answers go to the socket.
 */
class EndedClient extends Duplex {
  constructor(
    private readonly socket: net.Socket,
    pending: Buffer,
  ) {
    super()
    this.push(pending)
    this.push(null)
    socket.on('error', (error) => this.destroy(error))
    socket.on('close', () => this.destroy())
  }

  // What the slow path and http-proxy-3 (X-Forwarded-For) read from a client socket.
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten
  }

  override _read(): void {}

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, encoding, callback)
  }

  override _final(callback: () => void): void {
    this.socket.end(callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy()
    callback(error)
  }
}

/**
 * A client's FIN before its answer starts is a half-close: the answer still comes (attach). Once the answer is being
 * written, the same FIN is taken as the client leaving, and the exchange is cut, so that a node that streams, or
 * stalls, does not keep a request running for nobody (nothing tells the two apart until a write fails).
 */
function cutIfClientLeaves(req: http.IncomingMessage, res: http.ServerResponse): void {
  const {socket} = req
  const onEnd = (): void => {
    if (res.headersSent && !res.writableEnded) res.destroy()
  }
  socket.once('end', onEnd)
  res.once('close', () => socket.off('end', onEnd))
}

/** The 503 text when every target of a route is down: names the Service and the nodes. */
function noHealthyTarget(route: HttpRoute): string {
  return `no healthy target for ${route.service}: tried ${formatTargets(route.targets)}\n`
}

export interface HttpRouterOptions {
  health: TargetHealth
  /** Per target; a connect that takes longer counts as a failure and the next target is tried. */
  connectTimeoutMs?: number
  /** Node's `server.headersTimeout` for servers this router creates or attaches to. */
  headersTimeoutMs?: number
  /** Errors and, with `verbose`, one line per request, upgrade and refused connection. */
  log?: (line: string) => void
  verbose?: boolean
  /** Client connections per server beyond this many are refused (Node's server.maxConnections). */
  maxConnections?: number
  /** serve's DNS zone (--domain): an unknown name in it still sees the known names on the 404 page (showsNames). */
  zone?: string
  /** Requests for these host names are answered by `handle` instead of a route (serve's dashboard). */
  local?: {hosts: string[]; handle: (req: http.IncomingMessage, res: http.ServerResponse) => void}
}

/** A route to forward to, or the refusal to send (`notFound` set: the 404 page for that host). */
type Resolution = {entry: RouteEntry} | {status: number; message: string; notFound?: string}

/**
 * Routes HTTP requests and WebSocket upgrades by Host to the targets of a Service. One router can serve several
 * `http.Server`s (`createServer`/`listen`/`attach`); `setRoutes` swaps the table for all of them at once.
 */
export class HttpRouter {
  private readonly routes = new RouteTable()
  private sortedNames?: string[]
  /**
   * serviceOf's answers by Host value as sent (the fast path asks for every request): emptied when the routes
   * change, and when it holds SERVICE_CACHE_LIMIT values (clients that send many different Host values).
   */
  private readonly serviceByHost = new Map<string, string | null>()
  private readonly health: TargetHealth
  private readonly connectTimeoutMs: number
  private readonly headersTimeoutMs: number
  private readonly log: (line: string) => void
  private readonly verbose: boolean
  private readonly agent: http.Agent
  private readonly proxy: ProxyServer
  /** What each request's RetryingForward and the UpgradeForwarder share. */
  private readonly forwarding: ForwardOptions
  /** Requests on their way to a node, for http-proxy-3's proxyReq events. */
  private readonly forwards = new WeakMap<http.IncomingMessage, RetryingForward>()
  /** The slow-path servers behind the sockets `listen` binds (they parse whatever the splicer hands over). */
  private readonly servers = new Set<http.Server>()
  private readonly fronts = new Set<net.Server>()
  /** Sockets the fast path handed over, with what had been written to them by then (complete responses). */
  private readonly handedOver = new WeakMap<Duplex, number>()
  private readonly splicer: HostSplicer
  /** WebSocket upgrades, with their tunnels: Node's closeAllConnections no longer sees them. */
  private readonly upgrades: UpgradeForwarder
  private readonly local: HttpRouterOptions['local']
  private readonly zone?: string
  private readonly maxConnections: number

  constructor(options: HttpRouterOptions) {
    this.health = options.health
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    this.headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS
    this.log = options.log ?? (() => {})
    this.verbose = options.verbose ?? false
    this.local = options.local
    this.zone = options.zone
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.splicer = new HostSplicer({
      pick: (host) => this.pick(host),
      serviceOf: (host) => this.serviceOf(host),
      health: this.health,
      connectTimeoutMs: this.connectTimeoutMs,
      headersTimeoutMs: this.headersTimeoutMs,
      log: this.log,
      verbose: this.verbose,
    })
    // One pool per target address:port, reused across requests and clients.
    this.agent = new http.Agent({keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS})
    this.proxy = createProxyServer({
      agent: this.agent,
      xfwd: true,
      // Pass the request-target through as the client sent it; without this http-proxy-3 re-serialises the path
      // with WHATWG URL, which resolves dot segments and re-encodes characters before the backend sees them.
      toProxy: true,
    })
    this.proxy.on('proxyReq', (proxyReq, req, _res, _options, socket) =>
      this.forwards.get(req)?.onUpstreamSocket(proxyReq, socket),
    )
    // The node's connection management is not the client's: drop its hop-by-hop fields; http-proxy-3's
    // setConnection pass then answers the client according to the client's own Connection header.
    this.proxy.on('proxyRes', (proxyRes) => {
      for (const name of hopByHopFields(proxyRes.headers)) delete proxyRes.headers[name]
    })
    // The proxy server is an EventEmitter, and an 'error' event nobody listens to throws
    // (https://nodejs.org/api/events.html#error-events); http-proxy-3 emits one, for instance, for an error on an
    // upgraded client socket (sagemathinc/http-proxy-3 lib/http-proxy/index.ts). Every call passes its own
    // callback, so this only catches what slips past them.
    this.proxy.on('error', (error, _req, res) => {
      this.log(`http: proxy error: ${error.message}`)
      if (res instanceof http.ServerResponse) {
        if (!res.headersSent) sendText(res, 502, `bad gateway: ${error.message}`)
        else res.destroy()
      } else {
        res.destroy()
      }
    })
    this.forwarding = {
      proxy: this.proxy,
      health: this.health,
      connectTimeoutMs: this.connectTimeoutMs,
      log: this.log,
      verbose: this.verbose,
    }
    this.upgrades = new UpgradeForwarder(this.forwarding)
  }

  /**
   * Makes `routes` the routing table (RouteTable patches it for the routes that changed). Open connections and
   * requests in flight keep the route they started with.
   */
  setRoutes(routes: HttpRoute[]): void {
    this.routes.set(routes)
    this.sortedNames = undefined
    this.serviceByHost.clear()
  }

  /** The Service a Host value routes to now, or undefined (the fast path's check of every request). */
  private serviceOf(host: string): string | undefined {
    let service = this.serviceByHost.get(host)
    if (service === undefined) {
      service = this.routes.lookup(normalizeHost(host) ?? '')?.route.service ?? null
      if (this.serviceByHost.size >= SERVICE_CACHE_LIMIT) this.serviceByHost.clear()
      this.serviceByHost.set(host, service)
    }
    return service ?? undefined
  }

  /** Every routed name, sorted: made when a 404 page lists them, not on every change. */
  private get names(): string[] {
    return (this.sortedNames ??= [...this.routes.keys()].sort())
  }

  /** A server with this router's handlers and timeouts; Node's defaults otherwise (16 KiB header limit → 431). */
  createServer(): http.Server {
    const server = http.createServer({
      // How often Node checks headersTimeout: often enough that slow clients go within ~1.25× the timeout.
      connectionsCheckingInterval: Math.min(30_000, Math.max(10, Math.floor(this.headersTimeoutMs / 4))),
    })
    this.attach(server)
    return server
  }

  /**
   * Binds the router on `address:port`; rejects with the bind error. Plain keep-alive requests are spliced to a node
   * (host-splice.ts); every other connection goes to a server with this router's handlers. `close` closes both.
   */
  listen(address: string, port: number): Promise<net.Server> {
    const fallback = this.createServer()
    const handOff: HandOff = (socket, pending) => {
      if (socket.readableEnded) {
        const client = new EndedClient(socket, pending)
        this.handedOver.set(client, socket.bytesWritten)
        fallback.emit('connection', client)
        return
      }
      this.handedOver.set(socket, socket.bytesWritten)
      if (pending.length > 0) socket.unshift(pending)
      fallback.emit('connection', socket)
      socket.resume()
    }
    // allowHalfOpen: a client's FIN does not close the connection before its answers are written (see attach).
    const front = net.createServer({allowHalfOpen: true}, (socket) => {
      noteAccept()
      this.splicer.accept(socket, handOff)
    })
    // Excess clients are refused at accept; the process and the other connections carry on.
    front.maxConnections = this.maxConnections
    return new Promise((resolve, reject) => {
      front.once('error', reject)
      front.listen({host: address, port}, () => {
        front.removeListener('error', reject)
        front.on('error', (error) => this.log(`http ${hostPort(address, port)}: ${error.message}`))
        this.fronts.add(front)
        this.servers.add(fallback)
        resolve(front)
      })
    })
  }

  /** Node connections the fast path keeps for its next clients (node-pool.ts). */
  get keptNodeConnections(): number {
    return this.splicer.keptNodeConnections
  }

  /** Installs the request, upgrade, CONNECT and client-error handlers on `server`. */
  attach(server: http.Server): void {
    server.headersTimeout = this.headersTimeoutMs
    // The idle timeout of client keep-alive connections between requests (Node's default, stated on purpose).
    server.keepAliveTimeout = CLIENT_KEEP_ALIVE_MS
    // No limit on a whole request: uploads to a homelab app may take long; headersTimeout handles slow heads.
    server.requestTimeout = 0
    // A client may send its FIN right after its request (HTTP/1.0 tools, `nc -N`, `Connection: close` then
    // shutdown(SHUT_WR)): it still reads. By default Node's server aborts the requests in flight when it reads that
    // FIN (socketOnEnd in lib/_http_server.js, https://github.com/nodejs/node/blob/v20.x/lib/_http_server.js); with
    // httpAllowHalfOpen it answers them and then ends the connection. The property is Node's own, not in its types.
    ;(server as http.Server & {httpAllowHalfOpen: boolean}).httpAllowHalfOpen = true
    server.on('request', (req, res) => this.onRequest(req, res))
    server.on('upgrade', (req, socket, head) => {
      this.onUpgrade(req, socket as net.Socket, head).catch((error: Error) => {
        this.log(`http: upgrade ${req.headers.host ?? ''}${req.url}: ${error.message}`)
        socket.destroy()
      })
    })
    server.on('connect', (req, socket) => {
      if (this.verbose) this.log(`http: refused CONNECT ${req.url} from ${req.socket.remoteAddress}`)
      replyRaw(socket, 405, 'CONNECT is not supported: expose-lb is a reverse proxy, not a forward proxy\n', {
        allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
      })
    })
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(error, socket))
  }

  /**
   * Closes the servers made by `listen` and resolves when their connections are gone. Requests and WebSockets
   * still running after `graceMs` are cut; without it they are waited for.
   */
  async close(graceMs?: number): Promise<void> {
    const closing = [...this.fronts].map((front) => new Promise<void>((resolve) => front.close(() => resolve())))
    const servers = [...this.servers]
    this.fronts.clear()
    this.servers.clear()
    // Not listening themselves: close() stops their timers and closes their idle keep-alive connections.
    for (const server of servers) server.close()
    this.splicer.closeIdle()
    if (graceMs !== undefined) {
      const timer = setTimeout(() => this.cutAll(servers), graceMs).unref()
      void Promise.all(closing).then(() => clearTimeout(timer))
    }
    await Promise.all(closing)
    this.agent.destroy()
  }

  private cutAll(servers: http.Server[]): void {
    for (const server of servers) server.closeAllConnections()
    this.upgrades.cutAll()
    this.splicer.cutAll()
  }

  /** The fast path's route for a Host value: only a route with a healthy target (the slow path answers the rest). */
  private pick(host: string): SplicePick | undefined {
    const name = normalizeHost(host)
    const entry = name === undefined ? undefined : this.routes.lookup(name)
    const ordered = entry && this.order(entry)
    return entry && ordered ? {service: entry.route.service, ordered} : undefined
  }

  /** The route's targets in the order to try them (round-robin over healthy ones), or undefined when none is healthy. */
  private order(entry: RouteEntry): ProbedTarget[] | undefined {
    return orderHealthy(entry.route.targets, (target) => this.health.isHealthy(target), entry.counter++)
  }

  /** `order`, saying so in the log when no target is healthy. */
  private orderedTargets(entry: RouteEntry): ProbedTarget[] | undefined {
    const ordered = this.order(entry)
    if (!ordered) this.log(`http: no healthy target for ${entry.route.service}`)
    return ordered
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    cutIfClientLeaves(req, res)
    const resolution = this.resolve(req)
    if ('status' in resolution) {
      if (this.verbose) this.log(`http: ${req.method} ${req.headers.host ?? ''}${req.url}: ${resolution.status}`)
      if (resolution.notFound !== undefined && this.local?.hosts.includes(resolution.notFound))
        this.local.handle(req, res)
      else if (resolution.notFound !== undefined) this.sendNotFound(req, res, resolution.notFound)
      else sendText(res, resolution.status, resolution.message, resolution.status === 421 ? {connection: 'close'} : {})
      return
    }
    const {route} = resolution.entry
    const ordered = this.orderedTargets(resolution.entry)
    if (!ordered) return sendText(res, 503, noHealthyTarget(route))
    // Node's server has already answered "100 Continue" (there is no checkContinue listener), so the expectation
    // is met on this hop; forwarding it would also stop http-proxy-3 from emitting proxyReq, which RetryingForward
    // needs (onUpstreamSocket).
    delete req.headers.expect
    const forward = new RetryingForward(req, res, route, ordered, this.forwarding)
    this.forwards.set(req, forward)
    forward.start()
  }

  /** WebSocket (and other) upgrades: refused here unless routed to a healthy target, then upgrade.ts forwards them. */
  private async onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    const resolution = this.resolve(req)
    if ('status' in resolution) {
      const message =
        resolution.notFound !== undefined ? `no service is named "${resolution.notFound}"\n` : resolution.message
      replyRaw(socket, resolution.status, message)
      return
    }
    const unsupported = unsupportedUpgrade(req)
    if (unsupported !== undefined) return replyRaw(socket, 501, unsupported)
    const {route} = resolution.entry
    const ordered = this.orderedTargets(resolution.entry)
    if (!ordered) return replyRaw(socket, 503, noHealthyTarget(route))
    await this.upgrades.forward(req, socket, head, route, ordered)
  }

  private onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    if (this.verbose) this.log(`http: client error: ${describeErrno(error)}`)
    // The same replies Node sends without a clientError listener, then the socket goes.
    // Only between responses: nothing written yet, or nothing since the fast path handed the socket over.
    const written = 'bytesWritten' in socket ? (socket as net.Socket).bytesWritten : 0
    const settled = this.handedOver.get(socket) ?? 0
    if (error.code !== 'ECONNRESET' && socket.writable && written === settled) {
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    }
    socket.destroy()
  }

  /** Finds the route for a request, or the refusal to send. */
  private resolve(req: http.IncomingMessage): Resolution {
    // RFC 9112 §3.2: more than one Host field line → 400. Node keeps only the first, so count the raw lines.
    if (countHostLines(req.rawHeaders) > 1) return {status: 400, message: 'bad request: more than one Host header\n'}

    const target = req.url ?? ''
    if (!target.startsWith('/')) {
      const absolute = parseAbsoluteForm(target)
      if (!absolute) return {status: 400, message: 'bad request: unsupported request target\n'}
      // RFC 9112 §3.2.2: with an absolute-form target the Host header is ignored. Only our own names are served
      // this way; anything else is a forward-proxy request, and expose-lb must never become an open proxy.
      const name = absolute.protocol === 'http:' ? normalizeHost(absolute.host) : undefined
      const entry = name === undefined ? undefined : this.routes.lookup(name)
      if (!entry || name === undefined) {
        return {
          status: 421,
          message: `misdirected request: expose-lb is not a forward proxy and does not serve ${absolute.protocol}//${absolute.host}\n`,
        }
      }
      req.url = rawPath(target)
      req.headers.host = absolute.host
      return {entry}
    }
    const name = normalizeHost(req.headers.host ?? '')
    const entry = name === undefined ? undefined : this.routes.lookup(name)
    if (!entry) return {status: 404, message: '', notFound: name ?? req.headers.host ?? ''}
    return {entry}
  }

  /** 404 for an unknown Host: the known names as links (HTML), or as JSON for `Accept: application/json`. */
  private sendNotFound(req: http.IncomingMessage, res: http.ServerResponse, host: string): void {
    const {contentType, body} = renderNotFound(
      host,
      this.showsNames(req.headers.host) ? this.names : undefined,
      req.headers,
    )
    send(res, 404, contentType, body)
  }

  /**
   * Whether the 404 page may list the known names for a request with this Host: a loopback name or address, or a
   * name in serve's zone. A page on another site can rebind its own name to this address and read the answer as
   * its own (DNS rebinding: https://en.wikipedia.org/wiki/DNS_rebinding), but its requests carry that name, which is
   * neither: it gets the page without the inventory of the cluster's Services. Names under the zone resolve only
   * through serve's responder (or its hosts-file block), which no other site controls.
   */
  private showsNames(host: string | undefined): boolean {
    if (host === undefined) return false
    if (isLoopbackHost(host)) return true
    const name = normalizeHost(host)
    return this.zone !== undefined && name !== undefined && (name === this.zone || name.endsWith(`.${this.zone}`))
  }
}

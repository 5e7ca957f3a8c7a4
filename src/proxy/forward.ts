// One HTTP request on the router's slow path, through http-proxy-3 to a node, retried on the next target when
// that is safe: the client sees a 502 only once every target failed, or once a failure can no longer be retried
// without risking a request the node has already acted on.
import type http from 'node:http'
import type net from 'node:net'
import {PassThrough} from 'node:stream'

import type {ProxyServer} from 'http-proxy-3'

import {TimeoutError} from '../errors.js'
import {hostPort} from '../net/address.js'
import {describeErrno, errnoCode} from '../net/errno.js'
import type {HttpRoute, ProbedTarget} from '../servemap/types.js'
import type {TargetHealth} from './health.js'
import {IDEMPOTENT_METHODS} from './http-head.js'
import {formatTarget} from './pick.js'
import {sendText} from './reply.js'
import {hopByHopFields, targetUrl} from './request-target.js'

const FORWARDED_HEADERS = ['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host'] as const

/** What the router's forwards (RetryingForward, UpgradeForwarder) share with it. */
export interface ForwardOptions {
  proxy: ProxyServer
  health: TargetHealth
  /** Per target; a connect that takes longer counts as a failure and the next target is tried. */
  connectTimeoutMs: number
  log: (line: string) => void
  verbose: boolean
}

/** The state of one try of the request against one target. */
interface Attempt {
  target: ProbedTarget
  /** Set when the upstream socket is connected (a reused keep-alive socket is connected from the start). */
  connected: boolean
  reusedSocket: boolean
  responded: boolean
  /** Starts streaming the request body to this try's upstream request. */
  release: () => void
  connectTimer?: NodeJS.Timeout
}

/**
 * Sends `req` to `ordered[0]`, then to the next target after each failure that is safe to retry: any failure
 * before the upstream connection is up (nothing was sent), or a reset before the response for an idempotent
 * request whose body has not started. The body is held back until the upstream socket connects so that a retry
 * can still send it whole. The router passes http-proxy-3's `proxyReq` events on (onUpstreamSocket).
 */
export class RetryingForward {
  /** The client's X-Forwarded-* values, restored before each try. */
  private readonly forwarded: ReadonlyArray<readonly [string, string | string[] | undefined]>
  private readonly idempotent: boolean
  /** Request fields to drop from the upstream request. */
  private readonly hopByHop: string[]
  private readonly failures: string[] = []
  private index = 0
  private reuseRetried = false
  private current: Attempt | undefined
  private bodyBytes = 0
  private pipedTo: PassThrough | undefined

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly route: HttpRoute,
    private readonly ordered: ProbedTarget[],
    private readonly options: ForwardOptions,
  ) {
    this.forwarded = FORWARDED_HEADERS.map((name) => [name, req.headers[name]] as const)
    this.idempotent = IDEMPOTENT_METHODS.has(req.method ?? '')
    this.hopByHop = hopByHopFields(req.headers)
    // Each try adds a few listeners to req and res (http-proxy-3 passes); keep Node from warning on many nodes.
    req.setMaxListeners(ordered.length * 4 + 10)
    res.setMaxListeners(ordered.length * 4 + 10)
  }

  /** Sends the request to the first target. */
  start(): void {
    this.attempt()
  }

  /** http-proxy-3 emits `proxyReq` once the upstream request has a socket (pooled or connecting). */
  onUpstreamSocket(proxyReq: http.ClientRequest, socket: net.Socket): void {
    const attempt = this.current
    if (!attempt) return
    attempt.reusedSocket = proxyReq.reusedSocket
    // Still unsent: the body is held back and http-proxy-3 writes nothing before it.
    if (!proxyReq.headersSent) {
      for (const name of this.hopByHop) {
        // Replaced rather than removed: removing Connection would stop Node's client from keeping the socket.
        if (name === 'connection') proxyReq.setHeader('connection', 'keep-alive')
        else proxyReq.removeHeader(name)
      }
    }
    proxyReq.once('response', () => {
      attempt.responded = true
    })
    if (!socket.connecting) {
      attempt.connected = true
      attempt.release()
      return
    }
    const {connectTimeoutMs} = this.options
    attempt.connectTimer = setTimeout(
      () =>
        proxyReq.destroy(
          new TimeoutError(`connect to ${hostPort(attempt.target.address, attempt.target.port)}`, connectTimeoutMs),
        ),
      connectTimeoutMs,
    )
    attempt.connectTimer.unref()
    socket.once('connect', () => {
      clearTimeout(attempt.connectTimer)
      attempt.connected = true
      attempt.release()
    })
    proxyReq.once('close', () => clearTimeout(attempt.connectTimer))
  }

  private readonly countBytes = (chunk: Buffer): void => {
    this.bodyBytes += chunk.length
  }

  private attempt(): void {
    const {req, res, route} = this
    const {log, verbose} = this.options
    const target = this.ordered[this.index]
    if (!target) {
      const message = `bad gateway: no node answered for ${route.service}: tried ${this.failures.join(', ')}\n`
      log(`http: ${message.trim()}`)
      sendText(res, 502, message)
      return
    }
    // The XHeaders pass appends to these on every call: start each try from the client's values.
    for (const [name, value] of this.forwarded) {
      if (value === undefined) delete req.headers[name]
      else req.headers[name] = value
    }
    const body = new PassThrough()
    let released = false
    const self: Attempt = {
      target,
      connected: false,
      reusedSocket: false,
      responded: false,
      release: () => {
        if (released) return
        released = true
        if (req.readableEnded) {
          body.end() // no body, or an empty one already consumed by an earlier try
          return
        }
        req.pipe(body)
        req.on('data', this.countBytes)
        this.pipedTo = body
      },
    }
    this.current = self
    res.once('finish', () => {
      if (this.current === self && verbose) {
        log(`http: ${req.method} ${req.headers.host ?? ''}${req.url} → ${formatTarget(target)} ${res.statusCode}`)
      }
    })
    this.options.proxy.web(req, res, {target: targetUrl(target), buffer: body}, (error) => this.onError(self, error))
  }

  private onError(failed: Attempt, error: Error): void {
    const {req, res, route} = this
    const {log} = this.options
    if (failed !== this.current) return // a late error from an abandoned try
    if (failed.connectTimer) clearTimeout(failed.connectTimer)
    if (res.destroyed || res.writableEnded || req.socket.destroyed) return // the client left; upstream is cut
    if (failed.responded || res.headersSent) {
      log(`http: ${route.service}: ${formatTarget(failed.target)} failed mid-response: ${describeErrno(error)}`)
      res.destroy()
      return
    }
    const code = errnoCode(error)
    const resetBeforeResponse = code === 'ECONNRESET' || code === 'EPIPE'
    const retryable = !failed.connected || (this.idempotent && this.bodyBytes === 0 && resetBeforeResponse)
    if (!retryable) {
      const what = `${formatTarget(failed.target)} failed after the request was sent: ${describeErrno(error)}`
      log(`http: ${route.service}: ${what}`)
      sendText(res, 502, `bad gateway for ${route.service}: ${what}\n`)
      return
    }
    if (this.pipedTo) {
      req.unpipe(this.pipedTo)
      req.off('data', this.countBytes)
      req.pause()
      this.pipedTo = undefined
    }
    if (failed.connected && failed.reusedSocket && !this.reuseRetried) {
      // The node closed an idle keep-alive connection as we reused it (RFC 9112 §9.3.1): not a node failure.
      this.reuseRetried = true
      this.attempt()
      return
    }
    this.options.health.reportFailure(failed.target)
    this.failures.push(`${formatTarget(failed.target)}: ${describeErrno(error)}`)
    log(`http: ${route.service}: ${formatTarget(failed.target)}: ${describeErrno(error)}`)
    this.index++
    this.attempt()
  }
}

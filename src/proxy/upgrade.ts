// WebSocket upgrades through the router. http-proxy-3 destroys the client socket after an upstream error, so the
// retry happens first: the upstream connection is made here, trying targets in order, and handed to http-proxy-3
// through a one-socket agent. Upgraded connections are kept apart, as Node's closeAllConnections no longer sees
// them, so that a shutdown can still cut them.
import http from 'node:http'
import type net from 'node:net'

import {describeErrno} from '../net/errno.js'
import type {HttpRoute, ProbedTarget} from '../servemap/types.js'
import type {ForwardOptions} from './forward.js'
import {formatTarget} from './pick.js'
import {rawResponse, replyRaw} from './reply.js'
import {targetUrl} from './request-target.js'
import {connectFirst} from './socket.js'

/** The 501 text for an upgrade to anything but WebSocket, or undefined for a WebSocket upgrade. */
export function unsupportedUpgrade(req: http.IncomingMessage): string | undefined {
  if ((req.headers.upgrade ?? '').toLowerCase() === 'websocket') return undefined
  return `upgrade to "${req.headers.upgrade ?? ''}" is not supported; only websocket is\n`
}

/** Forwards routed WebSocket upgrades to the first target that accepts a connection, and tracks the tunnels. */
export class UpgradeForwarder {
  /** Upgraded connections (both ends). */
  private readonly tunnels = new Set<net.Socket>()

  constructor(private readonly options: ForwardOptions) {}

  /** Connects to the first of `ordered` that answers, then lets http-proxy-3 send the upgrade and splice. */
  async forward(
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
    route: HttpRoute,
    ordered: ProbedTarget[],
  ): Promise<void> {
    const {log, verbose} = this.options
    const {
      socket: upstream,
      target,
      failures,
    } = await connectFirst(ordered, {
      timeoutMs: this.options.connectTimeoutMs,
      cancelled: () => socket.destroyed,
      onFailure: ({target, error}) => {
        this.options.health.reportFailure(target)
        log(`http: ${route.service}: ${formatTarget(target)}: ${describeErrno(error)}`)
      },
    })
    if (!upstream || !target) {
      const tried = failures.map((f) => `${formatTarget(f.target)}: ${describeErrno(f.error)}`).join(', ')
      if (!socket.destroyed)
        replyRaw(socket, 502, `bad gateway: no node answered for ${route.service}: tried ${tried}\n`)
      return
    }
    if (socket.destroyed) {
      upstream.destroy()
      return
    }
    upstream.on('error', () => upstream.destroy())
    for (const end of [socket, upstream]) {
      this.tunnels.add(end)
      end.once('close', () => this.tunnels.delete(end))
    }
    req.headers['x-forwarded-host'] ??= req.headers.host
    if (verbose) log(`http: upgrade ${req.headers.host ?? ''}${req.url} → ${formatTarget(target)}`)
    const options = {target: targetUrl(target), agent: new HandOverAgent(upstream)}
    this.options.proxy.ws(req, socket, head, options, (error) => {
      log(`http: ${route.service}: websocket to ${formatTarget(target)}: ${describeErrno(error)}`)
      // Before the 101 nothing has been written to the client: tell it why (http-proxy-3 then ends the socket).
      if (socket.bytesWritten === 0 && !socket.destroyed) {
        socket.write(rawResponse(502, `bad gateway for ${route.service}: ${describeErrno(error)}\n`))
      }
      upstream.destroy()
    })
  }

  /** Cuts every upgraded connection (the end of a shutdown grace period). */
  cutAll(): void {
    for (const socket of this.tunnels) socket.destroy()
  }
}

/** An agent whose only connection is a socket we connected ourselves (the upgrade path's retry). */
class HandOverAgent extends http.Agent {
  private socket: net.Socket | undefined

  constructor(socket: net.Socket) {
    super({keepAlive: false})
    this.socket = socket
  }

  override createConnection(): net.Socket {
    const socket = this.socket
    if (!socket) throw new Error('HandOverAgent: the socket was already handed over')
    this.socket = undefined
    return socket
  }
}

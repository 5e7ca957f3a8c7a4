// Node connections of the router's fast path, kept between clients. A new TCP connection starts with a small
// receive window (about 93 KiB with Linux's default tcp_rmem), which grows only as data flows. Node cannot set
// SO_RCVBUF on a TCP socket, so on a fresh node connection a 1 MiB response came through one window per busy
// event-loop turn: ~90 ms, against ~30 ms on a connection that already carried a response (tcpdump, npm run bench,
// HTTP 1 MiB). nginx keeps its upstream connections (`keepalive`) for the same reason. A connection a client leaves
// between two exchanges, or in the middle of a response that is nearly through, goes here; the next client routed
// to that node takes it.
import type net from 'node:net'

import type {ProbedTarget} from '../servemap/types.js'
import type {ResponseTracker} from './http-head.js'
import {hostPort} from '../net/address.js'
import type {NodeDataHandler} from './socket.js'

/**
 * Kept connections close after this long unused: under the 5 s keepAliveTimeout of Node servers (the commonest
 * backend default), as the slow path's agent does, so a request rarely lands on a connection the node is closing.
 */
export const KEEP_IDLE_MS = 4000
/** Per node address and port: as many as nginx's `keepalive 64`. */
export const KEEP_PER_TARGET = 64
/** A response a client left is read to its end only when this much or less of it is left (the rest is dropped). */
export const FINISH_LIMIT_BYTES = 2 * 1024 * 1024
/** ...and only for this long. */
export const FINISH_LIMIT_MS = 2000

/** A node connection and whoever reads it now (its onData handler only calls `handler`). */
export interface NodeLink {
  socket: net.Socket
  target: ProbedTarget
  handler: NodeDataHandler
}

interface Kept {
  link: NodeLink
  timer: NodeJS.Timeout
  onClose: () => void
}

export class NodePool {
  private readonly kept = new Map<string, Kept[]>()
  private closed = false

  constructor(
    private readonly idleMs = KEEP_IDLE_MS,
    private readonly perTarget = KEEP_PER_TARGET,
  ) {}

  /** Connections kept now, over all targets. */
  get size(): number {
    let count = 0
    for (const list of this.kept.values()) count += list.length
    return count
  }

  /** The connection to `target` kept last (the warmest), or undefined. */
  take(target: ProbedTarget): NodeLink | undefined {
    const kept = this.kept.get(key(target))?.pop()
    if (!kept) return undefined
    clearTimeout(kept.timer)
    kept.link.socket.off('close', kept.onClose)
    return kept.link
  }

  /**
   * Keeps `link` for the next client. `responses` says what is still coming on it: the rest of a response the
   * client left is read and dropped first, if it is framed and short (FINISH_LIMIT_*); otherwise the connection
   * closes. Nothing may have been sent that the node still waits for (a request body in the middle).
   */
  release(link: NodeLink, responses: ResponseTracker): void {
    const {socket} = link
    if (this.closed || socket.destroyed || socket.readableEnded || socket.writableEnded || !responses.framed) {
      socket.destroy()
      return
    }
    // Reading may be stopped for a client that will never drain now (a NodeDataHandler returned false; resume()
    // starts it again): read on, to see the rest of a response or the node's FIN (the queued buffer goes to the GC).
    socket.resume()
    if (responses.idle) return this.keep(link)
    let left = FINISH_LIMIT_BYTES
    const timer = setTimeout(() => socket.destroy(), FINISH_LIMIT_MS).unref()
    const stop = (): void => clearTimeout(timer)
    socket.once('close', stop)
    link.handler = (chunk, done) => {
      responses.feed(chunk)
      done()
      left -= chunk.length
      if (!responses.framed || left < 0) {
        socket.destroy()
      } else if (responses.idle) {
        stop()
        socket.off('close', stop)
        this.keep(link)
      }
      return true
    }
  }

  /** Closes every kept connection; later releases close theirs at once (shutdown). */
  close(): void {
    this.closed = true
    for (const list of this.kept.values()) for (const kept of [...list]) kept.link.socket.destroy()
    this.kept.clear()
  }

  private keep(link: NodeLink): void {
    const {socket} = link
    const list = this.kept.get(key(link.target)) ?? []
    if (this.closed || list.length >= this.perTarget) {
      socket.destroy()
      return
    }
    // Bytes from a node nobody asked (a 408 before it closes an idle connection, or garbage) end the connection.
    link.handler = (_chunk, done) => {
      done()
      socket.destroy()
      return false
    }
    const kept: Kept = {
      link,
      timer: setTimeout(() => socket.destroy(), this.idleMs).unref(),
      onClose: () => {
        clearTimeout(kept.timer)
        const at = list.indexOf(kept)
        if (at >= 0) list.splice(at, 1)
      },
    }
    socket.once('close', kept.onClose)
    list.push(kept)
    this.kept.set(key(link.target), list)
  }
}

function key(target: ProbedTarget): string {
  return hostPort(target.address, target.port)
}

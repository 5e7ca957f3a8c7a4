// A node's /healthz (kube-proxy's node health server), asked over one connection kept per node. The health monitor
// asks every node every 2 s: at 100 nodes a connection each time was a connect, a request, a close and a socket made
// and dropped 50 times a second, most of serve's idle CPU at scale. A kept connection costs a write and a read per
// round. kube-proxy's server is Go's net/http, which keeps HTTP/1.1 connections open by default
// (https://pkg.go.dev/net/http#Server.SetKeepAlivesEnabled); one the node closes, or that answers in a way that
// cannot be followed, is simply made again on the next round.
import net from 'node:net'

import {hostPort} from '../net/address.js'
import {ResponseTracker} from './http-head.js'

/** A status line, as much of it as decides the probe (RFC 9112 §4). */
export const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/
/** A status line longer than this is not one. */
export const STATUS_LINE_MAX_BYTES = 1024

/** One request: its status code, or undefined when no HTTP answer came (refused, reset, timeout, cancelled). */
export interface StatusRun {
  promise: Promise<number | undefined>
  cancel: () => void
}

interface Exchange {
  resolve: (status: number | undefined) => void
  timer: NodeJS.Timeout
  /** The status line so far, until its status is read. */
  head: string
  status?: number
  responses: ResponseTracker
  /** The request went on a connection kept from an earlier one (the node may have closed it meanwhile). */
  reused: boolean
  /** A byte of the answer came. */
  answered: boolean
}

/**
 * GET `path` on `address:port`, one request at a time, over a connection kept between requests; with `keep` false,
 * a connection per request, ended at its status line (`Connection: close`), as a one-off probe does.
 */
export class HealthzClient {
  private socket?: net.Socket
  private exchange?: Exchange
  private closed = false

  constructor(
    private readonly address: string,
    private readonly port: number,
    private readonly path: string,
    private readonly keep = true,
  ) {}

  request(timeoutMs: number): StatusRun {
    this.finish(undefined, false) // one at a time: a request still waiting is given up
    let cancel = (): void => {}
    const promise = new Promise<number | undefined>((resolve) => {
      if (this.closed) return resolve(undefined)
      const timer = setTimeout(() => this.finish(undefined, false), timeoutMs).unref()
      const kept = this.socket !== undefined
      this.exchange = {resolve, timer, head: '', responses: new ResponseTracker(), reused: kept, answered: false}
      cancel = () => {
        if (this.exchange?.resolve === resolve) this.finish(undefined, false)
      }
      this.send()
    })
    return {promise, cancel}
  }

  /** Drops the connection; a request waiting gets undefined, later ones too. */
  close(): void {
    this.closed = true
    this.finish(undefined, false)
    this.drop()
  }

  private send(): void {
    const exchange = this.exchange!
    const socket = (this.socket ??= this.connect())
    exchange.responses.request('GET')
    socket.ref()
    socket.write(
      `GET ${this.path} HTTP/1.1\r\nHost: ${hostPort(this.address, this.port)}\r\n` +
        `User-Agent: kubectl-expose-lb health check\r\n${this.keep ? '' : 'Connection: close\r\n'}\r\n`,
    )
  }

  private connect(): net.Socket {
    const socket = net.connect({host: this.address, port: this.port})
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk))
    socket.on('error', () => {}) // 'close' follows
    socket.on('close', () => this.onClose(socket))
    return socket
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    const exchange = this.exchange
    if (!exchange || socket !== this.socket) return this.drop(socket) // bytes nobody asked for
    exchange.answered = true
    if (exchange.status === undefined) {
      exchange.head += chunk.toString('latin1', 0, STATUS_LINE_MAX_BYTES)
      const status = STATUS_LINE.exec(exchange.head)?.[1]
      if (status !== undefined) exchange.status = Number(status)
      else if (exchange.head.includes('\n') || exchange.head.length >= STATUS_LINE_MAX_BYTES) {
        return this.finish(undefined, false) // not HTTP
      }
    }
    if (exchange.status !== undefined && !this.keep) return this.finish(exchange.status, false)
    exchange.responses.feed(chunk)
    if (exchange.status === undefined) return
    // The whole answer is in: the connection is ready for the next round. One whose end cannot be told (no length,
    // an upgrade) has given its status, and is not kept.
    if (exchange.responses.idle) this.finish(exchange.status, true)
    else if (!exchange.responses.framed) this.finish(exchange.status, false)
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return
    this.socket = undefined
    const exchange = this.exchange
    if (!exchange) return
    // A kept connection the node closed as the request went out (its idle timeout) says nothing about the node:
    // the request goes again on a new connection, once.
    if (exchange.reused && !exchange.answered && !this.closed) {
      exchange.reused = false
      exchange.responses = new ResponseTracker()
      this.send()
      return
    }
    this.finish(exchange.status, false)
  }

  /** Ends the request in flight with `status`; the connection is kept only when `keep` (its answer is complete). */
  private finish(status: number | undefined, keep: boolean): void {
    const exchange = this.exchange
    if (!exchange) return
    this.exchange = undefined
    clearTimeout(exchange.timer)
    if (keep) this.socket?.unref()
    else this.drop()
    exchange.resolve(status)
  }

  private drop(socket = this.socket): void {
    if (socket === this.socket) this.socket = undefined
    socket?.destroy()
  }
}

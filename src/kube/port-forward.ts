// One TCP stream to a Pod's port through the API server: a `pods/portforward` WebSocket speaking
// v4.channel.k8s.io (src/kube/portforward-channel.ts), as a Node Duplex. One WebSocket per stream, as client-node's
// PortForward opens one per local connection (node_modules/@kubernetes/client-node/dist/portforward.js). v4 has no
// half-close: client-node closes the WebSocket as soon as its input ends, which cuts off the answer to a client that
// sends a request and half-closes (`nc -N`, HTTP/1.0 tools). Here the WebSocket closes once the Pod has been quiet
// for END_LINGER_MS after the end, or ended itself.
import {Duplex} from 'node:stream'

import WebSocket from 'ws'

import {TimeoutError} from '../errors.js'
import type {ApiClient} from './client.js'
import {dataChannel, encodeFrame, PORT_FORWARD_PROTOCOL, PortForwardReader} from './portforward-channel.js'

/** A Pod's port: where one stream goes. */
export interface PodPort {
  namespace: string
  pod: string
  port: number
}

/**
 * Why a stream did not open. `forbidden`: RBAC (403); `gone`: the Pod is not there or not running (404, 400);
 * `unreachable`: no answer from the API server; `refused`: any other answer.
 */
export type PortForwardFailure = 'forbidden' | 'gone' | 'unreachable' | 'refused'

/** A stream that did not open, with the API server's own words when it gave some. */
export class PortForwardError extends Error {
  override readonly name = 'PortForwardError'
  constructor(
    readonly reason: PortForwardFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** How long the upgrade and the port header may take before the next endpoint is tried. */
export const OPEN_TIMEOUT_MS = 5000

/** After the writable side ended: how long the Pod may stay silent before the stream closes. */
export const END_LINGER_MS = 500

/** Received WebSocket messages held for a slow reader before the socket is paused. */
const READ_HIGH_WATER_BYTES = 1024 * 1024

/** The portforward subresource path of a Pod port (the API server's PodPortForwardOptions take `ports`). */
export function portForwardPath(target: PodPort): string {
  const ns = encodeURIComponent(target.namespace)
  return `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(target.pod)}/portforward?ports=${target.port}`
}

/** A Duplex over one port-forward WebSocket: bytes written go to the Pod, bytes read come from it. */
class PortForwardStream extends Duplex {
  private linger?: NodeJS.Timeout

  constructor(private readonly ws: WebSocket) {
    super({allowHalfOpen: true, readableHighWaterMark: READ_HIGH_WATER_BYTES})
    ws.once('close', () => clearTimeout(this.linger))
  }

  /** Data from the Pod; a full buffer pauses the WebSocket until _read. */
  deliver(data: Buffer): void {
    if (this.linger) this.armLinger()
    if (!this.push(data)) this.ws.pause()
  }

  private armLinger(): void {
    clearTimeout(this.linger)
    this.linger = setTimeout(() => this.ws.close(1000), END_LINGER_MS)
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return callback(new Error('the port-forward stream is closed'))
    this.ws.send(encodeFrame(dataChannel(0), chunk), callback)
  }

  override _final(callback: () => void): void {
    this.armLinger()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.linger)
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.terminate()
    callback(error)
  }
}

/**
 * Opens a stream to `target` and resolves once the server took it (the data channel's port header came), or
 * rejects with a PortForwardError. Afterwards an error-channel message destroys the stream with that text, and the
 * WebSocket closing ends it cleanly.
 */
export async function openPortForward(api: ApiClient, target: PodPort, timeoutMs = OPEN_TIMEOUT_MS): Promise<Duplex> {
  const options = await api.streamOptions()
  const url = api.server.replace(/^http/, 'ws').replace(/\/$/, '') + portForwardPath(target)
  const where = `${target.namespace}/${target.pod}:${target.port}`
  return new Promise<Duplex>((resolve, reject) => {
    const ws = new WebSocket(url, [PORT_FORWARD_PROTOCOL], {...options, perMessageDeflate: false})
    const reader = new PortForwardReader(target.port)
    const stream = new PortForwardStream(ws)
    let opened = false
    const fail = (error: PortForwardError): void => {
      clearTimeout(timer)
      if (opened) return void stream.destroy(error)
      ws.terminate()
      reject(error)
    }
    const timer = setTimeout(
      () => fail(new PortForwardError('unreachable', new TimeoutError(`port-forward to ${where}`, timeoutMs).message)),
      timeoutMs,
    )
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => {})
      res.on('end', () => {
        const status = res.statusCode ?? 0
        let said = ''
        try {
          said = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as {message?: string}).message ?? ''
        } catch {
          /* not a Status object */
        }
        const reason: PortForwardFailure =
          status === 403 ? 'forbidden' : status === 404 || status === 400 ? 'gone' : 'refused'
        fail(new PortForwardError(reason, `port-forward to ${where}: ${status}${said ? ` ${said}` : ''}`, status))
      })
    })
    ws.on('error', (error: Error) => {
      if (opened) return void stream.destroy(error)
      fail(new PortForwardError('unreachable', `port-forward to ${where}: ${error.message}`))
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return
      for (const event of reader.read(data)) {
        if (event.kind === 'port' && event.channel === 'data' && !opened) {
          opened = true
          clearTimeout(timer)
          resolve(stream)
        } else if (event.kind === 'data') {
          stream.deliver(event.data)
        } else if (event.kind === 'error') {
          fail(new PortForwardError('refused', `port-forward to ${where}: ${event.message}`))
        } else if (event.kind === 'invalid') {
          fail(new PortForwardError('refused', `port-forward to ${where}: the server sent ${event.reason}`))
        }
      }
    })
    ws.on('close', () => {
      if (!opened) return fail(new PortForwardError('unreachable', `port-forward to ${where}: closed before it opened`))
      stream.push(null)
      stream.end()
    })
  })
}

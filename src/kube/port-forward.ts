// One TCP stream to a Pod's port through the API server: a `pods/portforward` WebSocket speaking
// v4.channel.k8s.io (src/kube/portforward-channel.ts), as a Node Duplex. One WebSocket per stream, as client-node's
// PortForward opens one per local connection (node_modules/@kubernetes/client-node/dist/portforward.js). v4 has no
// half-close: client-node closes the WebSocket as soon as its input ends, which cuts off the answer to a client that
// sends a request and half-closes (`nc -N`, HTTP/1.0 tools). Here the WebSocket closes once the Pod has been quiet
// for END_LINGER_MS after the end, or ended itself.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import {Duplex} from 'node:stream'

import {TimeoutError} from '../errors.js'
import {whenFlushed} from '../proxy/flushed.js'
import type {ApiClient} from './client.js'
import {dataChannel, PORT_FORWARD_PROTOCOL} from './portforward-channel.js'
import {acceptValue, encodeClientFrame, FrameReader, OPCODE, takeRandom, type FrameHandler} from './websocket-frames.js'

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

/** How long a close frame this side sent may wait for the server's before the connection is cut. */
const CLOSE_WAIT_MS = 1000

/** Normal closure (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000

/**
 * Reads from the API server of a relayed stream (relayTo) land in pooled buffers of this size instead of a fresh
 * 64 KiB allocation per read (libuv's default), as the TCP forwarder reads from nodes (src/proxy/socket.ts): fewer
 * reads, and no garbage whose collection cost serve's V8 threads about as much CPU as the relaying itself.
 */
const RELAY_READ_BYTES = 256 * 1024
/** Free read buffers kept for reuse; a buffer is out while its bytes wait in the client socket's queue. */
const RELAY_POOL_LIMIT = 64
const relayPool: Buffer[] = []

function giveBack(buffer: Buffer): void {
  if (relayPool.length < RELAY_POOL_LIMIT) relayPool.push(buffer)
}

/** How a stream reports to the opener until it opened, and its failures afterwards. */
interface Opener {
  opened(): void
  fail(error: PortForwardError): void
}

/**
 * A Duplex over one port-forward WebSocket on the upgraded socket: bytes written go to the Pod, bytes read come from
 * it. The server's frames are read as a stream (websocket-frames.ts FrameReader), so a download's bytes are pushed
 * as the slices the socket read, without assembling messages; a full read buffer pauses the socket.
 */
class PortForwardStream extends Duplex implements FrameHandler {
  private linger?: NodeJS.Timeout
  private readonly frames = new FrameReader(this)
  /** The channel of the message being read: undefined before its first byte, -1 for a text message (ignored). */
  private channel: number | undefined
  /** Port header bytes still to come on channels 0 and 1, and the bytes so far. */
  private readonly headerLeft = [2, 2]
  private readonly headerBytes = [0, 0]
  private errorText: Buffer[] = []
  /** The Pod's data in the read being taken apart. */
  private pieces: Buffer[] = []
  private closeSent = false
  private isOpen = false
  /** Where the Pod's data goes once relayTo was called; before, it is pushed to this Duplex's readable side. */
  private relay?: net.Socket
  /** The connection to the API server closed: the stream has all it will get. */
  private apiClosed = false

  constructor(
    private socket: net.Socket,
    private readonly port: number,
    private readonly opener: Opener,
  ) {
    super({allowHalfOpen: true, readableHighWaterMark: READ_HIGH_WATER_BYTES})
  }

  /** Starts reading: `head` is what came with the upgrade's answer. */
  start(head: Buffer): void {
    if (head.length) this.readFrames(head)
    this.socket.on('data', this.onData)
    this.watch(this.socket)
  }

  private readonly onData = (chunk: Buffer): void => void this.readFrames(chunk)

  /** The end, errors and close of the connection to the API server. */
  private watch(socket: net.Socket): void {
    socket.on('end', () => socket.end())
    socket.on('error', (error: Error) => {
      if (this.isOpen) this.destroy(error)
      else this.opener.fail(new PortForwardError('unreachable', error.message))
    })
    socket.on('close', () => {
      clearTimeout(this.linger)
      if (!this.isOpen) return this.opener.fail(new PortForwardError('unreachable', 'closed before it opened'))
      this.apiClosed = true
      this.relay?.end()
      this.push(null)
      this.end()
    })
  }

  /**
   * From now on the Pod's data is written straight to `to`, which ends when the stream does; this Duplex's
   * readable side only ends. Each read's data goes out in one writev (corked), and a read waits until `to` wrote
   * the previous one. A plain TCP connection to the API server moves to pooled reads (RELAY_READ_BYTES).
   */
  relayTo(to: net.Socket): void {
    this.relay = to
    let buffered: Buffer | null
    while ((buffered = this.read() as Buffer | null) !== null) to.write(buffered)
    this.resume() // nothing more is pushed; flowing lets the readable side end
    if (this.apiClosed) return void to.end()
    this.readPooled()
  }

  /**
   * Moves the connection's handle to a socket that reads into pooled buffers, as src/proxy/socket.ts
   * adoptWithPooledReads does for accepted clients: Node takes `onread` only for sockets it creates, and the http
   * client had made this one. Only a plain TCP socket with nothing queued for writing; otherwise it stays as it is.
   */
  private readPooled(): void {
    const old = this.socket
    const internal = old as unknown as {_handle?: {readStop?: () => number; reading?: boolean} | null}
    const handle = internal._handle
    if ('encrypted' in old || !handle || typeof handle.readStop !== 'function') return
    if (old.destroyed || old.writableLength > 0 || !old.writable) return
    old.off('data', this.onData)
    if (handle.reading) {
      handle.readStop()
      handle.reading = false
    }
    // What the old socket read already, before its handle moves on.
    let buffered: Buffer | null
    while ((buffered = old.read() as Buffer | null) !== null) this.readFrames(buffered)
    old.removeAllListeners('end')
    old.removeAllListeners('error')
    old.removeAllListeners('close')
    old.on('error', () => {})
    internal._handle = null
    let current: Buffer | undefined
    const socket: net.Socket = new net.Socket({
      handle,
      allowHalfOpen: old.allowHalfOpen,
      readable: true,
      writable: true,
      onread: {
        buffer: (): Buffer => (current ??= relayPool.pop() ?? Buffer.allocUnsafeSlow(RELAY_READ_BYTES)),
        callback: (length: number, buffer: Uint8Array): boolean => {
          const pooled = buffer as Buffer
          current = undefined
          const taken = this.readFrames(pooled.subarray(0, length), () => giveBack(pooled))
          if (taken) giveBack(pooled)
          return taken
        },
      },
    } as net.SocketConstructorOpts)
    socket.once('close', () => {
      if (current) giveBack(current)
      current = undefined
    })
    this.socket = socket
    this.watch(socket)
  }

  messageStart(binary: boolean): void {
    this.channel = binary ? undefined : -1
  }

  payload(data: Buffer): void {
    if (this.channel === -1) return
    if (this.channel === undefined) {
      const channel = data[0]!
      if (channel > 1) return this.invalid(`a message on channel ${channel}; one port uses 0 and 1`)
      this.channel = channel
      data = data.subarray(1)
    }
    const channel = this.channel
    if (this.headerLeft[channel]! > 0) {
      const take = Math.min(this.headerLeft[channel]!, data.length)
      // Little endian: the first byte is the low one.
      for (let i = 0; i < take; i++) this.headerBytes[channel]! |= data[i]! << (8 * (2 - this.headerLeft[channel]!--))
      data = data.subarray(take)
      if (this.headerLeft[channel] === 0) {
        const port = this.headerBytes[channel]!
        if (port !== this.port) return this.invalid(`port header ${port}, but ${this.port} was asked`)
        if (channel === 0 && !this.isOpen) {
          this.isOpen = true
          this.opener.opened()
        }
      }
    }
    if (data.length === 0) return
    if (channel === 1)
      this.errorText.push(Buffer.from(data)) // a copy: the read buffer may be pooled
    else this.deliver(data)
  }

  messageEnd(): void {
    if (this.channel === undefined) return this.invalid('an empty message (no channel byte)')
    if (this.channel === 1 && this.errorText.length) {
      const message = Buffer.concat(this.errorText).toString('utf8')
      this.errorText = []
      this.opener.fail(new PortForwardError('refused', message))
    }
  }

  control(opcode: number, data: Buffer): void {
    if (opcode === OPCODE.PING) this.sendFrame(OPCODE.PONG, [data])
    else if (opcode === OPCODE.CLOSE) {
      // Answer the server's close with one of ours (echoing its code, RFC 6455 §5.5.1), then end the connection.
      this.sendClose(data.subarray(0, 2))
      this.socket.end()
    }
  }

  invalid(reason: string): void {
    this.opener.fail(new PortForwardError('refused', `the server sent ${reason}`))
  }

  /**
   * One read's frames. The Pod's data in them is pushed, or written to the relay's client in one writev: a read
   * usually holds the end of one message and the start of the next. Returns whether the read's buffer is free
   * already; if not, reading pauses, and `release` is called once the client took the bytes.
   */
  private readFrames(chunk: Buffer, release?: () => void): boolean {
    this.frames.read(chunk)
    const pieces = this.pieces
    if (pieces.length === 0) return true
    this.pieces = []
    if (this.linger) this.armLinger()
    const to = this.relay
    if (!to) {
      let more = true
      for (const piece of pieces) more = this.push(piece)
      if (!more) this.socket.pause()
      return true
    }
    to.cork()
    for (const piece of pieces) to.write(piece)
    to.uncork()
    if (to.writableLength === 0) return true
    this.socket.pause()
    whenFlushed(to, () => {
      release?.()
      this.socket.resume() // the socket reading now (readPooled may have moved the connection meanwhile)
    })
    return false
  }

  /** Data from the Pod, pushed once the read it came in has been taken apart. */
  private deliver(data: Buffer): void {
    this.pieces.push(data)
  }

  private armLinger(): void {
    clearTimeout(this.linger)
    this.linger = setTimeout(() => this.close(), END_LINGER_MS)
  }

  /** Sends a normal close frame; a server that does not answer it is cut off after CLOSE_WAIT_MS. */
  private close(): void {
    const code = Buffer.allocUnsafe(2)
    code.writeUInt16BE(CLOSE_NORMAL)
    this.sendClose(code)
    setTimeout(() => this.socket.destroy(), CLOSE_WAIT_MS).unref()
  }

  private sendClose(payload: Buffer): void {
    if (this.closeSent) return
    this.closeSent = true
    this.sendFrame(OPCODE.CLOSE, [payload])
  }

  private sendFrame(opcode: number, parts: Buffer[], callback?: (error?: Error | null) => void): void {
    if (this.socket.writable) this.socket.write(encodeClientFrame(opcode, parts), callback)
    else callback?.(new Error('the port-forward stream is closed'))
  }

  override _read(): void {
    if (this.socket.isPaused()) this.socket.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.closeSent || !this.socket.writable) return callback(new Error('the port-forward stream is closed'))
    this.socket.write(encodeClientFrame(OPCODE.BINARY, [chunk], dataChannel(0)), callback)
  }

  /** Writes queued while the socket was busy go out as one message (one header, one masking pass). */
  override _writev(
    chunks: Array<{chunk: Buffer; encoding: BufferEncoding}>,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.closeSent || !this.socket.writable) return callback(new Error('the port-forward stream is closed'))
    const parts = chunks.map((c) => c.chunk)
    this.socket.write(encodeClientFrame(OPCODE.BINARY, parts, dataChannel(0)), callback)
  }

  override _final(callback: () => void): void {
    this.armLinger()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.linger)
    this.socket.destroy()
    callback(error)
  }
}

/** The text of a refused upgrade: the Status object's message when the body is one. */
function statusMessage(body: Buffer): string {
  try {
    return (JSON.parse(body.toString('utf8')) as {message?: string}).message ?? ''
  } catch {
    return '' // not a Status object
  }
}

/**
 * Opens a stream to `target` and resolves once the server took it (the data channel's port header came), or
 * rejects with a PortForwardError. Afterwards an error-channel message destroys the stream with that text, and the
 * WebSocket closing ends it cleanly. The upgrade is an ordinary request through node:http(s) with the client's
 * TLS options and credentials (RFC 6455 §4.1); the frames on the upgraded socket are read and written here.
 */
export async function openPortForward(api: ApiClient, target: PodPort, timeoutMs = OPEN_TIMEOUT_MS): Promise<Duplex> {
  const options = await api.streamOptions()
  const url = new URL(api.server.replace(/\/$/, '') + portForwardPath(target))
  const where = `${target.namespace}/${target.pod}:${target.port}`
  return new Promise<Duplex>((resolve, reject) => {
    const nonce = Buffer.allocUnsafe(16)
    takeRandom(nonce)
    const key = nonce.toString('base64')
    const request = (url.protocol === 'https:' ? https : http).request({
      ...options,
      agent: options.agent ?? false,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      path: url.pathname + url.search,
      method: 'GET',
      headers: {
        ...options.headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Protocol': PORT_FORWARD_PROTOCOL,
      },
    })
    let stream: PortForwardStream | undefined
    let settled = false
    const fail = (error: PortForwardError): void => {
      clearTimeout(timer)
      // After the open, in a later turn: the error text may come in the same read as the port header, and whoever
      // awaits the stream must get to listen for its errors first.
      if (settled) return void setImmediate(() => stream?.destroy(error))
      settled = true
      request.destroy()
      stream?.destroy()
      reject(error)
    }
    const failed = (reason: PortForwardFailure, why: string, status?: number): void =>
      fail(new PortForwardError(reason, `port-forward to ${where}: ${why}`, status))
    const timer = setTimeout(
      () => fail(new PortForwardError('unreachable', new TimeoutError(`port-forward to ${where}`, timeoutMs).message)),
      timeoutMs,
    )
    request.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => {})
      res.on('end', () => {
        const status = res.statusCode ?? 0
        const said = statusMessage(Buffer.concat(chunks))
        const reason: PortForwardFailure =
          status === 403 ? 'forbidden' : status === 404 || status === 400 ? 'gone' : 'refused'
        failed(reason, `${status}${said ? ` ${said}` : ''}`, status)
      })
    })
    request.on('upgrade', (res, socket: net.Socket, head: Buffer) => {
      if (res.headers['sec-websocket-accept'] !== acceptValue(key)) {
        socket.destroy()
        return failed('refused', 'the server answered the upgrade with a wrong Sec-WebSocket-Accept')
      }
      if (res.headers['sec-websocket-protocol'] !== PORT_FORWARD_PROTOCOL) {
        socket.destroy()
        return failed('refused', `the server did not agree to ${PORT_FORWARD_PROTOCOL}`)
      }
      // Small writes (a request, a keystroke) go out at once rather than after the last one is acknowledged.
      socket.setNoDelay(true)
      stream = new PortForwardStream(socket, target.port, {
        opened: () => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(stream!)
        },
        fail: (error) => failed(error.reason, error.message),
      })
      stream.start(head)
    })
    request.on('error', (error: Error) => failed('unreachable', error.message))
    request.end()
  })
}

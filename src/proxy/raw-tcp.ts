// Relays on Node's TCP handles themselves, without net.Socket. A per-service TCP address and the HTTPS-by-SNI
// listener splice each client to a node and pass its bytes through untouched; on net.Socket that costs three Socket
// objects, two stream pipes, a promise chain and timers per connection. On the handles below a connection cost
// 125 µs of CPU against 185 µs for the plainest net.Socket splice and 264 µs for serve's own (npm run bench, TCP
// section, reference rows; docs/performance.md). So those two paths take the handle out of the socket Node's
// server accepted and work on it directly: a read goes to the peer as a write of the same bytes, a FIN as a shutdown.
//
// The handles are Node's internal bindings (`process.binding('tcp_wrap')`, `'stream_wrap'`), the ones lib/net.js and
// lib/internal/stream_base_commons.js drive: `readStart`, `writeBuffer`, `shutdown`, `close`, `reset`. They are the
// same on Node 20, 22 and 24 (checked on 20.20.2, 22.23.5, 24.22.3), but not a public interface: `rawTcp` is
// undefined wherever they do not have that shape, or when the user asked Node to warn about pending deprecations
// (process.binding is DEP0111, which warns only then), and the callers keep their net.Socket path for that case.
import net from 'node:net'
import {getSystemErrorName} from 'node:util'

import {TimeoutError} from '../errors.js'
import {hostPort} from '../net/address.js'
import type {ProbedTarget} from '../servemap/types.js'
import {forgetRelay, noteRead} from './accept-turns.js'
import type {ConnectFailure} from './socket.js'

/** A TCP stream handle (lib/net.js `socket._handle`). */
export interface TcpHandle {
  /** Must always be a function: Node asserts that it is (a native CHECK that ends the process). */
  onread: (arrayBuffer: ArrayBuffer | undefined) => void
  readStart(): number
  readStop(): number
  useUserBuffer(buffer: Uint8Array): void
  writeBuffer(req: WriteReq, data: Uint8Array): number
  shutdown(req: ShutdownReq): number
  close(callback?: () => void): void
  reset(callback?: () => void): number
  setNoDelay(on: boolean): number
  setKeepAlive(on: boolean, delaySeconds: number): number
  connect(req: ConnectReq, address: string, port: number): number
  connect6(req: ConnectReq, address: string, port: number): number
  getpeername(out: {address?: string; port?: number}): number
}
interface WriteReq {
  handle: TcpHandle
  oncomplete: (status: number) => void
  async: boolean
}
interface ShutdownReq {
  handle: TcpHandle
  oncomplete: (status: number) => void
}
interface ConnectReq {
  oncomplete: (status: number) => void
  address: string
  port: number
}

interface RawTcp {
  newSocketHandle: () => TcpHandle
  newConnectReq: () => ConnectReq
  newWriteReq: () => WriteReq
  newShutdownReq: () => ShutdownReq
  /** Where a read's length (or error) and its offset land (stream_base_commons.js onStreamRead). */
  state: Int32Array
  kReadBytesOrError: number
  kArrayBufferOffset: number
  kLastWriteWasAsync: number
}

/** libuv's UV_EOF, as a read's "length" when the peer sent its FIN. */
const UV_EOF = -4095

/** For a handle whose reads nobody wants any more (onread must stay a function). */
const ignoreRead = (): void => {}

function loadRawTcp(): RawTcp | undefined {
  const pendingDeprecation =
    process.execArgv.includes('--pending-deprecation') || /--pending-deprecation/.test(process.env.NODE_OPTIONS ?? '')
  const binding = (process as unknown as {binding?: (name: string) => Record<string, unknown>}).binding
  if (pendingDeprecation || typeof binding !== 'function') return undefined
  try {
    const tcp = binding('tcp_wrap') as {
      TCP?: new (type: number) => TcpHandle
      TCPConnectWrap?: new () => ConnectReq
      constants?: {SOCKET?: number}
    }
    const stream = binding('stream_wrap') as {
      WriteWrap?: new () => WriteReq
      ShutdownWrap?: new () => ShutdownReq
      streamBaseState?: Int32Array
      kReadBytesOrError?: number
      kArrayBufferOffset?: number
      kLastWriteWasAsync?: number
    }
    const {TCP, TCPConnectWrap, constants} = tcp
    const {WriteWrap, ShutdownWrap, streamBaseState} = stream
    const socketType = constants?.SOCKET
    if (!TCP || !TCPConnectWrap || !WriteWrap || !ShutdownWrap || socketType === undefined) return undefined
    if (!(streamBaseState instanceof Int32Array)) return undefined
    const {kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync} = stream
    if (kReadBytesOrError === undefined || kArrayBufferOffset === undefined || kLastWriteWasAsync === undefined)
      return undefined
    const probe = new TCP(socketType)
    const methods = [
      'readStart',
      'readStop',
      'useUserBuffer',
      'writeBuffer',
      'shutdown',
      'reset',
      'connect',
      'connect6',
    ]
    const complete = methods.every((m) => typeof (probe as unknown as Record<string, unknown>)[m] === 'function')
    probe.close()
    if (!complete) return undefined
    return {
      newSocketHandle: () => new TCP(socketType),
      newConnectReq: () => new TCPConnectWrap(),
      newWriteReq: () => new WriteWrap(),
      newShutdownReq: () => new ShutdownWrap(),
      state: streamBaseState,
      kReadBytesOrError,
      kArrayBufferOffset,
      kLastWriteWasAsync,
    }
  } catch {
    return undefined
  }
}

/** The bindings, or undefined where this Node does not offer them as expected (callers use net.Socket then). */
export const rawTcp: RawTcp | undefined = loadRawTcp()

/**
 * Takes over a listening net.Server's accept: each connection comes to `onHandle` as a TCP handle, not read yet,
 * instead of as a net.Socket (what Node's own accept builds cost about 45 µs per connection here, more than the
 * relay itself). The server still binds, closes and reports errors as before, but counts none of these
 * connections: `server.close()` does not wait for them, whoever takes the handles does. False, and nothing
 * changed, where the bindings are missing or the server holds no handle to take over.
 */
export function acceptOnHandles(server: net.Server, onHandle: (handle: TcpHandle) => void): boolean {
  const handle = (server as unknown as {_handle?: {onconnection?: unknown} | null})._handle
  if (!rawTcp || !handle || typeof handle.onconnection !== 'function') return false
  // lib/net.js onconnection(err, clientHandle), called by the server handle for each accept.
  handle.onconnection = (status: number, client?: TcpHandle): void => {
    if (status < 0 || !client) server.emit('error', uvError(status, 'accept'))
    else onHandle(client)
  }
  return true
}

/** A net.Socket on a handle acceptOnHandles gave, as Node's accept makes it (paused, half-open capable). */
export function socketFromHandle(handle: TcpHandle): net.Socket {
  return new net.Socket({
    handle,
    allowHalfOpen: true,
    pauseOnCreate: true,
    readable: true,
    writable: true,
  } as net.SocketConstructorOpts)
}

/** The peer of a connected handle (address and port; empty where the kernel has none), for logs. */
export function peerOf(handle: TcpHandle): {address?: string; port?: number} {
  const out: {address?: string; port?: number} = {}
  handle.getpeername(out)
  return out
}

/** A libuv status as the Error Node would make of it (code, errno, syscall, address, port). */
function uvError(status: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  let code: string
  try {
    code = getSystemErrorName(status)
  } catch {
    code = `E${-status}`
  }
  const where = address === undefined ? '' : ` ${hostPort(address, port ?? 0)}`
  return Object.assign(new Error(`${syscall} ${code}${where}`), {code, errno: status, syscall, address, port})
}

/** Connects a new handle to one target, or fails with the error Node would give (a TimeoutError after timeoutMs). */
function connectOne(target: ProbedTarget, timeoutMs: number, done: (error?: Error, handle?: TcpHandle) => void): void {
  const raw = rawTcp!
  const handle = raw.newSocketHandle()
  const req = raw.newConnectReq()
  req.address = target.address
  req.port = target.port
  let settled = false
  const finish = (error?: Error): void => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    if (error) {
      handle.close()
      done(error)
    } else done(undefined, handle)
  }
  req.oncomplete = (status) => finish(status < 0 ? uvError(status, 'connect', target.address, target.port) : undefined)
  const timer = setTimeout(
    () => finish(new TimeoutError(`connect to ${hostPort(target.address, target.port)}`, timeoutMs)),
    timeoutMs,
  ).unref()
  const status = target.address.includes(':')
    ? handle.connect6(req, target.address, target.port)
    : handle.connect(req, target.address, target.port)
  if (status < 0) finish(uvError(status, 'connect', target.address, target.port))
}

export interface RawConnectOptions {
  timeoutMs: number
  onFailure?: (failure: ConnectFailure) => void
  /** Checked between attempts: true stops trying (the client went away). */
  cancelled?: () => boolean
}

/** The first target that accepted, with its handle, and the failures on the way (socket.ts connectFirst's twin). */
export interface RawConnectResult {
  handle?: TcpHandle
  target?: ProbedTarget
  failures: ConnectFailure[]
}

/** Tries `ordered` one after the other until a connect succeeds; calls `done` once. */
export function connectFirstRaw(
  ordered: ProbedTarget[],
  options: RawConnectOptions,
  done: (result: RawConnectResult) => void,
): void {
  const failures: ConnectFailure[] = []
  const attempt = (index: number): void => {
    const target = ordered[index]
    if (!target || options.cancelled?.()) return done({failures})
    connectOne(target, options.timeoutMs, (error, handle) => {
      if (handle) return done({handle, target, failures})
      const failure = {target, error: error!}
      failures.push(failure)
      options.onFailure?.(failure)
      attempt(index + 1)
    })
  }
  attempt(0)
}

/**
 * Node reads land in pooled buffers, as socket.ts does for net.Socket (its NODE_READ_BYTES: four times fewer reads
 * than libuv's 64 KiB and no garbage per read). A side holds one while it is open; closed sides give theirs back.
 */
const READ_BYTES = 256 * 1024
const POOL_LIMIT = 64
const pool: Buffer[] = []

/** How a relay runs. */
export interface RawRelayOptions {
  /** Bytes read from the client before the relay started (an SNI ClientHello), sent to the node first. */
  first?: Uint8Array
  /** Both directions closed for this long without a byte: both ends are closed (0: never). */
  idleTimeoutMs: number
  /** TCP keep-alive on both ends, probing after this long idle (undefined: off). */
  keepAliveMs?: number
  /** Both ends are closed; `error` when a side failed (the other was reset then), for verbose logs. */
  onClose: (error?: Error) => void
  /** Called when the idle timeout closes the relay (before onClose). */
  onIdle?: () => void
}

/** A write request that knows its relay and the side whose read it carries (no closure per write). */
interface RelayWrite extends Omit<WriteReq, 'oncomplete'> {
  relay: RawRelay
  from?: Side
  oncomplete: (this: RelayWrite, status: number) => void
}

/** Node calls it on the request once a write the kernel could not take at once is through, or failed. */
function afterWrite(this: RelayWrite, status: number): void {
  if (status < 0) return this.relay.fail(uvError(status, 'write'))
  this.from?.wrote()
}

/**
 * One direction's reader: reads from `handle` and writes to its peer's. Its names match net.Socket's where the
 * accept-turns module pauses and resumes active readers.
 */
class Side {
  peer!: Side
  buffer?: Buffer
  /** This side's FIN came in (nothing more to read). */
  readableEnded = false
  /** This side's FIN went on to the peer (its shutdown is done): this direction is finished. */
  finished = false
  destroyed = false
  /** Paused by the accept turns (accept-turns.ts). */
  private held = false
  /** A write to the peer waits in the kernel's queue: reading waits with it. */
  private writing = false

  constructor(
    readonly handle: TcpHandle,
    private readonly relay: RawRelay,
  ) {}

  start(): void {
    this.buffer = pool.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES)
    this.handle.useUserBuffer(this.buffer)
    this.handle.onread = this.onRead
    this.handle.readStart()
  }

  isPaused(): boolean {
    return this.held || this.writing
  }

  pause(): void {
    this.held = true
    this.handle.readStop()
  }

  resume(): void {
    this.held = false
    this.readOn()
  }

  private readOn(): void {
    if (!this.held && !this.writing && !this.readableEnded && !this.destroyed) this.handle.readStart()
  }

  /** A write of what this side read is through: read on. */
  wrote(): void {
    this.writing = false
    this.readOn()
  }

  /** Writes `bytes` to this side's handle; false when the relay was cut instead. */
  write(bytes: Uint8Array, from: Side | undefined): boolean {
    const raw = rawTcp!
    const req = raw.newWriteReq() as RelayWrite
    req.handle = this.handle
    req.async = false
    req.relay = this.relay
    req.from = from
    req.oncomplete = afterWrite
    const status = this.handle.writeBuffer(req, bytes)
    if (status < 0) {
      this.relay.fail(uvError(status, 'write'))
      return false
    }
    if (from && raw.state[raw.kLastWriteWasAsync]) {
      from.writing = true
      from.handle.readStop()
    }
    return true
  }

  private readonly onRead = (): void => {
    const raw = rawTcp!
    const nread = raw.state[raw.kReadBytesOrError]!
    if (nread > 0) {
      this.relay.lastActiveMs = Date.now()
      if (this.peer.destroyed) return
      if (this.peer.write(this.buffer!.subarray(0, nread), this)) noteRead(this, !this.isPaused())
      return
    }
    if (nread === 0) return
    if (nread !== UV_EOF) return this.relay.fail(uvError(nread, 'read'))
    // The FIN: pass it on once every byte before it is written (a shutdown waits for the queued writes).
    this.readableEnded = true
    this.handle.readStop()
    forgetRelay(this)
    const req = raw.newShutdownReq()
    req.handle = this.peer.handle
    req.oncomplete = (status) => {
      if (status < 0) return this.relay.fail(uvError(status, 'shutdown'))
      this.finished = true
      if (this.peer.finished) this.relay.close()
    }
    const status = this.peer.handle.shutdown(req)
    if (status < 0) this.relay.fail(uvError(status, 'shutdown'))
  }

  /** Closes the handle (reset: the peer sees a reset rather than a clean close) and gives the buffer back. */
  close(reset: boolean, closed: () => void): void {
    if (this.destroyed) return closed()
    this.destroyed = true
    forgetRelay(this)
    this.handle.onread = ignoreRead
    const done = (): void => {
      if (this.buffer && pool.length < POOL_LIMIT) pool.push(this.buffer)
      this.buffer = undefined
      closed()
    }
    if (!reset || this.handle.reset(done) < 0) this.handle.close(done)
  }
}

/**
 * Two connected handles, spliced both ways: each read is written to the other side as is (reading waits while a
 * write waits), a FIN becomes a shutdown of the other side's sending half (half-closed conversations work), an error
 * on either side resets the other, and the two close once both directions are finished.
 */
export class RawRelay {
  /** Date.now() of the last byte either way, for the idle timeout. */
  lastActiveMs = Date.now()
  private readonly client: Side
  private readonly node: Side
  private timer?: NodeJS.Timeout
  private ended = false

  constructor(
    client: TcpHandle,
    node: TcpHandle,
    private readonly options: RawRelayOptions,
  ) {
    this.client = new Side(client, this)
    this.node = new Side(node, this)
    this.client.peer = this.node
    this.node.peer = this.client
    for (const side of [this.client, this.node]) {
      side.handle.setNoDelay(true)
      if (options.keepAliveMs) side.handle.setKeepAlive(true, Math.floor(options.keepAliveMs / 1000))
    }
    if (options.first && options.first.length > 0 && !this.node.write(options.first, undefined)) return
    this.client.start()
    this.node.start()
    if (options.idleTimeoutMs > 0) this.armIdle(options.idleTimeoutMs)
  }

  /** Closes both ends at once, as net.Socket's destroy() does (a shutdown's grace period ran out). */
  cut(): void {
    this.end(false)
  }

  /** A side failed: the other is reset. */
  fail(error: Error): void {
    this.end(true, error)
  }

  /** Both directions finished: close both ends. */
  close(): void {
    this.end(false)
  }

  private end(reset: boolean, error?: Error): void {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.timer)
    let open = 2
    const closed = (): void => {
      if (--open === 0) this.options.onClose(error)
    }
    this.client.close(reset, closed)
    this.node.close(reset, closed)
  }

  private armIdle(idleMs: number): void {
    const check = (): void => {
      const idleFor = Date.now() - this.lastActiveMs
      if (idleFor < idleMs) {
        this.timer = setTimeout(check, idleMs - idleFor).unref()
        return
      }
      this.options.onIdle?.()
      this.end(false)
    }
    this.timer = setTimeout(check, idleMs).unref()
  }
}

/**
 * Reads a client's first bytes on its handle (the SNI listener's ClientHello) before any relay exists: `onBytes`
 * gets each read (in a buffer of its own), or `undefined` at the client's FIN; an error closes nothing and calls `onError`.
 * Returns a function that stops reading.
 */
export function readFirstBytes(
  handle: TcpHandle,
  onBytes: (bytes: Buffer | undefined) => void,
  onError: (error: Error) => void,
): () => void {
  const raw = rawTcp!
  handle.onread = (arrayBuffer) => {
    const nread = raw.state[raw.kReadBytesOrError]!
    if (nread > 0 && arrayBuffer) {
      onBytes(Buffer.from(arrayBuffer, raw.state[raw.kArrayBufferOffset], nread))
      return
    }
    if (nread === 0) return
    handle.readStop()
    if (nread === UV_EOF) onBytes(undefined)
    else onError(uvError(nread, 'read'))
  }
  handle.readStart()
  return () => {
    handle.readStop()
    handle.onread = ignoreRead
  }
}

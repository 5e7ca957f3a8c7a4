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
import {deadlineWheel, type Deadline, type DeadlineWheel} from './deadlines.js'
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

/** A listening TCP handle (lib/net.js `server._handle`). */
export interface TcpServerHandle {
  /** Called for each connection accepted (status < 0: the accept failed). Must be set before listen. */
  onconnection: (status: number, client?: TcpHandle) => void
  bind(address: string, port: number): number
  bind6(address: string, port: number, flags: number): number
  listen(backlog: number): number
  getsockname(out: {address?: string; port?: number; family?: string}): number
  setNoDelay(on: boolean): number
  setKeepAlive(on: boolean, delaySeconds: number): number
  close(callback?: () => void): void
}

interface RawTcp {
  newSocketHandle: () => TcpHandle
  newServerHandle: () => TcpServerHandle
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

/**
 * `process.binding`, or undefined when this Node has none or the user asked it to warn about pending deprecations
 * (process.binding is DEP0111, which warns only then): the callers fall back to Node's public sockets.
 */
export function nodeBindings(): ((name: string) => Record<string, unknown>) | undefined {
  const pendingDeprecation =
    process.execArgv.includes('--pending-deprecation') || /--pending-deprecation/.test(process.env.NODE_OPTIONS ?? '')
  const binding = (process as unknown as {binding?: (name: string) => Record<string, unknown>}).binding
  return pendingDeprecation || typeof binding !== 'function' ? undefined : binding
}

function loadRawTcp(): RawTcp | undefined {
  const binding = nodeBindings()
  if (!binding) return undefined
  try {
    const tcp = binding('tcp_wrap') as {
      TCP?: new (type: number) => TcpHandle
      TCPConnectWrap?: new () => ConnectReq
      constants?: {SOCKET?: number; SERVER?: number}
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
    const serverType = constants?.SERVER
    if (!TCP || !TCPConnectWrap || !WriteWrap || !ShutdownWrap || socketType === undefined || serverType === undefined)
      return undefined
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
    const serverProbe = new TCP(serverType) as unknown as Record<string, unknown>
    const serverMethods = ['bind', 'bind6', 'listen', 'getsockname', 'setNoDelay', 'setKeepAlive']
    const serverComplete = serverMethods.every((m) => typeof serverProbe[m] === 'function')
    ;(serverProbe as unknown as TcpHandle).close()
    if (!complete || !serverComplete) return undefined
    return {
      newSocketHandle: () => new TCP(socketType),
      newServerHandle: () => new TCP(serverType) as unknown as TcpServerHandle,
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
 * Sets TCP_NODELAY (and keep-alive, probing after `keepAliveMs` idle) on a listening socket's handle, for the
 * connections it accepts to inherit: two to five setsockopt calls fewer per connection. Linux copies a listening
 * socket's options to each connection it accepts (the new socket is a clone of the listener: net/core/sock.c
 * sk_clone_lock; test/proxy/raw-tcp.test.ts checks it on this kernel), so true there; elsewhere false, and nothing set
 * (the relay then sets them per connection).
 */
export function presetOnListening(
  handle: Partial<TcpServerHandle> | undefined,
  options: {keepAliveMs?: number},
): boolean {
  if (process.platform !== 'linux' || !handle?.setNoDelay || !handle.setKeepAlive) return false
  if (handle.setNoDelay(true) < 0) return false
  if (options.keepAliveMs && handle.setKeepAlive(true, Math.floor(options.keepAliveMs / 1000)) < 0) return false
  return true
}

/** A net.Socket on an accepted handle (tcp-listener.ts), as Node's accept makes it (paused, half-open capable). */
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
export function uvError(status: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  let code: string
  try {
    code = getSystemErrorName(status)
  } catch {
    code = `E${-status}`
  }
  const where = address === undefined ? '' : ` ${hostPort(address, port ?? 0)}`
  return Object.assign(new Error(`${syscall} ${code}${where}`), {code, errno: status, syscall, address, port})
}

/**
 * What connectFirstRaw reports to; its methods are called on it (a connection can be its own connecter: no closures
 * per connection).
 */
export interface RawConnecter {
  timeoutMs: number
  onFailure?(failure: ConnectFailure): void
  /** Checked between attempts: true stops trying (the client went away). */
  cancelled?(): boolean
  /** Called once: the first target that accepted, or none. */
  connected(result: RawConnectResult): void
}

/** The first target that accepted, with its handle, and the failures on the way (socket.ts connectFirst's twin). */
export interface RawConnectResult {
  handle?: TcpHandle
  target?: ProbedTarget
  failures: ConnectFailure[]
}

/** A connect request that knows its attempt (no closure per connect). */
interface AttemptReq extends Omit<ConnectReq, 'oncomplete'> {
  attempt: ConnectAttempts
  oncomplete: (this: AttemptReq, status: number) => void
}

/** Node calls it on the request once the connect succeeded or failed. */
function afterConnect(this: AttemptReq, status: number): void {
  const {attempt} = this
  if (attempt.req !== this) return // an attempt that timed out already
  attempt.settle(status < 0 ? uvError(status, 'connect', this.address, this.port) : undefined)
}

/**
 * Tries targets one after the other, each with its own connect timeout on the shared deadline wheel (deadlines.ts)
 * instead of a setTimeout per connect.
 *
 * Each handle starts reading as soon as its connect is under way (libuv allows it: uv_read_start needs a readable
 * stream, which a connecting TCP handle is), so its first registration with epoll asks for both the connect and the
 * reads, and the connect's end changes it once: two epoll_ctl calls instead of three (an ADD for the connect, then an
 * ADD refused with EEXIST and a MOD when reading starts; libuv src/unix/stream.c uv__stream_connect, core.c
 * uv__io_poll). Nothing is read before the connect's callback: libuv handles a connecting stream's events as the
 * connect's alone (uv__stream_io), and the callback either gives the handle to a relay, which sets its buffer and
 * onread (RawRelay), or closes it.
 */
class ConnectAttempts implements Deadline {
  dueMs = 0
  req?: AttemptReq
  private handle?: TcpHandle
  private index = -1
  private readonly failures: ConnectFailure[] = []
  private readonly wheel: DeadlineWheel

  constructor(
    private readonly ordered: ProbedTarget[],
    private readonly connecter: RawConnecter,
  ) {
    this.wheel = deadlineWheel(connecter.timeoutMs)
  }

  /** Connects to the next target, or reports that none is left (or that the client went away). */
  next(): void {
    const target = this.ordered[++this.index]
    if (!target || this.connecter.cancelled?.()) return this.connecter.connected({failures: this.failures})
    const raw = rawTcp!
    const handle = (this.handle = raw.newSocketHandle())
    const req = (this.req = raw.newConnectReq() as AttemptReq)
    req.address = target.address
    req.port = target.port
    req.attempt = this
    req.oncomplete = afterConnect
    this.dueMs = Date.now() + this.connecter.timeoutMs
    this.wheel.add(this)
    const status = target.address.includes(':')
      ? handle.connect6(req, target.address, target.port)
      : handle.connect(req, target.address, target.port)
    if (status < 0) return this.settle(uvError(status, 'connect', target.address, target.port))
    // Reading from here on (see the class comment); a failure only means the relay's own readStart does the work.
    handle.onread = ignoreRead
    handle.readStart()
  }

  /** The connect timeout: this attempt fails as Node's would (a TimeoutError), and the next target is tried. */
  onDue(): undefined {
    const target = this.ordered[this.index]!
    this.settle(new TimeoutError(`connect to ${hostPort(target.address, target.port)}`, this.connecter.timeoutMs))
    return undefined
  }

  /** The current attempt succeeded (no error) or failed. */
  settle(error?: Error): void {
    this.wheel.remove(this)
    this.req = undefined
    const handle = this.handle!
    const target = this.ordered[this.index]!
    this.handle = undefined
    if (!error) return this.connecter.connected({handle, target, failures: this.failures})
    handle.close()
    const failure = {target, error}
    this.failures.push(failure)
    this.connecter.onFailure?.(failure)
    this.next()
  }
}

/**
 * Tries `ordered` one after the other until a connect succeeds; calls `connecter.connected` once. A handle it
 * gives is reading already (see ConnectAttempts): make a RawRelay of it or close it in that call.
 */
export function connectFirstRaw(ordered: ProbedTarget[], connecter: RawConnecter): void {
  new ConnectAttempts(ordered, connecter).next()
}

/**
 * Node reads land in pooled buffers, as socket.ts does for net.Socket (its NODE_READ_BYTES: four times fewer reads
 * than libuv's 64 KiB and no garbage per read). A side holds one while it is open; closed sides give theirs back.
 */
const READ_BYTES = 256 * 1024
/**
 * Only a read this large makes a relay one the accept turns hold back (accept-turns.ts): a smaller read emptied the
 * socket (libuv reads again only after a full buffer), so that relay costs a turn little, less than pausing and
 * resuming it would (two epoll changes; most of a short connection's relay reads are a few bytes). 64 KiB is the
 * read size libuv asks of Node by default, the turns' original case of bulk downloads reads far more.
 */
const BULK_READ_BYTES = 64 * 1024
const POOL_LIMIT = 64
const pool: Buffer[] = []

/**
 * Keep-alive is set on a relay's handle once the relay is this old, not at its start: most relayed connections are
 * shorter (a request and its answer), and setting it costs four setsockopt calls (libuv src/unix/tcp.c
 * uv__tcp_keepalive: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) against one for TCP_NODELAY. Its first
 * probe comes after a minute of silence (tcp.ts), so this second (and the wheel's 1/32 of it) changes little.
 */
const KEEPALIVE_AFTER_MS = 1000
const keepAliveWheel = deadlineWheel(KEEPALIVE_AFTER_MS)

/** How a relay runs. */
export interface RawRelayOptions {
  /** Bytes read from the client before the relay started (an SNI ClientHello), sent to the node first. */
  first?: Uint8Array
  /** Both directions closed for this long without a byte: both ends are closed (0: never). */
  idleTimeoutMs: number
  /** TCP keep-alive on both ends, probing after this long idle (undefined: off). */
  keepAliveMs?: number
  /**
   * The client's handle has TCP_NODELAY and the keep-alive above already: it inherited them from its listening
   * socket (TcpListener.presetAccepted), so the relay sets them on the node's handle only.
   */
  clientOptionsSet?: boolean
  /** Both ends are closed; `error` when a side failed (the other was reset then), for verbose logs. */
  onClose: (error?: Error) => void
  /** Called when the idle timeout closes the relay (before onClose). */
  onIdle?: () => void
}

/** A write request that knows its relay and the side whose read it carries (no closure per write). */
interface RelayWrite extends Omit<WriteReq, 'oncomplete'> {
  relay: RawRelay
  from?: Side
  to: Side
  oncomplete: (this: RelayWrite, status: number) => void
}

/** Node calls it on the request once a write the kernel could not take at once is through, or failed. */
function afterWrite(this: RelayWrite, status: number): void {
  this.to.queued--
  if (status < 0) return this.relay.fail(uvError(status, 'write'))
  this.from?.wrote()
}

/** A relay's handle knows its side: Node calls onread and the close callback on the handle itself. */
type SideHandle = TcpHandle & {side: Side}

/** A shutdown request that knows the side whose FIN it passes on. */
interface SideShutdown extends Omit<ShutdownReq, 'oncomplete'> {
  side: Side
  oncomplete: (this: SideShutdown, status: number) => void
}

/** Reads on a relay's handle: one function for every handle instead of a closure per side. */
function onSideRead(this: SideHandle): void {
  this.side.onRead()
}

function afterShutdown(this: SideShutdown, status: number): void {
  this.side.shutDown(status)
}

/**
 * One direction's reader: reads from `handle` and writes to its peer's. Its names match net.Socket's where the
 * accept-turns module pauses and resumes active readers.
 */
class Side implements Deadline {
  peer!: Side
  buffer?: Buffer
  /** When keep-alive is set on the handle (keepAliveLater), while it waits on the keep-alive wheel. */
  dueMs = 0
  /** The keep-alive delay to set, in seconds (0: none). */
  private keepAliveS = 0
  /** This side's FIN came in (nothing more to read). */
  readableEnded = false
  /** This side's FIN went on to the peer (its shutdown is done): this direction is finished. */
  finished = false
  destroyed = false
  /** Writes to this side's handle still in Node's queue (not yet taken by the kernel). */
  queued = 0
  /** Paused by the accept turns (accept-turns.ts). */
  private held = false
  /** A write to the peer waits in the kernel's queue: reading waits with it. */
  private writing = false

  constructor(
    readonly handle: TcpHandle,
    private readonly relay: RawRelay,
  ) {
    ;(handle as SideHandle).side = this
  }

  /** Sets TCP_NODELAY now, and keep-alive (probing after `keepAliveMs` idle) once the relay is KEEPALIVE_AFTER_MS old. */
  setOptions(keepAliveMs: number | undefined): void {
    this.handle.setNoDelay(true)
    if (!keepAliveMs) return
    this.keepAliveS = Math.floor(keepAliveMs / 1000)
    this.dueMs = Date.now() + KEEPALIVE_AFTER_MS
    keepAliveWheel.add(this)
  }

  /** The keep-alive deadline (setOptions). */
  onDue(): undefined {
    if (!this.destroyed) this.handle.setKeepAlive(true, this.keepAliveS)
    return undefined
  }

  start(): void {
    this.buffer = pool.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES)
    this.handle.useUserBuffer(this.buffer)
    this.handle.onread = onSideRead
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
    req.to = this
    req.oncomplete = afterWrite
    const status = this.handle.writeBuffer(req, bytes)
    if (status < 0) {
      this.relay.fail(uvError(status, 'write'))
      return false
    }
    if (!raw.state[raw.kLastWriteWasAsync]) return true
    this.queued++
    if (from) {
      from.writing = true
      from.handle.readStop()
    }
    return true
  }

  onRead(): void {
    const raw = rawTcp!
    const nread = raw.state[raw.kReadBytesOrError]!
    if (nread > 0) {
      this.relay.lastActiveMs = Date.now()
      if (this.peer.destroyed) return
      if (this.peer.write(this.buffer!.subarray(0, nread), this) && nread >= BULK_READ_BYTES)
        noteRead(this, !this.isPaused())
      return
    }
    if (nread === 0) return
    if (nread !== UV_EOF) return this.relay.fail(uvError(nread, 'read'))
    // The FIN: pass it on once every byte before it is written (a shutdown waits for the queued writes).
    this.readableEnded = true
    this.handle.readStop()
    forgetRelay(this)
    // The other direction is finished and nothing waits to go to the peer: closing its handle sends the FIN (the
    // kernel sends what it holds first), so both close now instead of after a shutdown of their own.
    if (this.peer.finished && this.peer.queued === 0) return this.relay.close()
    const req = raw.newShutdownReq() as unknown as SideShutdown
    req.handle = this.peer.handle
    req.side = this
    req.oncomplete = afterShutdown
    const status = this.peer.handle.shutdown(req as unknown as ShutdownReq)
    if (status < 0) this.relay.fail(uvError(status, 'shutdown'))
  }

  /** The shutdown that passed this side's FIN on is through (or failed). */
  shutDown(status: number): void {
    if (status < 0) return this.relay.fail(uvError(status, 'shutdown'))
    this.finished = true
    if (this.peer.finished) this.relay.close()
  }

  /**
   * Closes the handle (reset: the peer sees a reset rather than a clean close) and gives the buffer back at once.
   * libuv closes the socket within the call (src/unix/stream.c uv__stream_close: reading stops, the descriptor is
   * closed) and never reads into the buffer or writes from it again (a write still queued is cancelled), so nothing
   * waits for the close callback: no JavaScript callback per handle at its end.
   */
  close(reset: boolean): void {
    if (this.destroyed) return
    this.destroyed = true
    forgetRelay(this)
    if (this.keepAliveS) keepAliveWheel.remove(this)
    this.handle.onread = ignoreRead
    if (!reset || this.handle.reset() < 0) this.handle.close()
    if (this.buffer && pool.length < POOL_LIMIT) pool.push(this.buffer)
    this.buffer = undefined
  }
}

/**
 * Two connected handles, spliced both ways: each read is written to the other side as is (reading waits while a
 * write waits), a FIN becomes a shutdown of the other side's sending half (half-closed conversations work), an error
 * on either side resets the other, and the two close once both directions are finished.
 */
export class RawRelay implements Deadline {
  /** Date.now() of the last byte either way, for the idle timeout. */
  lastActiveMs = Date.now()
  /** When the idle timeout is next checked (its deadline on the shared wheel, deadlines.ts). */
  dueMs = 0
  private readonly client: Side
  private readonly node: Side
  private readonly idle?: DeadlineWheel
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
    if (!options.clientOptionsSet) this.client.setOptions(options.keepAliveMs)
    this.node.setOptions(options.keepAliveMs)
    if (options.first && options.first.length > 0 && !this.node.write(options.first, undefined)) return
    this.client.start()
    this.node.start()
    if (options.idleTimeoutMs > 0) {
      this.idle = deadlineWheel(options.idleTimeoutMs)
      this.dueMs = this.lastActiveMs + options.idleTimeoutMs
      this.idle.add(this)
    }
  }

  /** The idle deadline: a relay that carried a byte since waits until idleTimeoutMs after that byte. */
  onDue(nowMs: number): number | undefined {
    if (this.ended) return undefined
    const dueMs = this.lastActiveMs + this.options.idleTimeoutMs
    if (dueMs > nowMs) return dueMs
    this.options.onIdle?.()
    this.end(false)
    return undefined
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
    this.idle?.remove(this)
    this.client.close(reset)
    this.node.close(reset)
    this.options.onClose(error)
  }
}

/**
 * Where first reads land: one buffer for every handle, since each read is copied out before the next can happen
 * (reads run one at a time, on this thread). Node's own would be a fresh 64 KiB per read. A ClientHello is a
 * few hundred bytes to a few KiB, in one read almost always (RFC 8446 §4.1.2; a larger one takes several reads).
 */
const FIRST_READ_BYTES = 16 * 1024
let firstReadBuffer: Buffer | undefined

/** Who gets a client's first bytes (readFirstBytes); its methods are called on it. */
export interface FirstBytesReader {
  /** A read (a copy of its own), or undefined at the client's FIN. */
  onFirstBytes(bytes: Buffer | undefined): void
  /** A read failed; nothing is closed. */
  onFirstReadError(error: Error): void
}

/** A handle whose first bytes are being read knows its reader: one onread for every handle, no closure each. */
type FirstReadHandle = TcpHandle & {firstReader: FirstBytesReader}

function onFirstRead(this: FirstReadHandle): void {
  const raw = rawTcp!
  const nread = raw.state[raw.kReadBytesOrError]!
  if (nread > 0) return this.firstReader.onFirstBytes(Buffer.from(firstReadBuffer!.subarray(0, nread)))
  if (nread === 0) return
  // libuv stops reading at a FIN or an error by itself (src/unix/stream.c uv__read); readStop marks it here too.
  this.readStop()
  if (nread === UV_EOF) this.firstReader.onFirstBytes(undefined)
  else this.firstReader.onFirstReadError(uvError(nread, 'read'))
}

/**
 * Reads a client's first bytes on its handle (the SNI listener's ClientHello) before any relay exists, into one
 * buffer shared by every handle, and gives each read to `reader`. Reading goes on until a RawRelay takes the handle
 * over (it sets a buffer and onread of its own and goes on reading without an epoll change), the handle is closed,
 * `readStop()` is called, or a FIN or an error comes (a relay's first read then sees the FIN again: a socket at its
 * end stays readable).
 */
export function readFirstBytes(handle: TcpHandle, reader: FirstBytesReader): void {
  ;(handle as FirstReadHandle).firstReader = reader
  handle.useUserBuffer((firstReadBuffer ??= Buffer.allocUnsafeSlow(FIRST_READ_BYTES)))
  handle.onread = onFirstRead
  handle.readStart()
}

// Socket plumbing shared by every TCP path (the TCP forwarder, the HTTP router's fast path and its upgrades):
// connect to the first target that answers, splice two sockets, and read through pooled buffers. It also holds the
// per-connection defaults, so that the forwarders, the listener set and the serve command read them from one place.
// It imports no forwarder, so tcp.ts, host-splice.ts and node-pool.ts can all build on it without a circle.
import dgram from 'node:dgram'
import net from 'node:net'

import {TimeoutError} from '../errors.js'
import {hostPort} from '../net/address.js'
import {whenFlushed} from './flushed.js'
import type {ProbedTarget} from '../servemap/types.js'
import {forgetRelay, noteRead} from './accept-turns.js'

/**
 * Per target: a node that has not accepted within this long is skipped for the next one. 3 s as the Envoy cluster's
 * `connect_timeout` in cloud-provider-kind (kubernetes-sigs/cloud-provider-kind, pkg/loadbalancer/proxy.go).
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000
/** Per listener: enough for any workstation's clients, few enough that a runaway client cannot exhaust descriptors. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Long enough for MQTT/SSH sessions that idle between keep-alives; shorter than most NAT tables forget. */
export const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60_000

/** How a TCP listener (the forwarder, the SNI listener) treats its connections; relaySettings() fills in defaults. */
export interface RelayOptions {
  connectTimeoutMs?: number
  /** Connections beyond this many at once are refused (closed at accept); the listener keeps serving the rest. */
  maxConnections?: number
  /** A connection with no bytes either way for this long is closed (0: never). */
  idleTimeoutMs?: number
  /** Errors and, with `verbose`, one line per connection. */
  log?: (line: string) => void
  verbose?: boolean
  /**
   * Relay on Node's own TCP handles (raw-tcp.ts) where this Node offers them: the default. false keeps every
   * connection on net.Socket (the path used anyway where the handles are missing).
   */
  rawHandles?: boolean
}

export type RelaySettings = Required<RelayOptions>

export function relaySettings(options: RelayOptions): RelaySettings {
  return {
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    log: options.log ?? (() => {}),
    verbose: options.verbose ?? false,
    rawHandles: options.rawHandles ?? true,
  }
}

/** One failed attempt to reach a target. */
export interface ConnectFailure {
  target: ProbedTarget
  error: Error
}

/**
 * Reads from nodes land in pooled buffers of this size instead of a fresh 64 KiB allocation per read (libuv's
 * default): four times fewer reads and no garbage per chunk, about twice the throughput towards the client here.
 */
const NODE_READ_BYTES = 256 * 1024
/**
 * Free read buffers kept for reuse. A buffer is out while its bytes wait in a client socket's queue, or while a
 * socket holds it for a read that found nothing yet (after a read that filled it): at most one per node socket.
 */
const READ_POOL_LIMIT = 64
const readPool: Buffer[] = []

function takeReadBuffer(): Buffer {
  return readPool.pop() ?? Buffer.allocUnsafeSlow(NODE_READ_BYTES)
}

function giveReadBuffer(buffer: Buffer): void {
  if (readPool.length < READ_POOL_LIMIT) readPool.push(buffer)
}

/**
 * Takes over reading from the node: `chunk` lies in a pooled buffer that is read into again once `done` is called.
 * Return false to pause the node socket (then resume it when done); see writeChunk.
 */
export type NodeDataHandler = (chunk: Buffer, done: () => void, socket: net.Socket) => boolean

/**
 * Writes a chunk read from `from` (a NodeDataHandler's) to `to` without copying it. When the kernel took it whole
 * the buffer is free at once; otherwise it stays queued, so reading pauses until `to` has written it (whenFlushed:
 * a chunk below the high-water mark that had to queue brings no 'drain').
 */
export function writeChunk(to: net.Socket, chunk: Buffer, done: () => void, from: net.Socket): boolean {
  to.write(chunk)
  if (to.writableLength === 0) {
    done()
    return true
  }
  whenFlushed(to, () => {
    done()
    from.resume()
  })
  return false
}

/** How connectFirst tries targets and what it reports on the way. */
export interface ConnectFirstOptions {
  timeoutMs: number
  /** Called for each target that could not be reached, before the next one is tried. */
  onFailure?: (failure: ConnectFailure) => void
  /** Checked between attempts: true stops trying (the client went away). */
  cancelled?: () => boolean
  /** Receives what the node sends instead of 'data' events (pooled read buffers, see NodeDataHandler). */
  onData?: NodeDataHandler
}

/** The first target that accepted a connection, or none, with the failures on the way. */
export interface ConnectResult {
  socket?: net.Socket
  target?: ProbedTarget
  failures: ConnectFailure[]
}

/** Tries `ordered` one after the other until a TCP connect succeeds. The socket is half-open capable. */
export async function connectFirst(ordered: ProbedTarget[], options: ConnectFirstOptions): Promise<ConnectResult> {
  const failures: ConnectFailure[] = []
  for (const target of ordered) {
    if (options.cancelled?.()) break
    try {
      const socket = await connectOne(target, options.timeoutMs, options.onData)
      return {socket, target, failures}
    } catch (error) {
      const failure = {target, error: error as Error}
      failures.push(failure)
      options.onFailure?.(failure)
    }
  }
  return {failures}
}

/** An `onread` option that reads into pooled buffers and hands each read to `onData`; see NodeDataHandler. */
interface PooledRead {
  onread: {buffer: () => Buffer; callback: (length: number, buffer: Uint8Array) => boolean}
  /** Gives back the buffer a read was waiting on; call when the socket closes. */
  release: () => void
}

function pooledRead(onData: NodeDataHandler, socket: () => net.Socket): PooledRead {
  // The buffer function runs before every read, also reads that find nothing or the EOF: the socket keeps the
  // buffer it was handed until a read delivers into it, and gives it back when it closes (release).
  let current: Buffer | undefined
  return {
    onread: {
      buffer: (): Buffer => (current ??= takeReadBuffer()),
      callback: (length: number, buffer: Uint8Array): boolean => {
        const pooled = buffer as Buffer
        current = undefined
        const from = socket()
        const reading = onData(pooled.subarray(0, length), () => giveReadBuffer(pooled), from)
        noteRead(from, reading)
        return reading
      },
    },
    release: (): void => {
      if (current) giveReadBuffer(current)
      current = undefined
      forgetRelay(socket())
    },
  }
}

function connectOne(target: ProbedTarget, timeoutMs: number, onData?: NodeDataHandler): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const pooled = onData && pooledRead(onData, () => socket)
    const socket: net.Socket = net.connect({
      host: target.address,
      port: target.port,
      allowHalfOpen: true,
      ...(pooled && {onread: pooled.onread}),
    })
    if (pooled) socket.once('close', pooled.release)
    const timer = setTimeout(
      () => fail(new TimeoutError(`connect to ${hostPort(target.address, target.port)}`, timeoutMs)),
      timeoutMs,
    ).unref()
    const fail = (error: Error): void => {
      clearTimeout(timer)
      socket.removeListener('connect', onConnect)
      socket.destroy()
      reject(error)
    }
    const onConnect = (): void => {
      clearTimeout(timer)
      socket.removeListener('error', fail)
      resolve(socket)
    }
    socket.once('connect', onConnect)
    socket.once('error', fail)
  })
}

/**
 * Reads an accepted connection through pooled buffers as well (returns the socket to use from now on), or returns
 * undefined and leaves `accepted` as it is. Node 20 takes `onread` only for sockets it is asked to create, not for
 * those a server accepts, whose reads are fresh 64 KiB buffers: uploads through a per-service address ran at 0.64×
 * HAProxy's throughput that way and at 1.45–1.51× this way (npm run bench). So the accepted socket's handle moves
 * to a new socket made with `onread`. `_handle` is Node's internal field for it; where it does not hold a stream
 * handle (another Node), the connection stays as accepted. `accepted` must be paused (pauseOnConnect); the new
 * socket starts paused too. The accepted socket stays behind without a handle until the new one closes, so its
 * server still counts the connection and `server.close()` still waits for it.
 */
export function adoptWithPooledReads(accepted: net.Socket, onData: NodeDataHandler): net.Socket | undefined {
  const internal = accepted as unknown as {_handle?: {readStart?: unknown; reading?: boolean} | null}
  const handle = internal._handle
  if (!handle || typeof handle.readStart !== 'function' || handle.reading || accepted.destroyed) return undefined
  internal._handle = null
  const pooled = pooledRead(onData, () => socket)
  const socket: net.Socket = new net.Socket({
    handle,
    onread: pooled.onread,
    allowHalfOpen: accepted.allowHalfOpen,
    readable: true,
    writable: true,
    pauseOnCreate: true,
  } as net.SocketConstructorOpts)
  socket.once('close', () => {
    pooled.release()
    accepted.destroy()
  })
  return socket
}

/**
 * Pipes two connected sockets both ways (for a node socket with an onData handler, its data goes through that
 * handler; the pipe still carries its FIN and errors). A FIN from one side becomes `end()` on the other, so half-closed
 * conversations (a client that shuts down its sending side and waits for the reply) work; an error on one side
 * resets the other, so the far end sees a reset rather than a clean close.
 */
export function splice(a: net.Socket, b: net.Socket): void {
  pipeOneWay(a, b)
  pipeOneWay(b, a)
}

/** One direction of `splice`: `from`'s bytes and FIN go to `to`; an error on `from` resets `to`, a cut closes it. */
export function pipeOneWay(from: net.Socket, to: net.Socket): void {
  from.pipe(to)
  from.on('error', () => {
    if (!to.destroyed) to.resetAndDestroy()
  })
  from.on('close', () => {
    // Both directions finished cleanly: let `to` flush and close on its own. Otherwise `from` was cut short.
    if (!to.destroyed && !(from.readableEnded && from.writableFinished)) to.destroy()
  })
}

/**
 * Whether `address:port` can be bound now: a listener (TCP) or socket (UDP) opened and closed at once. Serve asks
 * before it takes back a per-service address another program held.
 */
export function canBind(address: string, port: number, protocol: 'TCP' | 'UDP'): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'UDP') {
      const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4')
      socket.once('error', () => {
        socket.close()
        resolve(false)
      })
      socket.bind(port, address, () => socket.close(() => resolve(true)))
      return
    }
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, address, () => server.close(() => resolve(true)))
  })
}

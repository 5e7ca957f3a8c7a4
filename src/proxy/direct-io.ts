// Reads and writes on a net.Socket's own TCP handle, for the HTTP fast path (host-splice.ts). A small request there
// is one read from the client, one write to the node, one read from the node and one write to the client; through
// net.Socket each write goes through the Writable machinery (writeOrBuffer, a write request, a tick for afterWrite,
// a timer refresh) and each client read through the Readable one (push, 'data'). Here a write goes to the handle as
// a write request of its own when nothing waits in the socket's stream (libuv keeps a stream's write requests in
// order, and a later end() waits for them: uv_shutdown), and the client's reads come to the splicer straight from the
// handle, into one buffer per connection (useUserBuffer) instead of a new allocation per read. The socket stays whole
// for everything else: its FIN and errors still go through Node's read code, and a connection the fast path hands to
// the slow path gets its reads back (DirectReader.restore).
//
// The handles and their write requests are Node's internal bindings, as raw-tcp.ts uses them (lib/net.js,
// lib/internal/stream_base_commons.js: `onread`, `readStart`, `readStop`, `writeBuffer`, streamBaseState). Where
// raw-tcp.ts found them missing or different (`rawTcp` undefined), both functions return undefined and the caller
// uses the socket as before.
import type net from 'node:net'

import {rawTcp, type TcpHandle, uvError} from './raw-tcp.js'

/** libuv's UV_EOF, as a read's "length" when the peer sent its FIN. */
const UV_EOF = -4095

/** A socket's handle as lib/net.js keeps it: `reading` says whether it reads now. */
type SocketHandle = TcpHandle & {reading?: boolean}

/** A write request of ours: Node calls `oncomplete` on it once a write the kernel could not take at once is through. */
interface DirectWrite {
  handle: TcpHandle
  async: boolean
  /** Keeps the bytes alive while the kernel has not taken them (as stream_base_commons.js does). */
  buffer?: Uint8Array
  socket: net.Socket
  drained: () => void
  oncomplete: (this: DirectWrite, status: number) => void
}

function handleOf(socket: net.Socket): SocketHandle | undefined {
  const handle = (socket as unknown as {_handle?: SocketHandle | null})._handle
  return handle && typeof handle.writeBuffer === 'function' && typeof handle.readStart === 'function'
    ? handle
    : undefined
}

/** A write request a write the kernel took at once left unused (one JS object fewer per write). */
let spareReq: DirectWrite | undefined

function afterDirectWrite(this: DirectWrite, status: number): void {
  this.buffer = undefined
  if (status < 0 && !this.socket.destroyed) this.socket.destroy(uvError(status, 'write'))
  this.drained()
}

/**
 * Writes `bytes` to `socket`'s handle: true when the kernel took them whole, false when they wait in libuv's queue
 * (`drained` is called once they are through, or failed: then the socket is destroyed with the error), undefined
 * when the socket cannot take a direct write now (no handle, still connecting, ending, or bytes already waiting in
 * its stream): then write as usual. `bytes` must not change until they are through.
 */
export function writeDirect(socket: net.Socket, bytes: Uint8Array, drained: () => void): boolean | undefined {
  const raw = rawTcp
  if (!raw || socket.writableLength !== 0 || !socket.writable || socket.connecting) return undefined
  const handle = handleOf(socket)
  if (!handle) return undefined
  const req = spareReq ?? (raw.newWriteReq() as unknown as DirectWrite)
  spareReq = undefined
  req.handle = handle
  req.async = false
  req.socket = socket
  req.drained = drained
  req.oncomplete = afterDirectWrite
  const status = handle.writeBuffer(req as never, bytes)
  if (status < 0) {
    socket.destroy(uvError(status, 'write'))
    return true
  }
  if (raw.state[raw.kLastWriteWasAsync]) {
    req.async = true
    req.buffer = bytes
    return false
  }
  // The kernel took it all: Node made nothing native of the request (src/stream_base.cc StreamBase::Write creates
  // its WriteWrap only for a write that waits), so the same object serves the next write.
  req.socket = req.drained = undefined as never
  spareReq = req
  return true
}

/** A socket whose reads come to a function of ours; see readDirect. */
export interface DirectReader {
  /** Stops reading (the handle's readStop). */
  pause(): void
  /** Reads again, unless the client's FIN came in or the socket is gone. */
  resume(): void
  readonly paused: boolean
  /** Gives the reads back to the socket's stream and reads on: later bytes go to its 'data' (a hand-off). */
  restore(): void
}

/**
 * Client reads land in one buffer per connection, taken from this pool and given back when the socket closes, instead
 * of a fresh 64 KiB allocation (malloc, an ArrayBuffer, its collection) per read. Small requests take one read each.
 */
const READ_BYTES = 64 * 1024
const READ_POOL_LIMIT = 64
const readPool: Buffer[] = []

/**
 * Takes `socket`'s reads: each read's bytes go to `onBytes` instead of the socket's stream, as a view of a buffer
 * the next read overwrites (keep a copy of what must outlive the call: Buffer.from), and that stays in place while
 * reading is paused. Its FIN and read errors still go to the socket ('end', 'error' and 'close' as before). The
 * socket must not be read through its stream meanwhile. Undefined where the handle cannot be taken over (see the
 * file comment).
 */
export function readDirect(socket: net.Socket, onBytes: (bytes: Buffer) => void): DirectReader | undefined {
  const raw = rawTcp
  const handle = handleOf(socket)
  if (!raw || !handle || typeof handle.onread !== 'function' || socket.destroyed) return undefined
  const streamRead = handle.onread
  const buffer = readPool.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES)
  // The handle reads into `buffer` from now on, also after restore(): it goes back to the pool once the socket closed.
  handle.useUserBuffer(buffer)
  socket.once('close', () => {
    if (readPool.length < READ_POOL_LIMIT) readPool.push(buffer)
  })
  let finished = false
  let paused = false
  let restored = false
  // lib/internal/stream_base_commons.js onStreamRead: the length (or error) is in streamBaseState; with a buffer of
  // our own (useUserBuffer) each read lands at its start and no ArrayBuffer comes with it.
  handle.onread = function (this: SocketHandle): void {
    const nread = raw.state[raw.kReadBytesOrError]!
    if (nread > 0) {
      if (!socket.destroyed) onBytes(buffer.subarray(0, nread))
      return
    }
    if (nread === 0) return
    if (nread === UV_EOF) finished = true
    streamRead.call(this, undefined)
  }
  const start = (): void => {
    if (finished || socket.destroyed || handle.reading) return
    handle.reading = true
    handle.readStart()
  }
  return {
    get paused() {
      return paused
    },
    pause() {
      paused = true
      if (!handle.reading) return
      handle.reading = false
      handle.readStop()
    },
    resume() {
      paused = false
      if (!restored) start()
    },
    restore() {
      if (restored) return
      restored = true
      // Node's own reading expects each read in an ArrayBuffer of its own at the offset streamBaseState gives.
      handle.onread = function (this: SocketHandle): unknown {
        const nread = raw.state[raw.kReadBytesOrError]!
        if (nread <= 0) return streamRead.call(this, undefined)
        const copy = new Uint8Array(nread)
        copy.set(buffer.subarray(0, nread))
        raw.state[raw.kArrayBufferOffset] = 0
        return streamRead.call(this, copy.buffer)
      }
      // The stream reads into its buffer while paused, as a socket Node accepted does; it has not read so far.
      start()
    },
  }
}

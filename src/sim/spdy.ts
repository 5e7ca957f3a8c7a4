// A small SPDY/3.1 server session, enough for `kubectl port-forward`'s fallback dialer: after a plain HTTP upgrade
// (`Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`) kubectl opens, per connection, an error
// stream and a data stream whose headers name the port (kubernetes/kubernetes staging/src/k8s.io/client-go/tools/
// portforward/portforward.go), and reads the server's error text and data from them. Framing: SPDY draft 3.1
// (https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/): control frames with a 16-bit type, data
// frames by stream id, header blocks zlib-compressed with the protocol's preset dictionary and one zlib context per
// direction for the whole session. Flow control is not enforced in either direction, as kubectl's spdystream does
// not either.
import zlib from 'node:zlib'
import type {Duplex} from 'node:stream'

import dictionaries from 'spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js'

const VERSION = 3
const DICTIONARY = dictionaries[3]!

/** Control frame types (draft 3.1 §2.6). */
export const FRAME = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const

export const FLAG_FIN = 0x01
const MAX_DATA_BYTES = 0xffffff

/** One frame as read off the wire. */
export type SpdyFrame =
  | {control: true; type: number; flags: number; data: Buffer}
  | {control: false; streamId: number; flags: number; data: Buffer}

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0)

  read(chunk: Buffer): SpdyFrame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    const frames: SpdyFrame[] = []
    while (this.pending.length >= 8) {
      const length = this.pending.readUIntBE(5, 3)
      if (this.pending.length < 8 + length) break
      const head = this.pending.readUInt32BE(0)
      const flags = this.pending[4]!
      const data = this.pending.subarray(8, 8 + length)
      if (head & 0x80000000) frames.push({control: true, type: head & 0xffff, flags, data})
      else frames.push({control: false, streamId: head & 0x7fffffff, flags, data})
      this.pending = this.pending.subarray(8 + length)
    }
    return frames
  }
}

/** A control frame of `type` with `data`. */
export function controlFrame(type: number, flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE((0x80000000 | (VERSION << 16) | type) >>> 0, 0)
  head[4] = flags
  head.writeUIntBE(data.length, 5, 3)
  return Buffer.concat([head, data])
}

/** A data frame on `streamId`. */
export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(streamId & 0x7fffffff, 0)
  head[4] = flags
  head.writeUIntBE(data.length, 5, 3)
  return Buffer.concat([head, data])
}

/** An uncompressed header block: a count, then length-prefixed names (lowercase) and values (draft 3.1 §2.6.10). */
export function encodeHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [u32(Object.keys(headers).length)]
  for (const [name, value] of Object.entries(headers)) {
    parts.push(u32(Buffer.byteLength(name)), Buffer.from(name.toLowerCase()), u32(Buffer.byteLength(value)))
    parts.push(Buffer.from(value))
  }
  return Buffer.concat(parts)
}

/** The pairs of an uncompressed header block; several values of one name are NUL-separated. */
export function decodeHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {}
  let at = 4
  const count = block.readUInt32BE(0)
  for (let i = 0; i < count; i++) {
    const nameLength = block.readUInt32BE(at)
    const name = block.toString('utf8', at + 4, at + 4 + nameLength)
    at += 4 + nameLength
    const valueLength = block.readUInt32BE(at)
    headers[name] = block.toString('utf8', at + 4, at + 4 + valueLength)
    at += 4 + valueLength
  }
  return headers
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

/** One zlib context (inflate or deflate) whose chunks are each flushed on their own, in order. */
class HeaderZlib {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly z: zlib.Inflate | zlib.Deflate) {
    z.on('error', () => {})
  }

  run(input: Buffer): Promise<Buffer> {
    const result = this.queue.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          const out: Buffer[] = []
          const onData = (d: Buffer) => out.push(d)
          this.z.on('data', onData)
          this.z.once('error', reject)
          this.z.write(input)
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            this.z.off('data', onData)
            this.z.off('error', reject)
            resolve(Buffer.concat(out))
          })
        }),
    )
    this.queue = result.catch(() => {})
    return result
  }
}

/** A stream the client opened: its id, headers, and what the server does with its data. */
export interface SpdyStream {
  id: number
  headers: Record<string, string>
  /** Data from the client. */
  onData?: (data: Buffer) => void
  /** The client half-closed (FIN) or reset the stream. */
  onEnd?: (reset: boolean) => void
}

/** The server side of one SPDY session on an upgraded socket. */
export class SpdySession {
  private readonly reader = new FrameReader()
  private readonly inflate = new HeaderZlib(zlib.createInflate({dictionary: DICTIONARY}))
  private readonly deflate = new HeaderZlib(zlib.createDeflate({dictionary: DICTIONARY}))
  private readonly streams = new Map<number, SpdyStream>()
  private queue: Promise<void> = Promise.resolve()

  constructor(
    private readonly socket: Duplex,
    head: Buffer,
    private readonly onStream: (stream: SpdyStream, session: SpdySession) => void,
    private readonly onClose: () => void,
  ) {
    const read = (chunk: Buffer): void => {
      for (const frame of this.reader.read(chunk)) this.queue = this.queue.then(() => this.handle(frame))
    }
    if (head.length) read(head)
    socket.on('data', read)
    socket.on('close', () => this.closeAll())
    socket.on('error', () => socket.destroy())
  }

  /**
   * Sends data on a stream; `fin` half-closes it from the server's side. Returns false when the connection's queue is
   * full: the caller stops reading what it sends until the socket's 'drain'.
   */
  send(streamId: number, data: Buffer, fin = false): boolean {
    if (!this.socket.writable) return true
    // A frame carries at most 2^24 - 1 bytes (its length field); Node's reads stay far below, but split anyway.
    let at = 0
    let more = true
    do {
      const part = data.subarray(at, at + MAX_DATA_BYTES)
      at += MAX_DATA_BYTES
      more = this.socket.write(dataFrame(streamId, fin && at >= data.length ? FLAG_FIN : 0, part))
    } while (at < data.length)
    return more
  }

  /** Resets a stream (RST_STREAM with CANCEL, status 5). */
  reset(streamId: number): void {
    if (!this.socket.writable) return
    const data = Buffer.alloc(8)
    data.writeUInt32BE(streamId & 0x7fffffff, 0)
    data.writeUInt32BE(5, 4)
    this.socket.write(controlFrame(FRAME.RST_STREAM, 0, data))
  }

  /** Ends the session, as a server going away does. */
  close(): void {
    this.socket.destroy()
  }

  private closeAll(): void {
    for (const stream of this.streams.values()) stream.onEnd?.(true)
    this.streams.clear()
    this.onClose()
  }

  private async handle(frame: SpdyFrame): Promise<void> {
    if (!frame.control) {
      const stream = this.streams.get(frame.streamId)
      if (!stream) return
      if (frame.data.length) stream.onData?.(frame.data)
      if (frame.flags & FLAG_FIN) stream.onEnd?.(false)
      return
    }
    const {type, data} = frame
    if (type === FRAME.SYN_STREAM) {
      const id = data.readUInt32BE(0) & 0x7fffffff
      const headers = decodeHeaders(await this.inflate.run(data.subarray(10)))
      // The reply first (with an empty header block), as kubelet's server connection sends it on accepting.
      const reply = Buffer.concat([u32(id), await this.deflate.run(encodeHeaders({}))])
      if (this.socket.writable) this.socket.write(controlFrame(FRAME.SYN_REPLY, 0, reply))
      const stream: SpdyStream = {id, headers}
      this.streams.set(id, stream)
      this.onStream(stream, this)
      if (frame.flags & FLAG_FIN) stream.onEnd?.(false)
    } else if (type === FRAME.HEADERS || type === FRAME.SYN_REPLY) {
      await this.inflate.run(data.subarray(4)) // keeps the shared zlib context in step
    } else if (type === FRAME.RST_STREAM) {
      const id = data.readUInt32BE(0) & 0x7fffffff
      this.streams.get(id)?.onEnd?.(true)
      this.streams.delete(id)
    } else if (type === FRAME.PING) {
      if (this.socket.writable) this.socket.write(controlFrame(FRAME.PING, 0, data))
    } else if (type === FRAME.GOAWAY) {
      this.socket.end()
    }
  }
}

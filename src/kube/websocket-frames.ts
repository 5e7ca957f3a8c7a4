// The client's side of WebSocket framing (RFC 6455 §5), just enough for port-forward streams, where every byte of a
// download passes through it: frames from the server are read as a stream, so a message's payload is handed on in
// the slices the socket delivered (no message is assembled or copied, however it is cut into TCP reads or
// fragments), and frames to the server are masked (§5.3) into one buffer with their header. Bytes in, calls or
// bytes out; no I/O.
import {createHash, randomFillSync} from 'node:crypto'

/** Opcodes (RFC 6455 §5.2). */
export const OPCODE = {CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa} as const

/** What a frame reader reports. Each message is start, its payload slices in order, then end. */
export interface FrameHandler {
  /** A data message begins (`binary` false: a text message, whose payload is reported all the same). */
  messageStart(binary: boolean): void
  /** The next bytes of the current message's payload: a view into the socket's buffer, not a copy. */
  payload(data: Buffer): void
  messageEnd(): void
  /** A control frame, whole (its payload is at most 125 bytes). */
  control(opcode: number, data: Buffer): void
  /** The server broke the framing rules; nothing more is read. */
  invalid(reason: string): void
}

const MAX_CONTROL_PAYLOAD = 125
/** The longest header: 2 bytes, a 64-bit length, a masking key. */
const MAX_HEADER = 14
const EMPTY = Buffer.alloc(0)

/** The size of a header from its first two bytes (at least two must be there). */
function headerLength(head: Buffer): number {
  const len7 = head[1]! & 0x7f
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (head[1]! & 0x80 ? 4 : 0)
}

/** Reads the server's frames off a byte stream (RFC 6455 §5.2), reporting to `handler` as bytes come. */
export class FrameReader {
  /** Bytes of a header that a read cut short (at most 14). */
  private head: Buffer = EMPTY
  /** Payload bytes left in the current frame. */
  private remaining = 0
  private opcode = 0
  private fin = false
  /** Inside a fragmented data message (a data frame without FIN came). */
  private inMessage = false
  /** A control frame's payload as it arrives. */
  private controlBytes: Buffer[] = []
  private inPayload = false
  private broken = false

  constructor(private readonly handler: FrameHandler) {}

  /** Feeds one chunk from the socket. */
  read(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length && !this.broken) {
      if (!this.inPayload) {
        at = this.readHeader(chunk, at)
        continue
      }
      const take = Math.min(this.remaining, chunk.length - at)
      const slice = chunk.subarray(at, at + take)
      at += take
      this.remaining -= take
      if (this.opcode >= OPCODE.CLOSE) this.controlBytes.push(slice)
      else if (take > 0) this.handler.payload(slice)
      if (this.remaining === 0) this.endFrame()
    }
  }

  /** Takes header bytes from `chunk` at `at`; returns where reading goes on. */
  private readHeader(chunk: Buffer, at: number): number {
    const saved = this.head.length
    const avail = chunk.subarray(at, at + MAX_HEADER - saved)
    const head = saved ? Buffer.concat([this.head, avail]) : avail
    const size = head.length < 2 ? 2 : headerLength(head)
    if (head.length < size) {
      // The chunk ended inside the header (so all of it was taken): keep a copy, the socket may reuse its buffer.
      this.head = Buffer.from(head)
      return chunk.length
    }
    const used = size - saved
    this.head = EMPTY
    const b0 = head[0]!
    const b1 = head[1]!
    if (b0 & 0x70) return this.fail('a frame with reserved bits set (no extension was agreed)')
    if (b1 & 0x80) return this.fail('a masked frame (a server must not mask, RFC 6455 §5.1)')
    const len7 = b1 & 0x7f
    let length = len7
    if (len7 === 126) length = head.readUInt16BE(2)
    else if (len7 === 127) {
      const high = head.readUInt32BE(2)
      if (high > 0x1fffff) return this.fail('a frame longer than 2^53 bytes')
      length = high * 2 ** 32 + head.readUInt32BE(6)
    }
    const opcode = b0 & 0x0f
    const fin = (b0 & 0x80) !== 0
    if (opcode >= OPCODE.CLOSE) {
      if (opcode !== OPCODE.CLOSE && opcode !== OPCODE.PING && opcode !== OPCODE.PONG)
        return this.fail(`a frame with the reserved opcode ${opcode}`)
      if (!fin || length > MAX_CONTROL_PAYLOAD) return this.fail('a fragmented or long control frame')
    } else if (opcode === OPCODE.CONTINUATION) {
      if (!this.inMessage) return this.fail('a continuation frame outside a message')
    } else if (opcode === OPCODE.TEXT || opcode === OPCODE.BINARY) {
      if (this.inMessage) return this.fail('a new message inside a fragmented one')
      this.inMessage = true
      this.handler.messageStart(opcode === OPCODE.BINARY)
    } else return this.fail(`a frame with the reserved opcode ${opcode}`)
    this.opcode = opcode
    this.fin = fin
    this.remaining = length
    this.inPayload = true
    if (length === 0) this.endFrame()
    return at + used
  }

  private endFrame(): void {
    this.inPayload = false
    if (this.opcode >= OPCODE.CLOSE) {
      const data = this.controlBytes.length === 1 ? this.controlBytes[0]! : Buffer.concat(this.controlBytes)
      this.controlBytes = []
      this.handler.control(this.opcode, Buffer.from(data))
      return
    }
    if (this.fin) {
      this.inMessage = false
      this.handler.messageEnd()
    }
  }

  private fail(reason: string): number {
    this.broken = true
    this.handler.invalid(reason)
    return Number.MAX_SAFE_INTEGER
  }
}

/**
 * Masking keys are cut from random bytes drawn 8 KiB at a time: a call into the CSPRNG per frame cost more than
 * the rest of opening a stream (npm run bench, section tunnel, connection rate). ws's Sender does the same
 * (node_modules/ws/lib/sender.js, randomPool).
 */
const randomPool = Buffer.alloc(8192)
let randomAt = randomPool.length

/** Fills `into` with the next unused random bytes of the pool (at most its size). */
export function takeRandom(into: Buffer): void {
  if (randomAt + into.length > randomPool.length) {
    randomFillSync(randomPool)
    randomAt = 0
  }
  randomPool.copy(into, 0, randomAt, randomAt + into.length)
  randomAt += into.length
}

/** The length part of a frame header: 7 bits, or 126 and 16 bits, or 127 and 64 bits (RFC 6455 §5.2). */
function headerSize(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10
}

/**
 * One masked client frame (FIN set) whose payload is `prefix` (a channel byte, or nothing) and then `parts`: the
 * header, a fresh masking key (§5.3: each frame's key must be unpredictable) and the masked payload, written in one
 * pass into one buffer. Masking must touch every byte anyway, so this is the only copy of the payload.
 */
export function encodeClientFrame(opcode: number, parts: readonly Uint8Array[], prefix?: number): Buffer {
  let length = prefix === undefined ? 0 : 1
  for (const p of parts) length += p.length
  const start = headerSize(length)
  const frame = Buffer.allocUnsafe(start + 4 + length)
  frame[0] = 0x80 | opcode
  if (length < 126) frame[1] = 0x80 | length
  else if (length < 0x10000) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  const key = frame.subarray(start, start + 4)
  takeRandom(key)
  const k0 = key[0]!
  const k1 = key[1]!
  const k2 = key[2]!
  const k3 = key[3]!
  const mask = [k0, k1, k2, k3]
  let out = start + 4
  let i = 0 // position in the payload, which picks the key byte
  if (prefix !== undefined) frame[out++] = prefix ^ mask[i++ & 3]!
  for (const p of parts) {
    let j = 0
    // Byte by byte until the key lines up, then four at a time (which leaves the key's phase as it was).
    while (j < p.length && (i & 3) !== 0) frame[out++] = p[j++]! ^ mask[i++ & 3]!
    const whole = j + ((p.length - j) & ~3)
    for (; j < whole; j += 4, out += 4) {
      frame[out] = p[j]! ^ k0
      frame[out + 1] = p[j + 1]! ^ k1
      frame[out + 2] = p[j + 2]! ^ k2
      frame[out + 3] = p[j + 3]! ^ k3
    }
    while (j < p.length) frame[out++] = p[j++]! ^ mask[i++ & 3]!
  }
  return frame
}

/** The value of Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2, step 5.4). */
export function acceptValue(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
}

// The port-forward client's WebSocket framing against the `ws` package as the reference: frames ws's Sender writes
// are read back whatever way they are cut into reads, and the frames written here are what ws's Receiver (as a
// server) accepts and unmasks to the same bytes.
import {randomBytes} from 'node:crypto'
import * as ws from 'ws'
import {describe, expect, it} from 'vitest'
import {
  acceptValue,
  encodeClientFrame,
  FrameReader,
  OPCODE,
  takeRandom,
  type FrameHandler,
} from '../../src/kube/websocket-frames.js'

// ws exports its framing classes (node_modules/ws/wrapper.mjs), but @types/ws does not declare them.
const {Receiver, Sender} = ws as unknown as {
  Receiver: new (options: {isServer: boolean; binaryType: string}) => NodeJS.WritableStream & NodeJS.EventEmitter
  Sender: {frame: (data: Buffer, options: Record<string, unknown>) => Buffer[]}
}

/** A server frame as ws writes it (unmasked), header and payload in one buffer. */
function serverFrame(data: Buffer, opcode: number, fin = true): Buffer {
  return Buffer.concat(Sender.frame(data, {fin, opcode, mask: false, readOnly: true, rsv1: false}))
}

/** What a reader reported, as text: messages with their payload in hex, control frames, failures. */
function record(): {handler: FrameHandler; events: string[]} {
  const events: string[] = []
  let message: Buffer[] | undefined
  let slices = 0
  const handler: FrameHandler = {
    messageStart: (binary) => {
      message = []
      slices = 0
      events.push(binary ? 'start binary' : 'start text')
    },
    payload: (data) => {
      message!.push(Buffer.from(data))
      slices++
    },
    messageEnd: () => {
      events.push(`end ${Buffer.concat(message!).toString('hex')}`)
      events.push(`slices ${slices}`)
    },
    control: (opcode, data) => events.push(`control ${opcode} ${data.toString('hex')}`),
    invalid: (reason) => events.push(`invalid ${reason}`),
  }
  return {handler, events}
}

/** Feeds `bytes` to a fresh reader in chunks of `size`; returns the events without slice counts. */
function readInChunks(bytes: Buffer, size: number): string[] {
  const {handler, events} = record()
  const reader = new FrameReader(handler)
  for (let at = 0; at < bytes.length; at += size) reader.read(bytes.subarray(at, at + size))
  return events.filter((e) => !e.startsWith('slices'))
}

describe('FrameReader', () => {
  const small = Buffer.from('00' + 'ab'.repeat(10), 'hex')
  const medium = randomBytes(300) // a 16-bit length
  const large = randomBytes(70_000) // a 64-bit length
  const stream = Buffer.concat([
    serverFrame(small, OPCODE.BINARY),
    serverFrame(Buffer.from('hi'), OPCODE.PING),
    serverFrame(medium, OPCODE.BINARY),
    // One message in three fragments, with a ping between them (RFC 6455 §5.4 allows control frames there).
    serverFrame(large.subarray(0, 1000), OPCODE.BINARY, false),
    serverFrame(Buffer.alloc(0), OPCODE.PONG),
    serverFrame(large.subarray(1000, 50_000), OPCODE.CONTINUATION, false),
    serverFrame(large.subarray(50_000), OPCODE.CONTINUATION, true),
    serverFrame(Buffer.from('text'), OPCODE.TEXT),
    serverFrame(Buffer.from([0x03, 0xe8]), OPCODE.CLOSE),
  ])
  const expected = [
    'start binary',
    `end ${small.toString('hex')}`,
    `control ${OPCODE.PING} ${Buffer.from('hi').toString('hex')}`,
    'start binary',
    `end ${medium.toString('hex')}`,
    'start binary',
    `control ${OPCODE.PONG} `,
    `end ${large.toString('hex')}`,
    'start text',
    `end ${Buffer.from('text').toString('hex')}`,
    `control ${OPCODE.CLOSE} 03e8`,
  ]

  it.each([1, 2, 3, 7, 13, 1000, 65_536, stream.length])('reads ws frames cut into reads of %i bytes', (size) => {
    expect(readInChunks(stream, size)).toEqual(expected)
  })

  it('hands on the payload in the slices the reads made, without gathering a message', () => {
    const {handler, events} = record()
    const reader = new FrameReader(handler)
    const frame = serverFrame(large, OPCODE.BINARY)
    for (let at = 0; at < frame.length; at += 16_384) reader.read(frame.subarray(at, at + 16_384))
    expect(events).toContain(`slices ${Math.ceil(frame.length / 16_384)}`)
  })

  it.each([
    ['a masked frame', Buffer.from([0x82, 0x81, 1, 2, 3, 4, 5]), 'a masked frame'],
    ['reserved bits', Buffer.from([0xc2, 0x00]), 'reserved bits'],
    ['a continuation outside a message', Buffer.from([0x80, 0x00]), 'continuation frame outside'],
    ['a long ping', Buffer.concat([Buffer.from([0x89, 126, 0, 200]), Buffer.alloc(200)]), 'long control frame'],
    ['a reserved opcode', Buffer.from([0x83, 0x00]), 'reserved opcode 3'],
  ])('refuses %s and reads no further', (_name, bytes, reason) => {
    const {handler, events} = record()
    const reader = new FrameReader(handler)
    reader.read(Buffer.concat([bytes, serverFrame(small, OPCODE.BINARY)]))
    expect(events).toHaveLength(1)
    expect(events[0]).toContain(reason)
  })
})

describe('encodeClientFrame', () => {
  /** What ws's Receiver, as a server, makes of `frames`: each message's bytes, or its error. */
  function receive(frames: Buffer[]): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const receiver = new Receiver({isServer: true, binaryType: 'nodebuffer'})
      const got: Buffer[] = []
      receiver.on('message', (data: Buffer) => {
        got.push(Buffer.from(data))
        if (got.length === frames.length) resolve(got)
      })
      receiver.on('error', reject)
      receiver.write(Buffer.concat(frames))
    })
  }

  it.each([0, 1, 3, 125, 126, 127, 65_535, 65_536, 200_003])('masks a %i-byte payload as ws unmasks it', async (n) => {
    const parts = [randomBytes(n), randomBytes(n % 7), randomBytes(1)]
    const frame = encodeClientFrame(OPCODE.BINARY, parts, 0)
    const [got] = await receive([frame])
    expect(got!.equals(Buffer.concat([Buffer.from([0]), ...parts]))).toBe(true)
  })

  it('uses a fresh masking key for each frame (RFC 6455 §5.3)', () => {
    const payload = Buffer.alloc(16)
    const a = encodeClientFrame(OPCODE.BINARY, [payload])
    const b = encodeClientFrame(OPCODE.BINARY, [payload])
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false)
    // Zeros masked are the key, repeated.
    expect(a.subarray(6).toString('hex')).toBe(a.subarray(2, 6).toString('hex').repeat(4))
  })

  it('draws random bytes from its pool without handing out the same ones twice, across refills', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 1500; i++) {
      const b = Buffer.alloc(16)
      takeRandom(b)
      seen.add(b.toString('hex'))
    }
    expect(seen.size).toBe(1500)
  })

  it('answers a key with the accept value of RFC 6455 §1.3', () => {
    expect(acceptValue('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  })
})

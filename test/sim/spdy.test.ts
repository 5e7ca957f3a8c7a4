import {describe, expect, it} from 'vitest'
import {
  controlFrame,
  dataFrame,
  decodeHeaders,
  encodeHeaders,
  FLAG_FIN,
  FRAME,
  FrameReader,
} from '../../src/sim/spdy.js'

describe('SPDY/3.1 framing', () => {
  it('writes a control frame: C bit, version 3, type, flags, 24-bit length', () => {
    expect(controlFrame(FRAME.PING, 0, Buffer.from([0, 0, 0, 1])).toString('hex')).toBe('800300060000000400000001')
  })

  it('writes a data frame: stream id, FIN, length', () => {
    expect(dataFrame(3, FLAG_FIN, Buffer.from('hi')).toString('hex')).toBe('00000003010000026869')
  })

  it('reads frames split anywhere across chunks', () => {
    const bytes = Buffer.concat([dataFrame(1, 0, Buffer.from('abc')), controlFrame(FRAME.GOAWAY, 0, Buffer.alloc(8))])
    const reader = new FrameReader()
    const frames = [...bytes].flatMap((b) => reader.read(Buffer.from([b])))
    expect(frames).toEqual([
      {control: false, streamId: 1, flags: 0, data: Buffer.from('abc')},
      {control: true, type: FRAME.GOAWAY, flags: 0, data: Buffer.alloc(8)},
    ])
  })

  it('round-trips a header block as kubectl sends one (streamtype, port, requestid)', () => {
    const headers = {streamtype: 'data', port: '3000', requestid: '0'}
    const block = encodeHeaders(headers)
    expect(block.readUInt32BE(0)).toBe(3)
    expect(decodeHeaders(block)).toEqual(headers)
  })
})

import {describe, expect, it} from 'vitest'
import {encodeFrame, encodePortHeader, parsePortsQuery} from '../../src/kube/portforward-channel.js'

const hex = (b: Buffer) => b.toString('hex')

describe('encodeFrame and encodePortHeader', () => {
  it.each([
    ['data on channel 0', encodeFrame(0, Buffer.from('hi')), '006869'],
    ['an empty frame is the channel byte alone', encodeFrame(3), '03'],
    ['port 8080 on the data channel is little endian', encodePortHeader(0, 8080), '00901f'],
    ['port 3000 on the error channel', encodePortHeader(1, 3000), '01b80b'],
  ])('%s', (_name, frame, expected) => expect(hex(frame)).toBe(expected))

  it('refuses a channel or port out of range', () => {
    expect(() => encodeFrame(256)).toThrow(RangeError)
    expect(() => encodePortHeader(0, 0)).toThrow(RangeError)
    expect(() => encodePortHeader(0, 65536)).toThrow(RangeError)
  })
})

describe('parsePortsQuery', () => {
  it.each([
    [['80'], [80]],
    [['80,443'], [80, 443]],
    [
      ['80', '443'],
      [80, 443],
    ],
    [[], {error: 'query parameter "ports" is required'}],
    [['0'], {error: 'invalid port "0"'}],
    [['http'], {error: 'invalid port "http"'}],
    [['70000'], {error: 'invalid port "70000"'}],
  ])('%j → %j', (values, expected) => expect(parsePortsQuery(values)).toEqual(expected))
})

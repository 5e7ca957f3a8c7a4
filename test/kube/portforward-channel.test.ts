import {describe, expect, it} from 'vitest'
import {
  encodeFrame,
  encodePortHeader,
  parsePortsQuery,
  PortForwardReader,
  type ChannelEvent,
} from '../../src/kube/portforward-channel.js'

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

describe('PortForwardReader', () => {
  const rows: Array<{case: string; port: number; messages: string[]; events: ChannelEvent[]; opened: boolean}> = [
    {
      case: 'headers alone then data, as kubelet sends them',
      port: 8080,
      messages: ['00901f', '01901f', '00' + hex(Buffer.from('hello'))],
      events: [
        {kind: 'port', channel: 'data', port: 8080},
        {kind: 'port', channel: 'error', port: 8080},
        {kind: 'data', data: Buffer.from('hello')},
      ],
      opened: true,
    },
    {
      case: 'a header with data behind it in one message',
      port: 80,
      messages: ['005000' + hex(Buffer.from('x'))],
      events: [
        {kind: 'port', channel: 'data', port: 80},
        {kind: 'data', data: Buffer.from('x')},
      ],
      opened: true,
    },
    {
      case: 'a header split over two messages',
      port: 80,
      messages: ['0050', '0000'],
      events: [{kind: 'port', channel: 'data', port: 80}],
      opened: true,
    },
    {
      case: 'error text after the error header',
      port: 80,
      messages: ['015000', '01' + hex(Buffer.from('error forwarding port 80'))],
      events: [
        {kind: 'port', channel: 'error', port: 80},
        {kind: 'error', message: 'error forwarding port 80'},
      ],
      opened: false,
    },
    {
      case: 'a header naming another port',
      port: 80,
      messages: ['005100'],
      events: [{kind: 'invalid', reason: 'port header 81, but 80 was asked'}],
      opened: true,
    },
    {
      case: 'a channel a one-port stream does not have',
      port: 80,
      messages: ['02aa'],
      events: [{kind: 'invalid', reason: 'a message on channel 2; one port uses 0 and 1'}],
      opened: false,
    },
    {
      case: 'an empty message',
      port: 80,
      messages: [''],
      events: [{kind: 'invalid', reason: 'an empty message (no channel byte)'}],
      opened: false,
    },
  ]
  it.each(rows)('$case', ({port, messages, events, opened}) => {
    const reader = new PortForwardReader(port)
    expect(messages.flatMap((m) => reader.read(Buffer.from(m, 'hex')))).toEqual(events)
    expect(reader.opened).toBe(opened)
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

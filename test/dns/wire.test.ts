// The client side of src/dns/wire.ts (doctor's SOA check): the query it sends, and the reading of real replies
// from the pure answerer.
import {describe, expect, it} from 'vitest'

import {answerQuery, compileZone} from '../../src/dns/answer.js'
import {
  encodeQuery,
  encodeRecordData,
  encodeRecordDataWithDns2,
  messageId,
  parseResponse,
  type ParsedResponse,
  type RecordData,
} from '../../src/dns/wire.js'
import {seededRandom} from '../seeded-random.js'
import {T, buildQuery, decode, formatRecord, sampleRecords} from './helpers.js'

const zone = compileZone(sampleRecords(), {serial: 7, nsAddress: '127.0.0.1'})

/** The answerer's reply to a plain query (RD clear, as doctor sends). */
function replyTo(qname: string, qtype: number): Uint8Array {
  const reply = answerQuery(zone, buildQuery(qname, qtype, {id: 0x4242, flags: 0}), 'udp')
  if (!reply) throw new Error('no reply')
  return reply
}

describe('encodeQuery', () => {
  it('is the same query a test builds by hand: header, name, type, class IN, no flags', () => {
    expect(Buffer.from(encodeQuery(0x1234, 'kube.internal', T.SOA))).toEqual(
      buildQuery('kube.internal', T.SOA, {flags: 0}),
    )
  })

  it('decodes as one question, with or without a trailing dot', () => {
    for (const name of ['radarr.kube.internal', 'radarr.kube.internal.']) {
      expect(decode(encodeQuery(7, name, T.AAAA))).toMatchObject({
        id: 7,
        type: 'query',
        flags: 0,
        questions: [{name: 'radarr.kube.internal', type: 'AAAA', class: 'IN'}],
        answers: [],
      })
    }
  })
})

describe('parseResponse', () => {
  const rows: Array<{case: string; msg: () => Uint8Array; parsed: ParsedResponse | undefined}> = [
    {
      case: 'the SOA of the zone apex: authoritative, NOERROR, the SOA first',
      msg: () => replyTo('kube.internal', T.SOA),
      parsed: {id: 0x4242, aa: true, rcode: 0, answerTypes: [T.SOA]},
    },
    {
      case: 'a host with two addresses: both answers, owner names compressed',
      msg: () => replyTo('radarr.media.kube.internal', T.A),
      parsed: {id: 0x4242, aa: true, rcode: 0, answerTypes: [T.A, T.A]},
    },
    {
      case: 'an unknown name: NXDOMAIN, no answers',
      msg: () => replyTo('nothing.kube.internal', T.A),
      parsed: {id: 0x4242, aa: true, rcode: 3, answerTypes: []},
    },
    {
      case: 'another zone: REFUSED, not authoritative',
      msg: () => replyTo('other.zone', T.SOA),
      parsed: {id: 0x4242, aa: false, rcode: 5, answerTypes: []},
    },
    {case: 'a query is not a response', msg: () => encodeQuery(0x4242, 'kube.internal', T.SOA), parsed: undefined},
    {
      case: 'an answer section cut short',
      msg: () => replyTo('kube.internal', T.SOA).subarray(0, -1),
      parsed: undefined,
    },
    {case: 'less than a header', msg: () => replyTo('kube.internal', T.SOA).subarray(0, 11), parsed: undefined},
  ]
  it.each(rows)('$case', ({msg, parsed}) => {
    expect(parseResponse(msg())).toEqual(parsed)
  })
})

describe('messageId', () => {
  it('reads the ID of anything with room for one', () => {
    expect(messageId(Uint8Array.of(0x12, 0x34))).toBe(0x1234)
    expect(messageId(Uint8Array.of(0x12))).toBeUndefined()
  })
})

describe('encodeRecordData', () => {
  // The direct encoding of A, AAAA and SRV (the zone's bulk) must give dns2's octets for every input, in the plain
  // form and not: the oracle is the encoding through dns2's Packet.
  const rand = seededRandom(20)
  const int = (n: number) => Math.floor(rand() * n)
  const label = (length: number) =>
    Array.from({length}, () => 'abcdefghijklmnopqrstuvwxyzABC0123456789-_'[int(41)]).join('')
  const records: RecordData[] = [
    {type: T.A, address: '0.0.0.0'},
    {type: T.A, address: '255.255.255.255'},
    {type: T.A, address: '127.87.0.1'},
    {type: T.AAAA, address: '0:0:0:0:0:0:0:1'},
    {type: T.AAAA, address: 'fd00:0:0:0:0:0:0:ffff'},
    {type: T.AAAA, address: 'FD00:ABCD:1:2:3:4:5:6'},
    {type: T.SRV, priority: 0, weight: 0, port: 80, target: 'web.default.lb.internal'},
    {type: T.SRV, priority: 65535, weight: 65535, port: 65535, target: 'Mixed-Case.Lb.Internal'},
    {type: T.SRV, priority: 1, weight: 2, port: 3, target: `${label(63)}.${label(63)}.${label(63)}.${label(61)}`},
    // Not in the plain form: these take dns2's path, which must still be what comes out.
    {type: T.SRV, priority: 0, weight: 0, port: 80, target: 'trailing.dot.'},
    {type: T.SRV, priority: 0, weight: 0, port: 80, target: ''},
    {type: T.NS, host: 'ns.lb.internal'},
  ]
  for (let i = 0; i < 300; i++) {
    records.push({type: T.A, address: Array.from({length: 4}, () => int(256)).join('.')})
    records.push({type: T.AAAA, address: Array.from({length: 8}, () => int(0x10000).toString(16)).join(':')})
    const labels = Array.from({length: 1 + int(5)}, () => label(1 + int(20)))
    records.push({
      type: T.SRV,
      priority: int(0x10000),
      weight: int(0x10000),
      port: int(0x10000),
      target: labels.join('.'),
    })
  }

  it("gives dns2's octets for A, AAAA and SRV records, at every TTL", () => {
    for (const ttl of [0, 5, 86400, 0x7fffffff, 0xffffffff]) {
      for (const record of records) {
        const direct = Buffer.from(encodeRecordData(record, ttl))
        expect(direct.toString('hex'), JSON.stringify(record)).toBe(
          Buffer.from(encodeRecordDataWithDns2(record, ttl)).toString('hex'),
        )
      }
    }
  })

  it('decodes as the record it was made from', () => {
    const record = {type: T.SRV, priority: 1, weight: 2, port: 8080, target: 'web.default.lb.internal'} as const
    const bytes = Buffer.from(encodeRecordData(record, 5))
    // The record after an owner of the root label, in an answer section a message header of one answer leads.
    const header = Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0])
    const message = decode(Buffer.concat([header, Buffer.from([0]), bytes]))
    expect(message.answers?.map(formatRecord)).toEqual(['. 5 SRV 1 2 8080 web.default.lb.internal'])
  })
})

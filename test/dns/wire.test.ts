// The client side of src/dns/wire.ts (doctor's SOA check): the query it sends, and the reading of real replies
// from the pure answerer.
import {describe, expect, it} from 'vitest'

import {answerQuery, compileZone} from '../../src/dns/answer.js'
import {encodeQuery, messageId, parseResponse, type ParsedResponse} from '../../src/dns/wire.js'
import {T, buildQuery, decode, sampleRecords} from './helpers.js'

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

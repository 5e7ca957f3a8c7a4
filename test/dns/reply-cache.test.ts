import {describe, expect, it} from 'vitest'

import {answerQuery, compileZone} from '../../src/dns/answer.js'
import {ReplyCache} from '../../src/dns/reply-cache.js'
import {FLAG, T, buildQuery, sampleRecords, summarize} from './helpers.js'

const zone = compileZone(sampleRecords(), {serial: 3, nsAddress: '127.0.0.1'})

function answered(cache: ReplyCache, query: Uint8Array): Uint8Array {
  const reply = answerQuery(zone, query, 'udp')
  if (!reply) throw new Error('no reply')
  cache.remember(query, reply)
  return reply
}

describe('ReplyCache', () => {
  it('gives a question asked again the reply it got, with the new ID: the same octets as answering it anew', () => {
    const cache = new ReplyCache()
    const first = buildQuery('sonarr.kube.internal', T.A, {id: 0x1111})
    expect(cache.replay(first)).toBeUndefined()
    answered(cache, first)
    const again = buildQuery('sonarr.kube.internal', T.A, {id: 0xbeef})
    const replayed = cache.replay(again)
    expect(replayed && [...replayed]).toEqual([...answerQuery(zone, again, 'udp')!])
    expect((replayed![0]! << 8) | replayed![1]!).toBe(0xbeef)
    expect(summarize(replayed!).answers).toEqual(['sonarr.kube.internal 5 A 192.168.1.20'])
  })

  it('does not answer a question that differs anywhere after the ID: name, case, type, flags or EDNS', () => {
    const cache = new ReplyCache()
    answered(cache, buildQuery('sonarr.kube.internal', T.A, {id: 1}))
    for (const other of [
      buildQuery('radarr.media.kube.internal', T.A, {id: 1}),
      buildQuery('Sonarr.kube.internal', T.A, {id: 1}),
      buildQuery('sonarr.kube.internal', T.AAAA, {id: 1}),
      buildQuery('sonarr.kube.internal', T.A, {id: 1, flags: FLAG.RD | FLAG.CD}),
      buildQuery('sonarr.kube.internal', T.A, {id: 1, edns: [{udpPayloadSize: 1232}]}),
    ]) {
      expect(cache.replay(other)).toBeUndefined()
    }
  })

  it('keeps copies: the socket buffers it was given may be reused or changed', () => {
    const cache = new ReplyCache()
    const query = buildQuery('sonarr.kube.internal', T.A, {id: 7})
    const reply = answered(cache, query)
    const expected = [...reply.subarray(2)]
    reply.fill(0)
    query[query.length - 1] = 0x63 // class IN → something else, in the buffer handed to remember
    const replayed = cache.replay(buildQuery('sonarr.kube.internal', T.A, {id: 8}))
    expect(replayed && [...replayed.subarray(2)]).toEqual(expected)
  })

  it('starts over when it is full, and leaves headerless and very long queries alone', () => {
    const cache = new ReplyCache(3)
    for (const name of ['sonarr', 'a', 'b']) answered(cache, buildQuery(`${name}.kube.internal`, T.A, {id: 1}))
    expect(cache.size).toBe(3)
    answered(cache, buildQuery('c.kube.internal', T.A, {id: 1}))
    expect(cache.size).toBe(1)
    expect(cache.replay(buildQuery('sonarr.kube.internal', T.A, {id: 2}))).toBeUndefined()
    expect(cache.replay(buildQuery('c.kube.internal', T.A, {id: 2}))).toBeDefined()
    cache.remember(new Uint8Array(5), new Uint8Array(12))
    const padded = buildQuery('sonarr.kube.internal', T.A, {edns: [{options: [{code: 12, data: new Uint8Array(600)}]}]})
    answered(cache, padded)
    expect(cache.size).toBe(1)
    expect(cache.replay(padded)).toBeUndefined()
    cache.clear()
    expect(cache.replay(buildQuery('c.kube.internal', T.A, {id: 2}))).toBeUndefined()
  })
})

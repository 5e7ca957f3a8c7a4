import {describe, expect, it} from 'vitest'

import {answerQuery, compileZone} from '../../src/dns/answer.js'
import type {SrvRecord} from '../../src/servemap/types.js'
import {T, buildQuery, summarize} from './helpers.js'

/** A zone shaped like serve's at scale: per Service an A name and an SRV owner (with its empty parent `_tcp`). */
function bigZone(services: number) {
  const hosts = new Map<string, string[]>()
  const srv = new Map<string, SrvRecord[]>()
  for (let s = 0; s < services; s++) {
    const name = `svc-${s}.ns-${s % 7}.kube.internal`
    hosts.set(name, [`127.87.${Math.floor(s / 250)}.${(s % 250) + 1}`])
    srv.set(`_http._tcp.${name}`, [{priority: 0, weight: 0, port: 8080, target: name}])
  }
  return compileZone({domain: 'kube.internal', hosts, srv}, {serial: 1, nsAddress: '127.0.0.1'})
}

describe('compiled zone memory (10,000 Services: test/bench/scale-bench.ts)', () => {
  const services = 2000
  const zone = bigZone(services)

  it('keeps its encoded records in shared memory rather than one ArrayBuffer per record', () => {
    const buffers = new Set<ArrayBufferLike>()
    let views = 0
    for (const entry of zone.names.values()) {
      for (const set of entry.sets?.values() ?? [entry.all]) {
        buffers.add(set.bytes.buffer)
        views++
      }
      buffers.add(entry.all.bytes.buffer)
      views++
    }
    expect(views).toBeGreaterThan(2 * services)
    expect(buffers.size).toBeLessThan(views / 10)
  })

  it('keeps no Map of record sets for a name with one set, and one for a name with several', () => {
    expect(zone.names.get('svc-1234.ns-2.kube.internal')!.sets).toBeUndefined()
    const both = compileZone(
      {domain: 'kube.internal', hosts: new Map([['web.kube.internal', ['127.0.0.5', '::5']]]), srv: new Map()},
      {serial: 1},
    )
    const entry = both.names.get('web.kube.internal')!
    expect([...entry.sets!.keys()].sort()).toEqual([T.A, T.AAAA].sort())
    const aaaa = summarize(answerQuery(both, buildQuery('web.kube.internal', T.AAAA), 'udp')!)
    expect(aaaa.answers).toEqual(['web.kube.internal 5 AAAA ::5'])
    const srv = summarize(answerQuery(zone, buildQuery('svc-1234.ns-2.kube.internal', T.SRV), 'udp')!)
    expect([srv.rcode, srv.answers]).toEqual(['NOERROR', []])
  })

  it('answers from shared entries as from entries of their own', () => {
    const a = summarize(answerQuery(zone, buildQuery('svc-1234.ns-2.kube.internal', T.A), 'udp')!)
    expect(a.rcode).toBe('NOERROR')
    expect(a.answers).toEqual(['svc-1234.ns-2.kube.internal 5 A 127.87.4.235'])
    const any = summarize(answerQuery(zone, buildQuery('svc-1234.ns-2.kube.internal', T.ANY), 'udp')!)
    expect(any.answers).toEqual(a.answers)
    // Empty non-terminals (RFC 8020) answer NOERROR with no records, each on its own question name.
    for (const name of ['_tcp.svc-1.ns-1.kube.internal', '_tcp.svc-2.ns-2.kube.internal']) {
      const empty = summarize(answerQuery(zone, buildQuery(name, T.A), 'udp')!)
      expect(empty.rcode).toBe('NOERROR')
      expect(empty.answers).toEqual([])
    }
    const srv = summarize(answerQuery(zone, buildQuery('_http._tcp.svc-7.ns-0.kube.internal', T.ANY), 'udp')!)
    expect(srv.answers).toEqual(['_http._tcp.svc-7.ns-0.kube.internal 5 SRV 0 0 8080 svc-7.ns-0.kube.internal'])
  })
})

describe('names that answer one address array', () => {
  /** A Service's long and short name answer the array its part made once (src/servemap/map.ts mapService). */
  function namesSharingAnswers(services: number): Map<string, string[]> {
    const hosts = new Map<string, string[]>()
    for (let s = 0; s < services; s++) {
      const answer = [`127.87.0.${s + 1}`]
      hosts.set(`svc-${s}.ns.kube.internal`, answer)
      hosts.set(`svc-${s}.kube.internal`, answer)
    }
    return hosts
  }

  it('share one compiled entry, whether compiled whole or patched', () => {
    const hosts = namesSharingAnswers(3)
    const zone = compileZone({domain: 'kube.internal', hosts, srv: new Map()}, {serial: 1})
    expect(zone.names.get('svc-1.ns.kube.internal')).toBe(zone.names.get('svc-1.kube.internal'))
    expect(zone.names.get('svc-1.kube.internal')).not.toBe(zone.names.get('svc-2.kube.internal'))
    const moved = new Map(hosts)
    const answer = ['127.87.0.9']
    moved.set('svc-1.ns.kube.internal', answer)
    moved.set('svc-1.kube.internal', answer)
    const patched = compileZone({domain: 'kube.internal', hosts: moved, srv: new Map()}, {serial: 2, previous: zone})
    expect(patched.names.get('svc-1.ns.kube.internal')).toBe(patched.names.get('svc-1.kube.internal'))
    expect(summarize(answerQuery(patched, buildQuery('svc-1.kube.internal', T.A), 'udp')!).answers).toEqual([
      'svc-1.kube.internal 5 A 127.87.0.9',
    ])
    expect(summarize(answerQuery(zone, buildQuery('svc-1.ns.kube.internal', T.A), 'udp')!).answers).toEqual([
      'svc-1.ns.kube.internal 5 A 127.87.0.2',
    ])
  })

  it('keep their own problems: a bad name beside a good one sharing its addresses', () => {
    const answer = ['127.87.0.1', 'not-an-address']
    const hosts = new Map([
      ['a.kube.internal', answer],
      ['b.kube.internal', answer],
    ])
    const zone = compileZone({domain: 'kube.internal', hosts, srv: new Map()}, {serial: 1})
    expect(zone.problems).toEqual([
      'skipped address "not-an-address" of a.kube.internal: not an IPv4 address',
      'skipped address "not-an-address" of b.kube.internal: not an IPv4 address',
    ])
    expect(summarize(answerQuery(zone, buildQuery('b.kube.internal', T.A), 'udp')!).answers).toEqual([
      'b.kube.internal 5 A 127.87.0.1',
    ])
  })
})

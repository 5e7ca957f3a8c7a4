// The DNS maps of a serve map patched in place (src/servemap/assemble.ts): what it declines, where the whole
// assembly's answer would differ. test/serve/incremental.test.ts holds the patched maps to full rebuilds.
import {describe, expect, it} from 'vitest'
import {assembleDns, partChanges, patchAssembled} from '../../src/servemap/assemble.js'
import type {AssembledDns, ServicePart} from '../../src/servemap/memo.js'

function part(names: string[], address: string): ServicePart {
  const answer = [address]
  return {
    names,
    answer,
    srv: names.map((n) => [`_http._tcp.${n}`, [{priority: 0, weight: 0, port: 80, target: n}]]),
    http: [],
    tls: [],
    listeners: [],
    rows: [],
    warnings: [],
  }
}

function assembled(parts: ServicePart[]): AssembledDns {
  const reserved = ['127.0.0.1']
  const {hosts, srv, exact} = assembleDns(parts, ['expose-lb.lb.internal'], reserved)
  expect(exact).toBe(true)
  return {parts, reserved, hosts, srv}
}

const entries = (a: AssembledDns) => ({hosts: [...a.hosts].sort(), srv: [...a.srv].sort()})

describe('assembleDns', () => {
  it('lets the later part win a name two parts share, and says the maps are not exact', () => {
    const first = part(['web.lb.internal'], '127.90.0.1')
    const second = part(['web.lb.internal'], '127.90.0.2')
    const {hosts, exact} = assembleDns([first, second], [], [])
    expect(hosts.get('web.lb.internal')).toEqual(['127.90.0.2'])
    expect(exact).toBe(false)
  })
})

describe('partChanges', () => {
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => part([`${n}.lb.internal`], '127.90.0.1')) as ServicePart[]
  it('finds the parts that went and the ones built in this call', () => {
    const e = part(['e.lb.internal'], '127.90.0.5')
    expect(partChanges([a!, b!, c!, d!], [a!, e, c!], new Set([e]))).toEqual({went: [b, d], came: [e]})
  })

  it('gives up on a kept part out of order or one the last list did not have', () => {
    expect(partChanges([a!, b!, c!], [b!, a!, c!], new Set())).toBeUndefined()
    expect(partChanges([a!, b!], [a!, b!, c!], new Set())).toBeUndefined()
  })
})

describe('patchAssembled', () => {
  it('swaps the names of the parts that went for those of the parts that came', () => {
    const web = part(['web.lb.internal', 'web.default.lb.internal'], '127.90.0.1')
    const api = part(['api.lb.internal'], '127.90.0.2')
    const moved = part(['web.lb.internal', 'web.default.lb.internal'], '127.90.0.3')
    const last = assembled([web, api])
    expect(patchAssembled(last, [web], [moved])).toBe(true)
    expect(entries(last)).toEqual(entries(assembled([moved, api])))
  })

  it('declines, and leaves the maps as they were, when a name that comes is held by a part that stays', () => {
    const web = part(['web.lb.internal'], '127.90.0.1')
    const api = part(['api.lb.internal'], '127.90.0.2')
    const last = assembled([web, api])
    const before = entries(last)
    expect(patchAssembled(last, [], [part(['web.lb.internal'], '127.90.0.9')])).toBe(false)
    expect(patchAssembled(last, [api], [part(['x.lb.internal', 'x.lb.internal'], '127.90.0.9')])).toBe(false)
    expect(entries(last)).toEqual(before)
  })

  it("declines when a part that went does not hold its names' entries", () => {
    const web = part(['web.lb.internal'], '127.90.0.1')
    const last = assembled([web])
    expect(patchAssembled(last, [part(['web.lb.internal'], '127.90.0.1')], [])).toBe(false)
    expect(last.hosts.get('web.lb.internal')).toBe(web.answer)
  })
})

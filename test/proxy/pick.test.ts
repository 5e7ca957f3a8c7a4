import {describe, expect, it} from 'vitest'

import {formatTargets, hasHealthyTarget, orderHealthy, orderTargets} from '../../src/proxy/pick.js'
import type {ProbedTarget} from '../../src/servemap/types.js'

function target(node: string, host: number): ProbedTarget {
  const address = `10.0.0.${host}`
  return {node, address, port: 30080, probe: {kind: 'tcp', address, port: 30080}}
}

const a = target('a', 1)
const b = target('b', 2)
const c = target('c', 3)
const d = target('d', 4)

function healthUnless(...down: ProbedTarget[]): (target: ProbedTarget) => boolean {
  const addresses = new Set(down.map((t) => t.address))
  return (target) => !addresses.has(target.address)
}

describe('orderTargets', () => {
  const cases: Array<{name: string; targets: ProbedTarget[]; down: ProbedTarget[]; start: number; want: string}> = [
    {name: 'all healthy, start 0 keeps the given order', targets: [a, b, c], down: [], start: 0, want: 'abc'},
    {name: 'all healthy, start 1 rotates by one', targets: [a, b, c], down: [], start: 1, want: 'bca'},
    {name: 'the rotation wraps around the healthy count', targets: [a, b, c], down: [], start: 5, want: 'cab'},
    {name: 'a negative start still rotates', targets: [a, b, c], down: [], start: -1, want: 'cab'},
    {name: 'a non-integer start is truncated', targets: [a, b, c], down: [], start: 1.9, want: 'bca'},
    {name: 'unhealthy targets go last', targets: [a, b, c], down: [a], start: 0, want: 'bca'},
    {name: 'only healthy ones rotate', targets: [a, b, c, d], down: [b], start: 1, want: 'cdab'},
    {name: 'unhealthy ones keep their order', targets: [a, b, c, d], down: [a, c], start: 1, want: 'dbac'},
    {name: 'all unhealthy: the given order, unrotated', targets: [a, b, c], down: [a, b, c], start: 2, want: 'abc'},
    {name: 'no targets', targets: [], down: [], start: 3, want: ''},
  ]
  for (const {name, targets, down, start, want} of cases) {
    it(name, () => {
      const order = orderTargets(targets, healthUnless(...down), start)
      expect(order.map((t) => t.node).join('')).toEqual(want)
    })
  }

  it('spreads successive starts over every healthy target', () => {
    const firsts = [0, 1, 2, 3].map((start) => orderTargets([a, b, c], healthUnless(b), start)[0]?.node)
    expect(firsts).toEqual(['a', 'c', 'a', 'c'])
  })

  it('does not modify its input', () => {
    const targets = [a, b, c]
    orderTargets(targets, healthUnless(a), 1)
    expect(targets).toEqual([a, b, c])
  })
})

describe('orderHealthy', () => {
  it('is the order to try when a target is healthy, and undefined when none is', () => {
    expect(orderHealthy([a, b, c], healthUnless(b), 1)).toEqual(orderTargets([a, b, c], healthUnless(b), 1))
    expect(orderHealthy([a, b], healthUnless(a, b), 0)).toBeUndefined()
    expect(orderHealthy([], () => true, 0)).toBeUndefined()
  })
})

describe('hasHealthyTarget', () => {
  it('is true when the first ordered target is healthy', () => {
    expect(hasHealthyTarget(orderTargets([a, b], healthUnless(a), 0), healthUnless(a))).toBe(true)
  })
  it('is false when every target is down', () => {
    expect(hasHealthyTarget(orderTargets([a, b], healthUnless(a, b), 0), healthUnless(a, b))).toBe(false)
  })
  it('is false with no targets', () => {
    expect(hasHealthyTarget([], () => true)).toBe(false)
  })
})

describe('formatTargets', () => {
  it('names each node with its address and port', () => {
    expect(formatTargets([a, b])).toEqual('a (10.0.0.1:30080), b (10.0.0.2:30080)')
  })
  it('brackets IPv6 addresses', () => {
    expect(formatTargets([{node: 'v6', address: 'fd00::1', port: 30080}])).toEqual('v6 ([fd00::1]:30080)')
  })
  it('says so when there are none', () => {
    expect(formatTargets([])).toEqual('no nodes')
  })
})
